//go:build amd64 && !purego

package codec

import "pixelcnn/nn/cpu/isa"

// expNegAVX2 sets e[k] = expNeg(d[k]) for k < n (n > 0, a multiple of 4); expneg_amd64.s.
//
//go:noescape
func expNegAVX2(e, d *float64, n int)

// expNegs sets e[k] = expNeg(d[k]) for every k, four at a time where the CPU has AVX2 (the
// same IEEE operations per lane, so the same bits as the Go code on any machine).
func expNegs(e, d []float64) {
	d = d[:len(e)]
	n := 0
	if isa.Active() >= isa.AVX2 {
		n = len(e) &^ 3
		if n > 0 {
			expNegAVX2(&e[0], &d[0], n)
		}
	}
	for k := n; k < len(e); k++ {
		e[k] = expNeg(d[k])
	}
}
