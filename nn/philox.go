package nn

import "math/bits"

// Philox4x32 is the counter-based generator of Salmon et al. (2011), 10 rounds, as in
// cuRAND and Random123. Being a pure function of (key, counter) it gives every backend, and
// every sampler, the same random stream with no state to carry: the GPU kernel computes the
// same words from the same inputs.
func Philox4x32(key [2]uint32, ctr [4]uint32) [4]uint32 {
	const (
		m0 = 0xD2511F53
		m1 = 0xCD9E8D57
		w0 = 0x9E3779B9
		w1 = 0xBB67AE85
	)
	for r := 0; r < 10; r++ {
		hi0, lo0 := bits.Mul32(m0, ctr[0])
		hi1, lo1 := bits.Mul32(m1, ctr[2])
		ctr = [4]uint32{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0}
		key[0] += w0
		key[1] += w1
	}
	return ctr
}

// Uniform returns a float32 in [0, 1) with 24 random bits, a pure function of the seed, a
// counter (e.g. the subpixel being sampled) and a row (e.g. the image in the batch).
func Uniform(seed, counter uint64, row int) float32 {
	out := Philox4x32([2]uint32{uint32(seed), uint32(seed >> 32)},
		[4]uint32{uint32(counter), uint32(counter >> 32), uint32(row), 0})
	return float32(out[0]>>8) * (1.0 / (1 << 24))
}
