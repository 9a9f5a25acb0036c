package cpu

import (
	"math"
	"testing"

	"pixelcnn/nn/cpu/vec"
)

// TestVecExpNegMatches checks that vec.ExpNeg (and so vec.ExpNegSum, which the softmax
// uses) gives expNeg's bits, so the loss and its gradient match SampleCategorical's exp.
func TestVecExpNegMatches(t *testing.T) {
	check := func(x float32) {
		if got, want := vec.ExpNeg(x), expNeg(x); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("vec.ExpNeg(%v) = %v, expNeg = %v", x, got, want)
		}
	}
	for i := 0; i <= 1<<20; i++ {
		check(float32(-90 * float64(i) / (1 << 20)))
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), -87.3, 1, 50, 89, 200,
		float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN()), -1e-40, -3e38} {
		check(x)
	}
	// Every float32 from -0 down to -90 with one of every 64 bit patterns.
	for b := uint32(0x80000000); b <= math.Float32bits(-90); b += 64 {
		check(math.Float32frombits(b))
	}
}
