// Package backendtest is the one conformance suite every nn.Backend passes: each op is
// checked against a plain float64 reference written here, independently of any backend, on
// fresh random inputs (never zeros), with outputs poisoned (NaN) before each run so an
// element a kernel forgets to write fails the check. nn/cpu's tests and the cuda-tagged tests
// both call Run.
package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
)

// Tolerances, relative to the float64 reference. Forward values: each element within
// FwdTol*(1+|ref|) and the whole tensor within FwdTol in relative L2 norm. Gradients are sums
// over many more terms, so they get GradTol.
const (
	FwdTol  = 1e-5
	GradTol = 1e-4
)

// Run runs every conformance check against b.
func Run(t *testing.T, b nn.Backend) {
	t.Run("MaskedConv", func(t *testing.T) { testMaskedConv(t, b) })
	t.Run("ConvShapeErrors", func(t *testing.T) { testConvShapeErrors(t, b) })
	t.Run("Elementwise", func(t *testing.T) { testElementwise(t, b) })
	t.Run("SoftmaxXent", func(t *testing.T) { testSoftmaxXent(t, b) })
	t.Run("Optimizers", func(t *testing.T) { testOptimizers(t, b) })
	t.Run("SampleCategorical", func(t *testing.T) { testSample(t, b) })
	t.Run("Position", func(t *testing.T) { testPosition(t, b) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, b) })
	if r, ok := b.(nn.StepRecorder); ok {
		t.Run("StepRecorder", func(t *testing.T) { testStepRecorder(t, b, r) })
	}
	if rc, ok := b.(nn.ResidualConv); ok {
		t.Run("ConvResidual", func(t *testing.T) { testConvResidual(t, b, rc) })
	}
	if z, ok := b.(nn.MultiZeroer); ok {
		t.Run("ZeroAll", func(t *testing.T) { testZeroAll(t, b, z) })
	}
	if o, ok := b.(nn.GatedOps); ok {
		t.Run("Gated", func(t *testing.T) { RunGated(t, b, o) })
	}
	if a, ok := b.(nn.Averager); ok {
		t.Run("Lerp", func(t *testing.T) { testLerp(t, b, a) })
	}
}

func randSlice(r *rand.Rand, n int, scale float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = (r.Float64()*2 - 1) * scale
	}
	return s
}

func to32(s []float64) []float32 {
	o := make([]float32, len(s))
	for i, v := range s {
		o[i] = float32(v)
	}
	return o
}

func to64(s []float32) []float64 {
	o := make([]float64, len(s))
	for i, v := range s {
		o[i] = float64(v)
	}
	return o
}

func upload(t *testing.T, b nn.Backend, data []float32, shape ...int) *nn.Tensor {
	t.Helper()
	x, err := b.FromHost(data, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func download(t *testing.T, b nn.Backend, x *nn.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Len())
	if err := b.ToHost(out, x); err != nil {
		t.Fatal(err)
	}
	return out
}

func poisoned(t *testing.T, b nn.Backend, shape ...int) *nn.Tensor {
	t.Helper()
	p := make([]float32, nn.ShapeLen(shape))
	for i := range p {
		p[i] = float32(math.NaN())
	}
	return upload(t, b, p, shape...)
}

// compare checks got against ref: elementwise |got-ref| <= tol*(1+|ref|) and relative L2
// error <= tol. It reports at most ten mismatches.
func compare(t *testing.T, what string, got []float32, ref []float64, tol float64) {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(ref))
	}
	var num, den float64
	bad := 0
	for i := range ref {
		d := float64(got[i]) - ref[i]
		num += d * d
		den += ref[i] * ref[i]
		if !(math.Abs(d) <= tol*(1+math.Abs(ref[i]))) {
			if bad < 10 {
				t.Errorf("%s[%d] = %g, want %g (diff %g)", what, i, got[i], ref[i], d)
			}
			bad++
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d mismatches in all", what, bad)
	}
	if den > 0 && math.Sqrt(num/den) > tol {
		t.Errorf("%s: relative L2 error %g > %g", what, math.Sqrt(num/den), tol)
	}
}

