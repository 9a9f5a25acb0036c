package pixelcnn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/backendtest"
	"pixelcnn/nn/cpu"
)

func tinyConfig(colors, h, w int) Config {
	return Config{Colors: colors, Height: h, Width: w, Hidden: 6, Blocks: 2, OutDim: 12}
}

// randomImages returns n images of 8-bit values as float32 v/255, NHWC.
func randomImages(r *rand.Rand, c Config, n int) []float32 {
	x := make([]float32, n*c.Subpixels())
	for i := range x {
		x[i] = float32(r.IntN(256)) / 255
	}
	return x
}

func hostOf(t *testing.T, b nn.Backend, x *nn.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Len())
	if err := b.ToHost(out, x); err != nil {
		t.Fatal(err)
	}
	return out
}

// refLoss is the model's mean NLL per subpixel computed in float64 from the given weights
// (per layer: w, b) with backendtest's independent reference convolution.
func refLoss(c Config, n int, x []float64, targets []int, params [][]float64) float64 {
	specs := layerSpecs(c)
	conv := func(i int, in []float64) []float64 {
		return backendtest.RefConv(backendtest.ConvCase{N: n, H: c.Height, W: c.Width, Spec: specs[i]}, in, params[2*i], params[2*i+1])
	}
	relu := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for i := range v {
			o[i] = math.Max(v[i], 0)
		}
		return o
	}
	y := conv(0, x)
	for blk := 0; blk < c.Blocks; blk++ {
		h := conv(1+3*blk, y)
		h = conv(2+3*blk, h)
		h = conv(3+3*blk, h)
		for i := range y {
			y[i] += h[i]
		}
	}
	l := len(specs)
	y = conv(l-3, relu(y))
	y = conv(l-2, y)
	y = conv(l-1, y)
	nats, _ := backendtest.RefSoftmaxXent(y, targets, 1)
	return nats / float64(len(targets))
}

// TestGradientCheck compares the tape's gradients of the mean NLL (float32, CPU backend) with
// central finite differences of the float64 reference model, for every layer's weights and
// bias and for the input image, C = 1 and 3, two residual blocks.
func TestGradientCheck(t *testing.T) {
	for _, colors := range []int{1, 3} {
		t.Run(fmt.Sprintf("C=%d", colors), func(t *testing.T) {
			b := cpu.New()
			c := tinyConfig(colors, 4, 5)
			const n = 2
			m, err := NewModel(b, c, 11)
			if err != nil {
				t.Fatal(err)
			}
			// Non-zero biases so their gradients are exercised away from the init.
			r := rand.New(rand.NewPCG(1, uint64(colors)))
			for _, l := range m.Layers {
				bias := make([]float32, l.Spec.Out)
				for i := range bias {
					bias[i] = float32(r.Float64()*0.2 - 0.1)
				}
				copy(l.B.Value.Host, bias)
			}
			xs := randomImages(r, c, n)
			xt, _ := b.FromHost(xs, n, c.Height, c.Width, c.Colors)
			g := nn.NewGraph(b)
			xv := g.Input(xt)
			if err := m.ZeroGrad(); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Loss(g, xv, nil); err != nil {
				t.Fatal(err)
			}
			if err := g.Backward(); err != nil {
				t.Fatal(err)
			}

			x64 := make([]float64, len(xs))
			targets := make([]int, len(xs))
			for i, v := range xs {
				x64[i] = float64(v)
				targets[i] = cpu.Target(v)
			}
			_, vars := m.Params()
			params := make([][]float64, len(vars))
			for i, v := range vars {
				for _, f := range hostOf(t, b, v.Value) {
					params[i] = append(params[i], float64(f))
				}
			}
			const h = 1e-5
			check := func(what string, vals []float64, analytic float32, i int) {
				old := vals[i]
				vals[i] = old + h
				lp := refLoss(c, n, x64, targets, params)
				vals[i] = old - h
				lm := refLoss(c, n, x64, targets, params)
				vals[i] = old
				fd := (lp - lm) / (2 * h)
				// float32 analytic vs float64 differences: 0.1% relative plus 1e-7 absolute
				// (gradients of a mean over N*C*H*W subpixels are O(1e-3..1e-2)).
				if math.Abs(float64(analytic)-fd) > 1e-3*math.Abs(fd)+1e-7 {
					t.Errorf("%s[%d]: tape %g, finite difference %g", what, i, analytic, fd)
				}
			}
			checkSampledGradients(t, m, r, 6, params, check)
			// Input gradient (targets stay fixed: x only moves by 1e-5).
			dx := hostOf(t, b, xv.Grad)
			for _, i := range r.Perm(len(dx))[:8] {
				check("input", x64, dx[i], i)
			}
		})
	}
}

// checkSampledGradients runs check on per unmasked entries (drawn by r) of every parameter's
// gradient, params holding the parameters' values in Params order, and requires the gradient
// of every masked weight entry to be exactly 0.
func checkSampledGradients(t *testing.T, m *Model, r *rand.Rand, per int, params [][]float64, check func(what string, vals []float64, analytic float32, i int)) {
	t.Helper()
	for pi, p := range m.params() {
		grad := hostOf(t, m.B, p.v.Grad)
		var mask []float32
		if p.conv != nil {
			mask, _ = nn.Mask(*p.conv)
		}
		checked := 0
		for _, i := range r.Perm(len(grad)) {
			if mask != nil && mask[i] == 0 {
				if grad[i] != 0 {
					t.Errorf("%s[%d]: masked entry has gradient %g", p.name, i, grad[i])
				}
				continue
			}
			check(p.name, params[pi], grad[i], i)
			if checked++; checked == per {
				break
			}
		}
	}
}

// TestLayout: Input, Blocks and Head name the layers the checkpoint order puts there.
func TestLayout(t *testing.T) {
	c := tinyConfig(3, 4, 4)
	c.Blocks = 3
	m, err := NewModel(cpu.New(), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Input().Spec.Name; got != "input_conv" {
		t.Errorf("Input is %s", got)
	}
	blocks := m.Blocks()
	if len(blocks) != c.Blocks {
		t.Fatalf("%d blocks, want %d", len(blocks), c.Blocks)
	}
	for i, b := range blocks {
		for _, l := range []struct {
			l    *Layer
			want string
		}{{b.In, "conv_in"}, {b.Mid, "conv_mid"}, {b.Out, "conv_out"}} {
			if want := fmt.Sprintf("blocks.%d.%s", i, l.want); l.l.Spec.Name != want {
				t.Errorf("block %d: %s is %s", i, l.want, l.l.Spec.Name)
			}
		}
	}
	var head []string
	for _, l := range m.Head() {
		head = append(head, l.Spec.Name)
	}
	if fmt.Sprint(head) != "[output_conv1 output_conv2 final_conv]" {
		t.Errorf("Head is %v", head)
	}
	if err := m.checkLayout(); err != nil {
		t.Error(err)
	}
	m.Layers = m.Layers[1:]
	if err := m.checkLayout(); err == nil {
		t.Error("checkLayout accepted a model missing a layer")
	}
}
