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

// TestBF16Operand: BF16Operand is nn.RoundBF16 with a subnormal result read as a zero of its
// sign; and the bounds grow with K as documented.
func TestBF16Operand(t *testing.T) {
	for _, tc := range []struct{ in, want uint32 }{
		{0x3f808001, 0x3f810000}, // rounded as RoundBF16
		{0x3f808000, 0x3f800000}, // tie to even
		{0x00800000, 0x00800000}, // smallest normal kept
		{0x007fffff, 0x00800000}, // rounds up to the smallest normal: kept
		{0x00400000, 0x00000000}, // subnormal bf16: zero
		{0x80018000, 0x80000000}, // negative subnormal: -0
	} {
		if got := math.Float32bits(BF16Operand(math.Float32frombits(tc.in))); got != tc.want {
			t.Errorf("BF16Operand(%#08x) = %#08x, want %#08x", tc.in, got, tc.want)
		}
	}
	if b := BF16AccumBound(769); b < 9e-5 || b > 9.4e-5 {
		t.Errorf("BF16AccumBound(769) = %.3g, want about 9.2e-5", b)
	}
	if BF16ProductBound < 2*0x1p-8 {
		t.Errorf("BF16ProductBound %.3g below 2^-7", BF16ProductBound)
	}
}