// ConvCase is one masked-conv conformance shape.
type ConvCase struct {
	N, H, W int
	Spec    nn.ConvSpec
}

// ConvCases covers k = 1, 3, 7, masks A and B, one and three colours, with and without ReLU,
// images smaller than, equal to and larger than the kernel.
func ConvCases() []ConvCase {
	var cs []ConvCase
	for _, k := range []int{1, 3, 7} {
		for _, mode := range []nn.MaskMode{nn.MaskA, nn.MaskB} {
			for _, colors := range []int{1, 3} {
				for _, relu := range []bool{false, true} {
					in, out := 6, 9
					if k == 7 {
						in = colors // the input layer reads the image
					}
					cs = append(cs, ConvCase{N: 2, H: 5, W: 7, Spec: nn.ConvSpec{
						Name: fmt.Sprintf("k%d%v-c%d-relu%v", k, mode, colors, relu),
						K:    k, In: in, Out: out, Colors: colors, Mode: mode, ReLU: relu}})
				}
			}
		}
	}
	cs = append(cs, ConvCase{N: 1, H: 2, W: 3, Spec: nn.ConvSpec{Name: "small-image-k7", K: 7, In: 3, Out: 6, Colors: 3, Mode: nn.MaskB}})
	cs = append(cs, ConvCase{N: 3, H: 9, W: 4, Spec: nn.ConvSpec{Name: "wide-3x3", K: 3, In: 24, Out: 36, Colors: 3, Mode: nn.MaskB, ReLU: true}})
	cs = append(cs, ConvCase{N: 2, H: 40, W: 40, Spec: nn.ConvSpec{Name: "many-positions", K: 3, In: 8, Out: 16, Colors: 1, Mode: nn.MaskB, ReLU: true}})
	return cs
}

// GatedConvCases are the gated PixelCNN's tap sets: the vertical stack's rows-above and
// rows-above-and-row kernels, the horizontal stack's 1xK row, the unmasked 1x1, with
// dilations 1, 2 and 4 (4 reaching past a 5-wide image), one and three colours.
func GatedConvCases() []ConvCase {
	var cs []ConvCase
	for _, r := range []struct {
		region nn.Region
		k      int
	}{{nn.Above, 3}, {nn.AboveAndRow, 3}, {nn.Row, 3}, {nn.Full, 1}} {
		for _, d := range []int{1, 2, 4} {
			for _, colors := range []int{1, 3} {
				for _, mode := range []nn.MaskMode{nn.MaskA, nn.MaskB} {
					if (r.region == nn.Full || d > 1) && mode == nn.MaskA {
						continue // the mode matters only at a colour-ruled centre
					}
					cs = append(cs, ConvCase{N: 2, H: 6, W: 5, Spec: nn.ConvSpec{
						Name: fmt.Sprintf("%v-k%d-d%d-c%d-%v", r.region, r.k, d, colors, mode),
						K:    r.k, In: 6, Out: 12, Colors: colors, Mode: mode, Region: r.region, Dilation: d, ReLU: d == 2}})
				}
			}
		}
	}
	return cs
}

