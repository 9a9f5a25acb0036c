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

// expNeg returns e^d for -expCutoff <= d <= 0 to within a few ulps, deterministically: the
// Taylor series to r^12/12! of r = d - k ln 2 (relative error < 1e-16 for |r| <= 0.35) in
// Horner form, p = 1 + (r/n) p for n = 12 down to 1, written out, then scaled by 2^k.
func expNeg(d float64) float64 {
	k := math.Floor(float64(d*invLn2) + 0.5)
	r := float64(d-float64(k*ln2Hi)) - float64(k*ln2Lo) // |r| <= ln2/2
	p := 1 + float64(float64(r*inverse[12])*1)
	p = 1 + float64(float64(r*inverse[11])*p)
	p = 1 + float64(float64(r*inverse[10])*p)
	p = 1 + float64(float64(r*inverse[9])*p)
	p = 1 + float64(float64(r*inverse[8])*p)
	p = 1 + float64(float64(r*inverse[7])*p)
	p = 1 + float64(float64(r*inverse[6])*p)
	p = 1 + float64(float64(r*inverse[5])*p)
	p = 1 + float64(float64(r*inverse[4])*p)
	p = 1 + float64(float64(r*inverse[3])*p)
	p = 1 + float64(float64(r*inverse[2])*p)
	p = 1 + float64(float64(r*inverse[1])*p)
	// p * 2^k, exact: -58 <= k <= 0 and p in [0.7, 1.5], so the result is normal and the
	// product only changes the exponent (math.Ldexp's value, without its general cases).
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// expNeg4 is expNeg of each of d's four values, the four chains interleaved.
func expNeg4(d [4]float64) (e [4]float64) {
	var k, r, p [4]float64
	for j := range d {
		k[j] = math.Floor(float64(d[j]*invLn2) + 0.5)
		r[j] = float64(d[j]-float64(k[j]*ln2Hi)) - float64(k[j]*ln2Lo)
		p[j] = 1 + float64(float64(r[j]*inverse[12])*1)
	}
	for n := 11; n >= 1; n-- {
		c := inverse[n]
		p[0] = 1 + float64(float64(r[0]*c)*p[0])
		p[1] = 1 + float64(float64(r[1]*c)*p[1])
		p[2] = 1 + float64(float64(r[2]*c)*p[2])
		p[3] = 1 + float64(float64(r[3]*c)*p[3])
	}
	for j := range e {
		e[j] = p[j] * math.Float64frombits(uint64(int64(k[j])+1023)<<52)
	}
	return e
}

// tables holds the scratch of frequency computation for one subpixel.
type tables struct {
	d    [levels]float64 // logit - max, at least -expCutoff
	e    [levels]float64
	freq [levels]uint32
}

// quantize fills t.freq from logits (256 values). It returns the index of the mode and
// S, the sum of the e_i (for the caller's NLL bookkeeping).
func (t *tables) quantize(logits []float32) (mode int, sum float64, err error) {
	mx := logits[0]
	for i, v := range logits {
		if math.Float32bits(v)&0x7f80_0000 == 0x7f80_0000 { // exponent all ones: NaN or ±Inf
			return 0, 0, fmt.Errorf("codec: the model produced a non-finite logit (%v)", v)
		}
		if v > mx {
			mx, mode = v, i
		}
	}
	m := float64(mx)
	for i, v := range logits {
		t.d[i] = max(float64(v)-m, -expCutoff)
	}
	expNegs(t.e[:], t.d[:])
	for i, v := range logits {
		if float64(v)-m < -expCutoff {
			t.e[i] = 0
			continue
		}
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
