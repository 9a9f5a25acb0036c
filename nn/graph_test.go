package nn_test

import (
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
