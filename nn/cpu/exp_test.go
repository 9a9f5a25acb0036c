package cpu

import (
	"math"
	"testing"
)

func TestExpNeg(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 200000; i++ {
		x := -87.0 * float64(i) / 200000
		got, want := float64(expNeg(float32(x))), math.Exp(float64(float32(x)))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	// float32 has 2^-24 ~ 6e-8 relative resolution; allow a few ulp.
	if worst > 3e-7 {
		t.Errorf("expNeg: worst relative error %g", worst)
	}
	for _, x := range []float32{-88, -100, float32(math.Inf(-1))} {
		if v := expNeg(x); v != 0 {
			t.Errorf("expNeg(%v) = %v, want 0", x, v)
		}
	}
	if expNeg(0) != 1 {
		t.Errorf("expNeg(0) = %v", expNeg(0))
	}
}
