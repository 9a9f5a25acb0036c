package backendtest

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"pixelcnn/nn"
)

// RefGate is the float64 gate over rows of 2F features in colors groups: group c's first
// half a, second half g, out = tanh(a) * sigmoid(g).
func RefGate(x []float64, f2, colors int) []float64 {
	half := f2 / colors / 2
	y := make([]float64, len(x)/2)
	for r := 0; r < len(x)/f2; r++ {
		for c := 0; c < colors; c++ {
			for k := 0; k < half; k++ {
				a, g := x[r*f2+2*c*half+k], x[r*f2+(2*c+1)*half+k]
				y[r*f2/2+c*half+k] = math.Tanh(a) / (1 + math.Exp(-g))
			}
		}
	}
	return y
}

// RefGateBackward is dL/dx of the gate for upstream gradient dy.
func RefGateBackward(x, dy []float64, f2, colors int) []float64 {
	half := f2 / colors / 2
	dx := make([]float64, len(x))
	for r := 0; r < len(x)/f2; r++ {
		for c := 0; c < colors; c++ {
			for k := 0; k < half; k++ {
				ia, ig := r*f2+2*c*half+k, r*f2+(2*c+1)*half+k
				t, s := math.Tanh(x[ia]), 1/(1+math.Exp(-x[ig]))
				d := dy[r*f2/2+c*half+k]
				dx[ia] = d * (1 - t*t) * s
				dx[ig] = d * t * s * (1 - s)
			}
		}
	}
	return dx
}

