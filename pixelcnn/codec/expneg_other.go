//go:build !amd64 || purego

package codec

// expNegs sets e[k] = expNeg(d[k]) for every k.
func expNegs(e, d []float64) {
	d = d[:len(e)]
	for k := range e {
		e[k] = expNeg(d[k])
	}
}