// RefConv is the float64 reference: y[n,h,w,o] = act(b[o] + sum over all taps (dy,dx) and
// inputs i of mask*w[dy,dx,i,o] * x[n,h+dy,w+dx,i]), zero padding. It applies the mask
// itself, so it does not depend on any tap-skipping logic.
func RefConv(c ConvCase, x, w, bias []float64) []float64 {
	s := c.Spec
	mask, err := nn.Mask(s)
	if err != nil {
		panic(err)
	}
	rh, rw, d := s.KH()/2, s.K/2, s.Dil()
	y := make([]float64, c.N*c.H*c.W*s.Out)
	for n := 0; n < c.N; n++ {
		for h := 0; h < c.H; h++ {
			for wq := 0; wq < c.W; wq++ {
				for o := 0; o < s.Out; o++ {
					v := bias[o]
					for ky := 0; ky < s.KH(); ky++ {
						for kx := 0; kx < s.K; kx++ {
							hh, ww := h+(ky-rh)*d, wq+(kx-rw)*d
							if hh < 0 || hh >= c.H || ww < 0 || ww >= c.W {
								continue
							}
							for i := 0; i < s.In; i++ {
								widx := ((ky*s.K+kx)*s.In+i)*s.Out + o
								v += float64(mask[widx]) * w[widx] * x[((n*c.H+hh)*c.W+ww)*s.In+i]
							}
						}
					}
					if s.ReLU {
						v = math.Max(v, 0)
					}
					y[((n*c.H+h)*c.W+wq)*s.Out+o] = v
				}
			}
		}
	}
	return y
}

