package backendtest

import (
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
)

// TestTF32Refs checks the fast references of RunConvTF32 against RefConv and RefConvBackward
// (exact operands, rounded operands, and |rounded| with no bias and no ReLU on y).
func TestTF32Refs(t *testing.T) {
	for ci, c := range ConvCases() {
		r := rand.New(rand.NewPCG(uint64(ci), 3))
		s := c.Spec
		mask, _ := nn.Mask(s)
		x := to32(randSlice(r, c.N*c.H*c.W*s.In, 1))
		w := to32(randSlice(r, len(mask), 0.5))
		bias := to32(randSlice(r, s.Out, 0.3))
		dy := to32(randSlice(r, c.N*c.H*c.W*s.Out, 1))
		y := to32(RefConv(c, to64(x), to64(w), to64(bias)))
		rnd, abs, exact := tf32Refs(c, x, w, bias, dy, y)
		f64 := func(v []float32, f func(float32) float64) []float64 {
			o := make([]float64, len(v))
			for i, e := range v {
				o[i] = f(e)
			}
			return o
		}
		id := func(v float32) float64 { return float64(v) }
		round := func(v float32) float64 { return float64(nn.RoundTF32(v)) }
		absRound := func(v float32) float64 { return math.Abs(round(v)) }
		noReLU := c
		noReLU.Spec.ReLU = false
		for _, want := range []struct {
			name string
			got  convRefs
			c    ConvCase
			f    func(float32) float64
			bias []float64
		}{
			{"exact", exact, c, id, to64(bias)},
			{"rounded", rnd, c, round, to64(bias)},
			{"abs", abs, noReLU, absRound, make([]float64, s.Out)},
		} {
			xv, wv := f64(x, want.f), f64(w, want.f)
			yRef := RefConv(want.c, xv, wv, want.bias)
			dxRef, dwRef, _ := RefConvBackward(c, xv, wv, to64(y), f64(dy, want.f))
			for _, cmp := range []struct {
				what      string
				got, want []float64
			}{{"y", want.got.y, yRef}, {"dx", want.got.dx, dxRef}, {"dw", want.got.dw, dwRef}} {
				for i := range cmp.want {
					if d := math.Abs(cmp.got[i] - cmp.want[i]); !(d <= 1e-12*(1+math.Abs(cmp.want[i]))) {
						t.Fatalf("%s %s %s[%d] = %g, RefConv gives %g", s.Name, want.name, cmp.what, i, cmp.got[i], cmp.want[i])
					}
				}
			}
		}
	}
}
