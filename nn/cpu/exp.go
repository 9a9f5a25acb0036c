package cpu

import "math"

// expNeg returns e^x for x <= 0 in float32 (Cephes' expf: range reduction x = k ln2 + r,
// |r| <= ln2/2, and a degree-6 polynomial; about 1 ulp). The softmax only ever takes the exp
// of logit - max <= 0, and math.Exp's float64 path was a seventh of a training step.
func expNeg(x float32) float32 {
	if x < -87.3 {
		return 0
	}
	k := float32(math.Floor(float64(x*1.44269504088896341 + 0.5)))
	r := x - k*0.693359375 + k*2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	e := p*r*r + r + 1
	return e * math.Float32frombits(uint32(int32(k)+127)<<23)
}