// RefConvBackward returns dx, dw (zero at masked entries) and db for upstream gradient dy.
func RefConvBackward(c ConvCase, x, w, y, dy []float64) (dx, dw, db []float64) {
	s := c.Spec
	mask, _ := nn.Mask(s)
	rh, rw, d := s.KH()/2, s.K/2, s.Dil()
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, s.Out)
	for n := 0; n < c.N; n++ {
		for h := 0; h < c.H; h++ {
			for wq := 0; wq < c.W; wq++ {
				for o := 0; o < s.Out; o++ {
					p := ((n*c.H+h)*c.W+wq)*s.Out + o
					dz := dy[p]
					if s.ReLU && y[p] <= 0 {
						dz = 0
					}
					db[o] += dz
					for ky := 0; ky < s.KH(); ky++ {
						for kx := 0; kx < s.K; kx++ {
							hh, ww := h+(ky-rh)*d, wq+(kx-rw)*d
							if hh < 0 || hh >= c.H || ww < 0 || ww >= c.W {
								continue
							}
							for i := 0; i < s.In; i++ {
								widx := ((ky*s.K+kx)*s.In+i)*s.Out + o
								xi := ((n*c.H+hh)*c.W+ww)*s.In + i
								dw[widx] += float64(mask[widx]) * dz * x[xi]
								dx[xi] += float64(mask[widx]) * dz * w[widx]
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}

func testMaskedConv(t *testing.T, b nn.Backend) {
	cases := ConvCases()
	if _, ok := b.(nn.GatedOps); ok {
		cases = append(cases, GatedConvCases()...)
	}
	for ci, c := range cases {
		t.Run(c.Spec.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 17))
			s := c.Spec
			xs := []int{c.N, c.H, c.W, s.In}
			ys := []int{c.N, c.H, c.W, s.Out}
			x := randSlice(r, nn.ShapeLen(xs), 1)
			mask, err := nn.Mask(s)
			if err != nil {
				t.Fatal(err)
			}
			// Masked weights hold garbage (not zero): a kernel that reads them fails.
			w := randSlice(r, len(mask), 0.5)
			bias := randSlice(r, s.Out, 0.3)
			yRef := RefConv(c, x, w, bias)

			xt := upload(t, b, to32(x), xs...)
			wt := upload(t, b, to32(w), s.WeightShape()...)
			bt := upload(t, b, to32(bias), s.Out)
			yt := poisoned(t, b, ys...)
			if err := b.MaskedConv(s, yt, xt, wt, bt); err != nil {
				t.Fatal(err)
			}
			yGot := download(t, b, yt)
			compare(t, "y", yGot, yRef, FwdTol)

			// Backward from the reference y (the ReLU mask must agree bit for bit), with
			// gradient buffers pre-filled to check accumulation.
			dy := randSlice(r, len(yRef), 1)
			dx0 := randSlice(r, len(x), 1)
			dw0 := randSlice(r, len(w), 1)
			db0 := randSlice(r, s.Out, 1)
			dxRef, dwRef, dbRef := RefConvBackward(c, x, w, to64(yGot), dy)
			for i := range dxRef {
				dxRef[i] += dx0[i]
			}
			for i := range dwRef {
				dwRef[i] += dw0[i]
			}
			for i := range dbRef {
				dbRef[i] += db0[i]
			}
			dyt := upload(t, b, to32(dy), ys...)
			dxt := upload(t, b, to32(dx0), xs...)
			dwt := upload(t, b, to32(dw0), s.WeightShape()...)
			dbt := upload(t, b, to32(db0), s.Out)
			if err := b.MaskedConvBackward(s, dxt, dwt, dbt, dyt, xt, wt, yt); err != nil {
				t.Fatal(err)
			}
			compare(t, "dx", download(t, b, dxt), dxRef, GradTol)
			dwGot := download(t, b, dwt)
			compare(t, "dw", dwGot, dwRef, GradTol)
			compare(t, "db", download(t, b, dbt), dbRef, GradTol)
			for i, m := range mask {
				if m == 0 && dwGot[i] != float32(dw0[i]) {
					t.Fatalf("dw[%d] is a masked entry but changed: %g -> %g", i, dw0[i], dwGot[i])
				}
			}

			if f, ok := b.(nn.FreshGradConv); ok {
				testFreshDX(t, b, f, s, dyt, xt, wt, yt)
			}

			// nil gradients are allowed.
			if err := b.MaskedConvBackward(s, nil, nil, nil, dyt, xt, wt, yt); err != nil {
				t.Fatal(err)
			}
			for _, tt := range []*nn.Tensor{xt, wt, bt, yt, dyt, dxt, dwt, dbt} {
				b.Release(tt)
			}
		})
	}
}

// testConvResidual: MaskedConvResidual writes MaskedConv's y bit for bit and sum = res + y
// (one float32 add per element, as Add), over every conformance shape; a missing or
// misshapen residual is an error naming it.
func testConvResidual(t *testing.T, b nn.Backend, rc nn.ResidualConv) {
	for ci, c := range ConvCases() {
		t.Run(c.Spec.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 29))
			s := c.Spec
			xs := []int{c.N, c.H, c.W, s.In}
			ys := []int{c.N, c.H, c.W, s.Out}
			mask, err := nn.Mask(s)
			if err != nil {
				t.Fatal(err)
			}
			xt := upload(t, b, to32(randSlice(r, nn.ShapeLen(xs), 1)), xs...)
			wt := upload(t, b, to32(randSlice(r, len(mask), 0.5)), s.WeightShape()...)
			bt := upload(t, b, to32(randSlice(r, s.Out, 0.3)), s.Out)
			res := to32(randSlice(r, nn.ShapeLen(ys), 1))
			rt := upload(t, b, res, ys...)
			yWant := poisoned(t, b, ys...)
			if err := b.MaskedConv(s, yWant, xt, wt, bt); err != nil {
				t.Fatal(err)
			}
			yt, st := poisoned(t, b, ys...), poisoned(t, b, ys...)
			if err := rc.MaskedConvResidual(s, yt, st, xt, wt, bt, rt); err != nil {
				t.Fatal(err)
			}
			y := download(t, b, yWant)
			sameBits(t, "y", download(t, b, yt), y)
			sum := make([]float32, len(y))
			for i := range sum {
				sum[i] = res[i] + y[i]
			}
			sameBits(t, "sum", download(t, b, st), sum)
			if err := rc.MaskedConvResidual(s, yt, st, xt, wt, bt, nil); err == nil || !contains(err.Error(), "residual input") {
				t.Errorf("nil residual: %v", err)
			}
			if err := rc.MaskedConvResidual(s, yt, xt, xt, wt, bt, rt); s.In != s.Out && (err == nil || !contains(err.Error(), "residual sum")) {
				t.Errorf("misshapen sum: %v", err)
			}
			for _, tt := range []*nn.Tensor{xt, wt, bt, rt, yWant, yt, st} {
				b.Release(tt)
			}
		})
	}
}

