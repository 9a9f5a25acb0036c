package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
)

// TestAddGradients covers the Add backward's reuse of the output gradient: y = a + b,
// y = x + x, and an input also read by a later op, whose gradient must be the sum.
func TestAddGradients(t *testing.T) {
	b := cpu.New()
	val := func(v ...float32) *nn.Tensor { x, _ := b.FromHost(v, len(v)); return x }
	tests := []struct {
		name  string
		build func(g *nn.Graph, x, z *nn.Var) (*nn.Var, error)
		dx    []float32 // d(sum of output * seed)/dx with seed = [1, 2]
		dz    []float32
	}{
		{"x+z", func(g *nn.Graph, x, z *nn.Var) (*nn.Var, error) { return g.Add(x, z) }, []float32{1, 2}, []float32{1, 2}},
		{"x+x", func(g *nn.Graph, x, z *nn.Var) (*nn.Var, error) { return g.Add(x, x) }, []float32{2, 4}, []float32{0, 0}},
		{"(x+z)+x", func(g *nn.Graph, x, z *nn.Var) (*nn.Var, error) {
			s, err := g.Add(x, z)
			if err != nil {
				return nil, err
			}
			return g.Add(s, x)
		}, []float32{2, 4}, []float32{1, 2}},
		{"relu(x)+x", func(g *nn.Graph, x, z *nn.Var) (*nn.Var, error) {
			r, err := g.ReLU(x) // x = [3, -1]: relu passes the first only
			if err != nil {
				return nil, err
			}
			return g.Add(r, x)
		}, []float32{2, 2}, []float32{0, 0}},
	}
	for _, tc := range tests {
		g := nn.NewGraph(b)
		x, z := g.Input(val(3, -1)), g.Input(val(5, 7))
		y, err := tc.build(g, x, z)
		if err != nil {
			t.Fatal(err)
		}
		y.Grad = val(1, 2)
		if err := g.Backward(); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			v    *nn.Var
			want []float32
		}{{x, tc.dx}, {z, tc.dz}} {
			got := []float32{0, 0}
			if c.v.Grad != nil {
				got = c.v.Grad.Host
			}
			if got[0] != c.want[0] || got[1] != c.want[1] {
				t.Errorf("%s: gradient %v, want %v", tc.name, got, c.want)
			}
		}
		g.Release()
	}
}

// unfused is the CPU backend seen only through nn.Backend: no ResidualConv, FreshGradConv or
// other extension, so the graph runs the plain ops.
type unfused struct{ nn.Backend }

// TestConvResidualGradients: MaskedConvResidual on a backend that fuses it gives the values
// and gradients of MaskedConv then Add on one that does not, bit for bit, whether res is
// another tensor, the conv's own input, or read again by a later op.
func TestConvResidualGradients(t *testing.T) {
	spec := nn.ConvSpec{Name: "out", K: 3, In: 6, Out: 6, Colors: 3, Mode: nn.MaskB, ReLU: true}
	for _, tc := range []struct {
		name      string
		resIsX    bool // res is the conv's input
		reuseRes  bool // res is also added to the output afterwards
		convGrads bool // w and b need gradients
	}{
		{"res apart", false, false, true},
		{"res is the input", true, false, true},
		{"res read again", false, true, true},
		{"frozen conv", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var grads [2][][]float32
			var outs [2][]float32
			for i, b := range []nn.Backend{cpu.New(), unfused{cpu.New()}} {
				outs[i], grads[i] = residualRun(t, b, spec, tc.resIsX, tc.reuseRes, tc.convGrads)
			}
			same := func(what string, got, want []float32) {
				t.Helper()
				for k := range want {
					if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
						t.Fatalf("%s[%d] = %v fused, %v unfused", what, k, got[k], want[k])
					}
				}
			}
			same("output", outs[0], outs[1])
			for k := range grads[1] {
				same([]string{"dx", "dres", "dw", "db"}[k], grads[0][k], grads[1][k])
			}
		})
	}
}

// residualRun builds out = MaskedConvResidual(spec, x, w, b, res) (plus res again when
// reuseRes) on b, runs the backward from a fixed seed, and returns out and the gradients of
// x, res, w and b (nil ones as empty).
func residualRun(t *testing.T, b nn.Backend, spec nn.ConvSpec, resIsX, reuseRes, convGrads bool) ([]float32, [][]float32) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	data := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	up := func(v []float32, shape ...int) *nn.Tensor {
		x, err := b.FromHost(v, shape...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	shape := []int{2, 4, 5, spec.In}
	g := nn.NewGraph(b)
	x := g.Input(up(data(nn.ShapeLen(shape)), shape...))
	res := g.Input(up(data(nn.ShapeLen(shape)), shape...))
	if resIsX {
		res = x
	}
	w := nn.Param(up(data(nn.ShapeLen(spec.WeightShape())), spec.WeightShape()...), up(make([]float32, nn.ShapeLen(spec.WeightShape())), spec.WeightShape()...))
	bias := nn.Param(up(data(spec.Out), spec.Out), up(make([]float32, spec.Out), spec.Out))
	if !convGrads {
		w, bias = nn.Constant(w.Value), nn.Constant(bias.Value)
	}
	mask, _ := nn.Mask(spec)
	for i, m := range mask { // masked weights are 0 in a model
		if m == 0 {
			w.Value.Host[i] = 0
		}
	}
	out, err := g.MaskedConvResidual(spec, x, w, bias, res)
	if err != nil {
		t.Fatal(err)
	}
	if reuseRes {
		if out, err = g.Add(out, res); err != nil {
			t.Fatal(err)
		}
	}
	out.Grad = up(data(out.Value.Len()), out.Value.Shape...)
	if err := g.Backward(); err != nil {
		t.Fatal(err)
	}
	host := func(v *nn.Tensor) []float32 {
		if v == nil {
			return nil
		}
		return append([]float32(nil), v.Host...)
	}
	return host(out.Value), [][]float32{host(x.Grad), host(res.Grad), host(w.Grad), host(bias.Grad)}
}
