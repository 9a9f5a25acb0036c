package vec

import (
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn/cpu/isa"
)

// gateInputs are n values of a and g: normal, a wide range of magnitudes, and specials.
func gateInputs(r *rand.Rand, n int) (a, g []float32) {
	a, g = make([]float32, n), make([]float32, n)
	for k := range a {
		switch r.IntN(4) {
		case 0:
			a[k], g[k] = float32(r.NormFloat64()), float32(r.NormFloat64())
		case 1:
			a[k], g[k] = float32(r.NormFloat64()*30), float32(r.NormFloat64()*100)
		case 2:
			a[k], g[k] = float32(r.NormFloat64()*1e-4), float32(r.NormFloat64()*1e-6)
		default:
			a[k], g[k] = specials[r.IntN(len(specials))], specials[r.IntN(len(specials))]
		}
	}
	return a, g
}

// sameOrNaN: equal bits, or both NaN (the two paths may carry different NaN payloads).
func sameOrNaN(x, y float32) bool {
	return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y
}

// TestGateMatchesGo: the assembly gives the Go loop's bits, at every length (tails included).
func TestGateMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range lengths {
		a, g := gateInputs(r, n)
		dy := make([]float32, n)
		da0, dg0 := make([]float32, n), make([]float32, n)
		for k := range dy {
			dy[k], da0[k], dg0[k] = float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		want, wda, wdg := make([]float32, n), append([]float32(nil), da0...), append([]float32(nil), dg0...)
		gateGo(want, a, g)
		gateGradGo(wda, wdg, dy, a, g)
		paths(t, func(t *testing.T) {
			y, da, dg := make([]float32, n), append([]float32(nil), da0...), append([]float32(nil), dg0...)
			Gate(y, a, g)
			GateGrad(da, dg, dy, a, g)
			for k := range y {
				if !sameOrNaN(y[k], want[k]) || !sameOrNaN(da[k], wda[k]) || !sameOrNaN(dg[k], wdg[k]) {
					t.Fatalf("n=%d k=%d a=%g g=%g: y %g da %g dg %g, Go %g %g %g", n, k, a[k], g[k], y[k], da[k], dg[k], want[k], wda[k], wdg[k])
				}
			}
		})
	}
}

// TestGateAccuracy: against float64 tanh and sigmoid, the gate and both gradients are within
// a few float32 ulps relative, plus the 1e-7 absolute error of tanh near 0; signs, zeros,
// infinities and NaN as the math says.
func TestGateAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	a, g := gateInputs(r, 20000)
	for k := range a {
		if a[k] != a[k] || g[k] != g[k] {
			continue
		}
		th, sg := math.Tanh(float64(a[k])), 1/(1+math.Exp(-float64(g[k])))
		ft, fs := TanhSigmoid(a[k], g[k])
		if d := math.Abs(float64(ft) - th); d > 1e-7+4e-7*math.Abs(th) {
			t.Fatalf("tanh(%g) = %g, want %g", a[k], ft, th)
		}
		if d := math.Abs(float64(fs) - sg); d > 4e-7*sg+0x1p-125 { // ExpNeg flushes below -87.3
			t.Fatalf("sigmoid(%g) = %g, want %g", g[k], fs, sg)
		}
		if math.Signbit(float64(ft)) != math.Signbit(float64(a[k])) {
			t.Fatalf("tanh(%g) = %g: sign", a[k], ft)
		}
	}
	for _, c := range []struct{ a, g, t, s float32 }{
		{0, 0, 0, 0.5}, {float32(math.Inf(1)), float32(math.Inf(1)), 1, 1},
		{float32(math.Inf(-1)), float32(math.Inf(-1)), -1, 0}, {100, -200, 1, 0},
	} {
		if ft, fs := TanhSigmoid(c.a, c.g); ft != c.t || fs != c.s {
			t.Errorf("TanhSigmoid(%g, %g) = %g, %g, want %g, %g", c.a, c.g, ft, fs, c.t, c.s)
		}
	}
	if ft, fs := TanhSigmoid(float32(math.NaN()), float32(math.NaN())); ft == ft || fs == fs {
		t.Errorf("TanhSigmoid(NaN, NaN) = %g, %g, want NaN", ft, fs)
	}
}

// BenchmarkGate times Gate and GateBackward's kernel on 32K elements (L2-resident) at each
// assembly level this CPU has, the levels interleaved under -count.
func BenchmarkGate(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	n := 32 * 1024
	a, g := make([]float32, n), make([]float32, n)
	for i := range a {
		a[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	y, dy, da, dg := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for _, l := range []isa.Level{isa.AVX2, isa.AVX512} {
		b.Run(l.String(), func(b *testing.B) {
			old := isa.Active()
			if isa.Set(l) != nil {
				b.Skip("this CPU lacks it")
			}
			defer isa.Set(old)
			for i := 0; i < b.N; i++ {
				Gate(y, a, g)
				GateGrad(da, dg, dy, a, g)
			}
		})
	}
}
