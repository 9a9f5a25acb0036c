package codec

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestExpNeg(t *testing.T) {
	for d := -expCutoff; d <= 0; d++ {
		for _, x := range []float64{float64(d), float64(d) + 0.3, float64(d) + 0.5, float64(d) + 0.77} {
			if x > 0 {
				continue
			}
			got, want := expNeg(x), math.Exp(x)
			if math.Abs(got-want) > 4e-16*want {
				t.Errorf("expNeg(%v) = %v, math.Exp %v", x, got, want)
			}
		}
	}
}

// randomLogits are a trained model's kind of logits: one value far ahead, a spread of others.
func randomLogits(rng *rand.Rand, spread float64) []float32 {
	l := make([]float32, 256)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * spread)
	}
	l[rng.IntN(256)] += float32(spread * 4)
	return l
}

func TestQuantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var tb tables
	for trial := 0; trial < 2000; trial++ {
		logits := randomLogits(rng, []float64{0.01, 1, 5, 30}[trial%4])
		mode, _, err := tb.quantize(logits)
		if err != nil {
			t.Fatal(err)
		}
		sum := uint64(0)
		for i, f := range tb.freq {
			if f < 1 {
				t.Fatalf("trial %d: symbol %d has frequency 0", trial, i)
			}
			sum += uint64(f)
			if logits[i] > logits[mode] {
				t.Fatalf("trial %d: mode %d is not the largest logit", trial, mode)
			}
		}
		if sum != FreqTotal {
			t.Fatalf("trial %d: table sums to %d", trial, sum)
		}
		// Each symbol's frequency is 1 + the floor of its share (the mode: plus up to 256).
		p := softmax(logits)
		for i, f := range tb.freq {
			ideal := p[i] * (FreqTotal - 256)
			slack := 1e-6
			if i == mode {
				slack = 256
			}
			if d := float64(f) - 1 - ideal; d <= -1-1e-6 || d > slack {
				t.Fatalf("trial %d: symbol %d frequency %d for probability %g", trial, i, f, p[i])
			}
		}
	}
	if _, _, err := tb.quantize(append(make([]float32, 255), float32(math.NaN()))); err == nil {
		t.Error("a NaN logit: no error")
	}
}

func softmax(l []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range l {
		mx = max(mx, float64(v))
	}
	p, s := make([]float64, len(l)), 0.0
	for i, v := range l {
		p[i] = math.Exp(float64(v) - mx)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// TestQuantizeGolden pins the tables of fixed logits: a change of the quantization rule, or a
// platform computing it differently, makes files undecodable, and fails here first.
func TestQuantizeGolden(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	h := sha256.New()
	var tb tables
	for trial := 0; trial < 200; trial++ {
		if _, _, err := tb.quantize(randomLogits(rng, []float64{0.01, 1, 5, 30}[trial%4])); err != nil {
			t.Fatal(err)
		}
		for _, f := range tb.freq {
			h.Write(binary.LittleEndian.AppendUint32(nil, f))
		}
	}
	const want = "0b5d93682739d98cb1650e137fd057eb0795c655d2cf62f11a0aedc5b089177b"
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want {
		t.Errorf("tables hash %s, want %s", got, want)
	}
}

// expNegLoop is expNeg as first written (a loop and math.Ldexp): the written-out form must
// give its bits, or files coded before would not decode.
func expNegLoop(d float64) float64 {
	k := math.Floor(float64(d*invLn2) + 0.5)
	r := float64(d-float64(k*ln2Hi)) - float64(k*ln2Lo)
	p := 1.0
	for n := 12; n >= 1; n-- {
		p = 1 + float64(float64(r*inverse[n])*p)
	}
	return math.Ldexp(p, int(k))
}

func TestExpNegMatchesLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	ds := []float64{0, math.Copysign(0, -1), -expCutoff, -1e-300, -0.5 * math.Ln2, -math.Ln2, -39.999999}
	for range 1_000_000 {
		ds = append(ds, -expCutoff*rng.Float64(), -rng.ExpFloat64())
	}
	for _, d := range ds {
		if d < -expCutoff {
			continue
		}
		if got, want := expNeg(d), expNegLoop(d); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("expNeg(%v) = %v, the loop's %v", d, got, want)
		}
	}
}

// BenchmarkQuantize times one subpixel's table from 256 logits (the codec does it for every
// subpixel of every image, encoding and decoding).
func BenchmarkQuantize(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := randomLogits(rng, 5)
	var tb tables
	for b.Loop() {
		if _, _, err := tb.quantize(logits); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExpNegsMatchesScalar: the vectorised expNegs gives expNeg's bits lane by lane, at every
// length (the scalar tail included).
func TestExpNegsMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	d := []float64{0, math.Copysign(0, -1), -expCutoff, -1e-300, -0.5 * math.Ln2, -math.Ln2}
	for range 400_000 {
		d = append(d, -expCutoff*rng.Float64(), -rng.ExpFloat64(), -1e-8*rng.Float64())
	}
	for _, n := range []int{len(d), 1, 3, 4, 5, 256} {
		e := make([]float64, n)
		expNegs(e, d[:n])
		for k, v := range e {
			if want := expNeg(d[k]); math.Float64bits(v) != math.Float64bits(want) {
				t.Fatalf("n=%d: expNegs(%v) = %v, expNeg %v", n, d[k], v, want)
			}
		}
	}
}