// RunFusedOps checks b's fused conv ops against b's own unfused ones, bit for bit, on every
// conformance shape: MaskedConvResidual against MaskedConv and an add, MaskedConvBackwardFresh
// into a NaN-filled dx against MaskedConvBackward into a zeroed one. It needs no reference
// tolerance, so it also runs at TF32 (cuda's version 3), where Run's FP32 bounds do not hold.
func RunFusedOps(t *testing.T, b nn.Backend) {
	if rc, ok := b.(nn.ResidualConv); ok {
		t.Run("ConvResidual", func(t *testing.T) { testConvResidual(t, b, rc) })
	}
	f, ok := b.(nn.FreshGradConv)
	if !ok {
		return
	}
	for ci, c := range ConvCases() {
		t.Run("FreshDX/"+c.Spec.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 31))
			s := c.Spec
			xs := []int{c.N, c.H, c.W, s.In}
			ys := []int{c.N, c.H, c.W, s.Out}
			xt := upload(t, b, to32(randSlice(r, nn.ShapeLen(xs), 1)), xs...)
			wt := upload(t, b, to32(randSlice(r, nn.ShapeLen(s.WeightShape()), 0.5)), s.WeightShape()...)
			yt := upload(t, b, to32(randSlice(r, nn.ShapeLen(ys), 1)), ys...) // its sign: the ReLU mask
			dyt := upload(t, b, to32(randSlice(r, nn.ShapeLen(ys), 1)), ys...)
			testFreshDX(t, b, f, s, dyt, xt, wt, yt)
			for _, tt := range []*nn.Tensor{xt, wt, yt, dyt} {
				b.Release(tt)
			}
		})
	}
}

// testFreshDX: MaskedConvBackwardFresh into a NaN-filled dx gives, bit for bit, what
// MaskedConvBackward gives into a zeroed dx (dx is written, never read), and accumulates dw
// and db as MaskedConvBackward does.
func testFreshDX(t *testing.T, b nn.Backend, f nn.FreshGradConv, s nn.ConvSpec, dy, x, w, y *nn.Tensor) {
	t.Helper()
	zero := make([]float32, x.Len())
	dxWant := upload(t, b, zero, x.Shape...)
	dwWant := upload(t, b, make([]float32, w.Len()), w.Shape...)
	dbWant := upload(t, b, make([]float32, s.Out), s.Out)
	if err := b.MaskedConvBackward(s, dxWant, dwWant, dbWant, dy, x, w, y); err != nil {
		t.Fatal(err)
	}
	dx := poisoned(t, b, x.Shape...)
	dw := upload(t, b, make([]float32, w.Len()), w.Shape...)
	db := upload(t, b, make([]float32, s.Out), s.Out)
	if err := f.MaskedConvBackwardFresh(s, dx, dw, db, dy, x, w, y); err != nil {
		t.Fatal(err)
	}
	sameBits(t, "fresh dx", download(t, b, dx), download(t, b, dxWant))
	sameBits(t, "dw beside a fresh dx", download(t, b, dw), download(t, b, dwWant))
	sameBits(t, "db beside a fresh dx", download(t, b, db), download(t, b, dbWant))
	for _, tt := range []*nn.Tensor{dxWant, dwWant, dbWant, dx, dw, db} {
		b.Release(tt)
	}
}