// RunGated checks the gated architecture's ops (nn.GatedOps) against float64 references:
// the gate, ELU and the class bias forward and backward (gradients accumulate into
// pre-filled buffers), and their argument errors. Run calls it for a backend that has them.
func RunGated(t *testing.T, b nn.Backend, o nn.GatedOps) {
	r := rand.New(rand.NewPCG(5, 6))
	acc := func(ref, pre []float64) []float64 {
		out := make([]float64, len(ref))
		for i := range ref {
			out[i] = ref[i] + pre[i]
		}
		return out
	}
	for _, c := range []struct {
		name   string
		shape  []int // of x
		colors int
	}{{"c1", []int{2, 3, 4, 8}, 1}, {"c3", []int{2, 3, 4, 12}, 3}, {"vector", []int{5, 1, 1, 6}, 3}} {
		t.Run("Gate-"+c.name, func(t *testing.T) {
			f2 := c.shape[3]
			ys := []int{c.shape[0], c.shape[1], c.shape[2], f2 / 2}
			x := randSlice(r, nn.ShapeLen(c.shape), 3)
			xt := upload(t, b, to32(x), c.shape...)
			yt := poisoned(t, b, ys...)
			if err := o.Gate(yt, xt, c.colors); err != nil {
				t.Fatal(err)
			}
			compare(t, "gate", download(t, b, yt), RefGate(to64(to32(x)), f2, c.colors), FwdTol)
			dy := randSlice(r, nn.ShapeLen(ys), 1)
			dx0 := randSlice(r, len(x), 1)
			dxt := upload(t, b, to32(dx0), c.shape...)
			if err := o.GateBackward(dxt, upload(t, b, to32(dy), ys...), xt, c.colors); err != nil {
				t.Fatal(err)
			}
			compare(t, "gate dx", download(t, b, dxt), acc(RefGateBackward(to64(to32(x)), to64(to32(dy)), f2, c.colors), dx0), GradTol)
		})
	}
	t.Run("ELU", func(t *testing.T) {
		shape := []int{2, 3, 5, 7}
		x := randSlice(r, nn.ShapeLen(shape), 4)
		x[0], x[1] = 0, -30 // the kink and the saturated tail
		x32 := to32(x)
		yRef := make([]float64, len(x))
		for i, v := range x32 {
			if v > 0 {
				yRef[i] = float64(v)
			} else {
				yRef[i] = math.Expm1(float64(v))
			}
		}
		xt := upload(t, b, x32, shape...)
		yt := poisoned(t, b, shape...)
		if err := o.ELU(yt, xt); err != nil {
			t.Fatal(err)
		}
		y := download(t, b, yt)
		compare(t, "elu", y, yRef, FwdTol)
		dy := randSlice(r, len(x), 1)
		dx0 := randSlice(r, len(x), 1)
		dxRef := make([]float64, len(x))
		for i, v := range x32 {
			d := 1.0
			if v <= 0 {
				d = math.Exp(float64(v))
			}
			dxRef[i] = float64(float32(dy[i]))*d + dx0[i]
		}
		dxt := upload(t, b, to32(dx0), shape...)
		if err := o.ELUBackward(dxt, upload(t, b, to32(dy), shape...), yt); err != nil {
			t.Fatal(err)
		}
		compare(t, "elu dx", download(t, b, dxt), dxRef, GradTol)
	})
	t.Run("ClassBias", func(t *testing.T) {
		shape, classes := []int{3, 2, 4, 5}, 4
		labels := []int32{2, 0, 2}
		x := randSlice(r, nn.ShapeLen(shape), 1)
		table := randSlice(r, classes*shape[3], 1)
		per, f := shape[1]*shape[2], shape[3]
		yRef := make([]float64, len(x))
		for p := range len(x) / f {
			for k := 0; k < f; k++ {
				yRef[p*f+k] = float64(float32(x[p*f+k])) + float64(float32(table[int(labels[p/per])*f+k]))
			}
		}
		xt, tt := upload(t, b, to32(x), shape...), upload(t, b, to32(table), classes, f)
		yt := poisoned(t, b, shape...)
		if err := o.AddClassBias(yt, xt, tt, labels); err != nil {
			t.Fatal(err)
		}
		compare(t, "class bias", download(t, b, yt), yRef, FwdTol)
		dy := randSlice(r, len(x), 1)
		dt0 := randSlice(r, len(table), 1)
		dtRef := append([]float64(nil), dt0...)
		for p := range len(x) / f {
			for k := 0; k < f; k++ {
				dtRef[int(labels[p/per])*f+k] += float64(float32(dy[p*f+k]))
			}
		}
		dtt := upload(t, b, to32(dt0), classes, f)
		if err := o.ClassBiasBackward(dtt, upload(t, b, to32(dy), shape...), labels); err != nil {
			t.Fatal(err)
		}
		compare(t, "class bias dtable", download(t, b, dtt), dtRef, GradTol)
		// Errors: a label out of range, a label count that is not the image count, a table
		// of the wrong width.
		for _, bad := range []struct {
			labels []int32
			table  *nn.Tensor
			want   string
		}{
			{[]int32{2, 4, 0}, tt, "label 4"},
			{[]int32{-1, 0, 0}, tt, "label -1"},
			{[]int32{0, 0}, tt, "2 labels for 3 images"},
			{labels, upload(t, b, make([]float32, classes*2), classes, 2), "table"},
		} {
			err := o.AddClassBias(yt, xt, bad.table, bad.labels)
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("AddClassBias(labels %v, table %v): error %v, want one naming %q", bad.labels, bad.table.Shape, err, bad.want)
			}
		}
	})
	t.Run("GateErrors", func(t *testing.T) {
		x := upload(t, b, make([]float32, 2*10), 2, 1, 1, 10)
		for _, bad := range []struct {
			y      *nn.Tensor
			colors int
			want   string
		}{
			{upload(t, b, make([]float32, 2*5), 2, 1, 1, 5), 3, "colour groups"},
			{upload(t, b, make([]float32, 2*4), 2, 1, 1, 4), 1, "output"},
			{nil, 1, "nil"},
		} {
			if err := o.Gate(bad.y, x, bad.colors); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("Gate(colors %d): error %v, want one naming %q", bad.colors, err, bad.want)
			}
		}
	})
}
