package codec

import (
	"fmt"
	"math"
)

// From logits to integer frequencies.
//
// Each subpixel's 256 float32 logits (temperature 1) become a table of 256 integer
// frequencies summing to FreqTotal = 2^24, every one >= 1:
//
//	d_i = float64(x_i) - float64(max_j x_j)          (exact)
//	e_i = exp(d_i) by expNeg below, or 0 when d_i < -expCutoff
//	S   = e_0 + e_1 + ... + e_255                    (in index order)
//	f_i = 1 + floor(e_i * ((FreqTotal-256) / S))
//	the mode (largest logit, lowest index on ties) also gets FreqTotal - Σ f_i (0..256)
//
// Why 2^24. The floor of 1 per symbol takes at most 255/2^24 of the probability from the
// likely symbols, under 2.2e-5 bits per subpixel, which matters on MNIST where a background
// pixel costs the model ~0.001 bits; the largest-remainder step is replaced by "the rest to
// the mode" because sorting 256 remainders per subpixel would cost more than the network
// pass, and the mode's relative error is then below 256/2^24. The range coder keeps its range
// >= 2^56, so range/2^24 >= 2^32 and its own truncation loss is negligible.
//
// Determinism. Encoder and decoder must get bit-identical tables from bit-identical logits on
// any machine. Go's math.Exp is assembly on some architectures and may differ in the last bit
// between them, and the compiler may fuse x*y+z into an FMA on some architectures, so expNeg
// uses only +, -, * and / (IEEE-754, correctly rounded everywhere), with every product
// wrapped in an explicit float64 conversion, which the Go spec says prevents fusion.

// FreqBits is log2 of the frequency tables' total.
const FreqBits = 24

// FreqTotal is the frequency tables' total.
const FreqTotal = 1 << FreqBits

// expCutoff: exp(-40) ≈ 4e-18 is far below 1/FreqTotal, so such symbols get the floor of 1.
const expCutoff = 40

// Cody–Waite split of ln 2 (ln2Hi has trailing zero bits so k*ln2Hi is exact for |k| < 2^11).
const (
	ln2Hi  = 6.93147180369123816490e-01
	ln2Lo  = 1.90821492927058770002e-10
	invLn2 = 1.44269504088896338700e+00
)

// inverse[n] = 1/n, rounded once by the compiler.
var inverse = [13]float64{0, 1, 1.0 / 2, 1.0 / 3, 1.0 / 4, 1.0 / 5, 1.0 / 6, 1.0 / 7, 1.0 / 8, 1.0 / 9, 1.0 / 10, 1.0 / 11, 1.0 / 12}

// expNeg returns e^d for -expCutoff <= d <= 0 to within a few ulps, deterministically.
func expNeg(d float64) float64 {
	k := math.Floor(float64(d*invLn2) + 0.5)
	r := float64(d-float64(k*ln2Hi)) - float64(k*ln2Lo) // |r| <= ln2/2
	// Taylor series to r^12/12! (relative error < 1e-16 for |r| <= 0.35), Horner form.
	p := 1.0
	for n := 12; n >= 1; n-- {
		p = 1 + float64(float64(r*inverse[n])*p)
	}
	return math.Ldexp(p, int(k)) // exact: k >= -58, no subnormals
}

// tables holds the scratch of frequency computation for one subpixel.
type tables struct {
	e    [levels]float64
	freq [levels]uint32
}

// quantize fills t.freq from logits (256 values). It returns the index of the mode and
// S, the sum of the e_i (for the caller's NLL bookkeeping).
func (t *tables) quantize(logits []float32) (mode int, sum float64, err error) {
	mx := logits[0]
	for i, v := range logits {
		if v > mx {
			mx, mode = v, i
		}
	}
	for _, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, 0, fmt.Errorf("codec: the model produced a non-finite logit (%v)", v)
		}
	}
	m := float64(mx)
	for i, v := range logits {
		d := float64(v) - m
		if d < -expCutoff {
			t.e[i] = 0
			continue
		}
		t.e[i] = expNeg(d)
		sum += t.e[i]
	}
	scale := float64(FreqTotal-levels) / sum
	used := uint32(0)
	for i, e := range t.e {
		f := 1 + uint32(float64(e*scale))
		t.freq[i] = f
		used += f
	}
	if used > FreqTotal { // cannot happen: Σ floor(e_i*scale) <= FreqTotal-256 (see above)
		return 0, 0, fmt.Errorf("codec: frequency table sums to %d > %d", used, FreqTotal)
	}
	t.freq[mode] += FreqTotal - used
	return mode, sum, nil
}

// start returns the cumulative frequency of symbol s.
func (t *tables) start(s int) uint64 {
	var c uint64
	for _, f := range t.freq[:s] {
		c += uint64(f)
	}
	return c
}

// find returns the symbol whose interval holds target and its start.
func (t *tables) find(target uint64) (sym int, start uint64) {
	for i, f := range t.freq {
		if target < start+uint64(f) {
			return i, start
		}
		start += uint64(f)
	}
	return 255, start - uint64(t.freq[255]) // unreachable for target < FreqTotal
}