func testConvShapeErrors(t *testing.T, b nn.Backend) {
	good := nn.ConvSpec{Name: "probe", K: 3, In: 6, Out: 6, Colors: 3, Mode: nn.MaskB}
	tests := []struct {
		name string
		spec nn.ConvSpec
		x, w []int
	}{
		{"even kernel", nn.ConvSpec{Name: "probe", K: 2, In: 6, Out: 6, Colors: 3}, []int{1, 4, 4, 6}, []int{2, 2, 6, 6}},
		{"in not divisible by colours", nn.ConvSpec{Name: "probe", K: 3, In: 4, Out: 6, Colors: 3}, []int{1, 4, 4, 4}, []int{3, 3, 4, 6}},
		{"input channels", good, []int{1, 4, 4, 5}, []int{3, 3, 6, 6}},
		{"input rank", good, []int{4, 4, 6}, []int{3, 3, 6, 6}},
		{"weight shape", good, []int{1, 4, 4, 6}, []int{1, 1, 6, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := b.New(tc.x...)
			w := b.New(tc.w...)
			bias := b.New(tc.spec.Out)
			y := b.New(1, 4, 4, tc.spec.Out)
			err := b.MaskedConv(tc.spec, y, x, w, bias)
			if err == nil {
				t.Fatalf("no error")
			}
			if want := `"probe"`; !contains(err.Error(), want) {
				t.Errorf("error %q does not name the layer %s", err, want)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func testElementwise(t *testing.T, b nn.Backend) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 1000, 70001} {
		a := randSlice(r, n, 1)
		c := randSlice(r, n, 1)
		at := upload(t, b, to32(a), n)
		ct := upload(t, b, to32(c), n)
		y := poisoned(t, b, n)
		if err := b.ReLU(y, at); err != nil {
			t.Fatal(err)
		}
		ref := make([]float64, n)
		for i := range a {
			ref[i] = math.Max(float64(float32(a[i])), 0)
		}
		compare(t, "relu", download(t, b, y), ref, 0)
		yRelu := download(t, b, y)

		// ReLUBackward accumulates dy where y > 0.
		dx := upload(t, b, to32(c), n)
		dy := upload(t, b, to32(a), n)
		if err := b.ReLUBackward(dx, dy, y); err != nil {
			t.Fatal(err)
		}
		for i := range ref {
			ref[i] = float64(float32(c[i]))
			if yRelu[i] > 0 {
				ref[i] = float64(float32(c[i]) + float32(a[i]))
			}
		}
		compare(t, "relu backward", download(t, b, dx), ref, 0)

		if err := b.Add(y, at, ct); err != nil {
			t.Fatal(err)
		}
		for i := range ref {
			ref[i] = float64(float32(a[i]) + float32(c[i]))
		}
		compare(t, "add", download(t, b, y), ref, 0)
		if err := b.AddInto(y, at); err != nil {
			t.Fatal(err)
		}
		for i := range ref {
			ref[i] = float64(float32(a[i])+float32(c[i])) + float64(float32(a[i]))
		}
		compare(t, "add into", download(t, b, y), ref, 1e-7)

		ss, err := b.SumSquares([]*nn.Tensor{at, ct})
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		for i := range a {
			want += float64(float32(a[i]))*float64(float32(a[i])) + float64(float32(c[i]))*float64(float32(c[i]))
		}
		if math.Abs(ss-want) > 1e-5*want {
			t.Errorf("sum of squares n=%d: %g, want %g", n, ss, want)
		}
		if err := b.Scale([]*nn.Tensor{at}, -0.5); err != nil {
			t.Fatal(err)
		}
		for i := range ref {
			ref[i] = -0.5 * float64(float32(a[i]))
		}
		compare(t, "scale", download(t, b, at), ref, 0)
		if err := b.Add(y, at, b.New(n+1)); err == nil {
			t.Errorf("add of mismatched shapes: no error")
		}
	}
}

// RefSoftmaxXent returns summed nats and d = scale*(softmax-onehot) in float64.
func RefSoftmaxXent(logits []float64, targets []int, scale float64) (float64, []float64) {
	d := make([]float64, len(logits))
	var nats float64
	for s, tgt := range targets {
		l := logits[s*256 : (s+1)*256]
		m := l[0]
		for _, v := range l {
			m = math.Max(m, v)
		}
		var z float64
		for _, v := range l {
			z += math.Exp(v - m)
		}
		nats += m + math.Log(z) - l[tgt]
		for k, v := range l {
			d[s*256+k] = scale * math.Exp(v-m) / z
		}
		d[s*256+tgt] -= scale
	}
	return nats, d
}

func testSoftmaxXent(t *testing.T, b nn.Backend) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		n, h, w, c int
		spread     float64
	}{{2, 3, 4, 1, 3}, {1, 5, 5, 3, 8}, {2, 2, 2, 3, 60}} { // 60: large logits need the max shift
		xs := []int{tc.n, tc.h, tc.w, tc.c}
		sub := nn.ShapeLen(xs)
		logits := randSlice(r, sub*256, tc.spread)
		targets := make([]int, sub)
		x := make([]float32, sub)
		for i := range targets {
			targets[i] = r.IntN(256)
			x[i] = float32(targets[i]) / 255
		}
		targets[0], x[0] = 255, 1 // the ends of the range
		targets[sub-1], x[sub-1] = 0, 0
		scale := 1 / float64(sub)
		natsRef, dRef := RefSoftmaxXent(to64(to32(logits)), targets, scale)
		lt := upload(t, b, to32(logits), tc.n, tc.h, tc.w, tc.c*256)
		xt := upload(t, b, x, xs...)
		dt := poisoned(t, b, tc.n, tc.h, tc.w, tc.c*256)
		nats, err := b.SoftmaxXent(lt, xt, dt, float32(scale))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(nats-natsRef) > 1e-5*math.Abs(natsRef) {
			t.Errorf("nats %v, want %v", nats, natsRef)
		}
		compare(t, "dlogits", download(t, b, dt), dRef, FwdTol)
		nats2, err := b.SoftmaxXent(lt, xt, nil, 1)
		if err != nil || nats2 != nats {
			t.Errorf("without dlogits: %v, %v; want %v", nats2, err, nats)
		}
		if _, err := b.SoftmaxXent(xt, xt, nil, 1); err == nil {
			t.Errorf("wrong logits shape: no error")
		}
	}
}

func testOptimizers(t *testing.T, b nn.Backend) {
	r := rand.New(rand.NewPCG(7, 8))
	sizes := []int{5, 300, 40000}
	mk := func(scale float64) ([][]float64, []*nn.Tensor) {
		var host [][]float64
		var ts []*nn.Tensor
		for _, n := range sizes {
			h := randSlice(r, n, scale)
			for i := range h { // float32-exact reference inputs
				h[i] = float64(float32(h[i]))
			}
			host = append(host, h)
			ts = append(ts, upload(t, b, to32(h), n))
		}
		return host, ts
	}
	t.Run("Adam", func(t *testing.T) {
		p, pt := mk(1)
		g, gt := mk(1)
		m, mt := mk(0.1)
		v, vt := mk(0.1)
		for i := range v {
			for k := range v[i] {
				v[i][k] = math.Abs(v[i][k])
			}
			vt[i] = upload(t, b, to32(v[i]), sizes[i])
		}
		h := nn.AdamStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 3}
		if err := b.AdamStep(pt, gt, mt, vt, h); err != nil {
			t.Fatal(err)
		}
		for i := range p {
			pr, mr, vr := make([]float64, sizes[i]), make([]float64, sizes[i]), make([]float64, sizes[i])
			for k := range p[i] {
				mr[k] = 0.9*m[i][k] + 0.1*g[i][k]
				vr[k] = 0.999*v[i][k] + 0.001*g[i][k]*g[i][k]
				mhat := mr[k] / (1 - math.Pow(0.9, 3))
				vhat := vr[k] / (1 - math.Pow(0.999, 3))
				pr[k] = p[i][k] - 1e-3*mhat/(math.Sqrt(vhat)+1e-8)
			}
			compare(t, "adam m", download(t, b, mt[i]), mr, 1e-6)
			compare(t, "adam v", download(t, b, vt[i]), vr, 1e-6)
			compare(t, "adam p", download(t, b, pt[i]), pr, 1e-6)
		}
		if err := b.AdamStep(pt, gt[:1], mt, vt, h); err == nil {
			t.Errorf("mismatched lists: no error")
		}
	})
	t.Run("RMSProp", func(t *testing.T) {
		p, pt := mk(1)
		g, gt := mk(1)
		s, st := mk(0.1)
		for i := range s {
			for k := range s[i] {
				s[i][k] = math.Abs(s[i][k])
			}
			st[i] = upload(t, b, to32(s[i]), sizes[i])
		}
		h := nn.RMSPropStep{LR: 1e-3, Decay: 0.95, Eps: 1e-6}
		if err := b.RMSPropStep(pt, gt, st, h); err != nil {
			t.Fatal(err)
		}
		for i := range p {
			pr, sr := make([]float64, sizes[i]), make([]float64, sizes[i])
			for k := range p[i] {
				sr[k] = 0.95*s[i][k] + 0.05*g[i][k]*g[i][k]
				pr[k] = p[i][k] - 1e-3*g[i][k]/(math.Sqrt(sr[k])+1e-6)
			}
			compare(t, "rmsprop ms", download(t, b, st[i]), sr, 1e-6)
			compare(t, "rmsprop p", download(t, b, pt[i]), pr, 1e-6)
		}
	})
}

