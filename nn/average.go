package nn

import (
	"fmt"
	"math"
)

// Averager is an optional extension of Backend: Lerp moves every tensor of dst towards its
// counterpart in src, dst += w * (src - dst) elementwise, each operation rounded to float32
// on its own (no fused multiply-add), so that every backend computes LerpHost's bits. It is
// the update of the trainer's Polyak average of the weights; a backend without it is served
// through the host.
type Averager interface {
	Lerp(dst, src []*Tensor, w float32) error
}

// LerpHost is the reference of Averager.Lerp on one pair of host slices of equal length.
func LerpHost(dst, src []float32, w float32) {
	for i, s := range src {
		d := dst[i]
		dst[i] = d + float32(w*float32(s-d)) // the conversions keep each product rounded
	}
}

// CheckLerp validates a Lerp call: as many dst as src tensors, pairwise of one shape, none
// nil, and a weight in [0, 1].
func CheckLerp(dst, src []*Tensor, w float32) error {
	if len(dst) != len(src) {
		return fmt.Errorf("lerp: %d destination tensors for %d sources", len(dst), len(src))
	}
	if !(w >= 0 && w <= 1) || math.IsNaN(float64(w)) {
		return fmt.Errorf("lerp: weight %v must be in [0, 1]", w)
	}
	for i := range dst {
		if err := CheckSameShape(fmt.Sprintf("lerp: tensor %d", i), dst[i], src[i]); err != nil {
			return err
		}
	}
	return nil
}