// RefSample is the float64 inverse-CDF draw every backend must reproduce.
func RefSample(l []float64, temperature float64, u float64) int {
	m := l[0]
	for _, v := range l {
		m = math.Max(m, v)
	}
	p := make([]float64, 256)
	var z float64
	for k, v := range l {
		p[k] = math.Exp((v - m) / temperature)
		z += p[k]
	}
	target, run := u*z, 0.0
	for k := 0; k < 255; k++ {
		run += p[k]
		if run > target {
			return k
		}
	}
	return 255
}

func testSample(t *testing.T, b nn.Backend) {
	r := rand.New(rand.NewPCG(9, 10))
	const rows, rowLen, offset = 64, 3 * 256, 256
	logits := to32(randSlice(r, rows*rowLen, 4))
	lt := upload(t, b, logits, rows, rowLen)
	for _, temp := range []float32{1, 0.5, 2} {
		out := make([]int32, rows)
		for i := range out {
			out[i] = -1
		}
		if err := b.SampleCategorical(out, lt, offset, temp, 1234, 99); err != nil {
			t.Fatal(err)
		}
		mismatches := 0
		for i := range out {
			row := to64(logits[i*rowLen+offset : i*rowLen+offset+256])
			want := RefSample(row, float64(temp), float64(nn.Uniform(1234, 99, i)))
			if int(out[i]) != want {
				// A float32 backend may land on the neighbour at a CDF boundary; never farther.
				if d := int(out[i]) - want; d < -1 || d > 1 {
					t.Errorf("T=%v row %d: sampled %d, want %d", temp, i, out[i], want)
				}
				mismatches++
			}
		}
		if mismatches > 1 {
			t.Errorf("T=%v: %d of %d draws differ from the reference", temp, mismatches, rows)
		}
	}
	// Peaked distribution: the sample is the argmax.
	peak := make([]float32, 256)
	for i := range peak {
		peak[i] = -50
	}
	peak[201] = 50
	pt := upload(t, b, peak, 1, 256)
	out := make([]int32, 1)
	if err := b.SampleCategorical(out, pt, 0, 1, 1, 1); err != nil || out[0] != 201 {
		t.Errorf("peaked sample = %d, %v; want 201", out[0], err)
	}
	if err := b.SampleCategorical(out, pt, 0, 0, 1, 1); err == nil {
		t.Errorf("temperature 0: no error")
	}
}
