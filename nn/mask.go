package nn

import "fmt"

// MaskMode selects the centre rule of a PixelCNN mask.
//
// Mask A (first layer): input colour i feeds output colour j at the centre iff i < j.
// Mask B (every later layer): iff i <= j.
type MaskMode int

const (
	MaskA MaskMode = iota
	MaskB
)

func (m MaskMode) String() string {
	switch m {
	case MaskA:
		return "A"
	case MaskB:
		return "B"
	}
	return fmt.Sprintf("MaskMode(%d)", int(m))
}

// ConvSpec describes one masked convolution: a K x K kernel with "same" padding and stride 1,
// In input and Out output features split into Colors contiguous colour groups, and an
// optional fused ReLU epilogue. Name is used in error messages.
type ConvSpec struct {
	Name    string
	K       int
	In, Out int
	Colors  int
	Mode    MaskMode
	ReLU    bool
}

// Validate reports a clear error for an impossible spec (even kernel, widths not divisible
// by the colour count, non-positive sizes).
func (s ConvSpec) Validate() error {
	switch {
	case s.K < 1 || s.K%2 == 0:
		return fmt.Errorf("layer %q: kernel size %d must be odd and positive", s.Name, s.K)
	case s.Colors < 1:
		return fmt.Errorf("layer %q: colour count %d must be positive", s.Name, s.Colors)
	case s.In < 1 || s.Out < 1:
		return fmt.Errorf("layer %q: features in=%d out=%d must be positive", s.Name, s.In, s.Out)
	case s.In%s.Colors != 0:
		return fmt.Errorf("layer %q: input features %d not divisible by %d colours", s.Name, s.In, s.Colors)
	case s.Out%s.Colors != 0:
		return fmt.Errorf("layer %q: output features %d not divisible by %d colours", s.Name, s.Out, s.Colors)
	case s.Mode != MaskA && s.Mode != MaskB:
		return fmt.Errorf("layer %q: unknown mask mode %d", s.Name, int(s.Mode))
	}
	return nil
}

// WeightShape is the internal weight layout [K, K, In, Out] (HWIO): for one tap the weights
// are an In x Out matrix, so a tap of the convolution is one GEMM over NHWC activations.
func (s ConvSpec) WeightShape() []int { return []int{s.K, s.K, s.In, s.Out} }

// Taps is the number of kernel positions strictly before the centre (rows above it, and the
// positions left of it in the centre row): these are fully unmasked. The centre tap is
// partially masked and handled by CentreInLimit.
func (s ConvSpec) Taps() int { return (s.K*s.K - 1) / 2 }

// TapOffset returns the (dy, dx) offset of the t-th fully unmasked tap, t < Taps(), in raster
// order: dy in [-K/2, 0], dx in [-K/2, K/2] for dy < 0 and [-K/2, -1] for dy == 0.
func (s ConvSpec) TapOffset(t int) (dy, dx int) {
	r := s.K / 2
	return t/s.K - r, t%s.K - r
}

// CentreInLimit returns, for output colour group j, how many leading input features the
// centre tap may read: input feature f (colour f/(In/Colors)) feeds output colour j iff its
// colour is < j (mask A) or <= j (mask B). Because colour groups are contiguous, the allowed
// inputs are always a prefix, so the centre tap is a GEMM over a shorter inner dimension and
// the zero blocks are never touched.
func (s ConvSpec) CentreInLimit(j int) int {
	g := s.In / s.Colors
	if s.Mode == MaskA {
		return j * g
	}
	return (j + 1) * g
}

// MaskedFLOPs is the multiply-add count (times 2) of one forward pass over n*h*w positions,
// counting only unmasked weights: the work a kernel that skips masked taps must do.
func (s ConvSpec) MaskedFLOPs(n, h, w int) float64 {
	macs := s.Taps() * s.In * s.Out
	og := s.Out / s.Colors
	for j := 0; j < s.Colors; j++ {
		macs += s.CentreInLimit(j) * og
	}
	return 2 * float64(macs) * float64(n*h*w)
}

// Mask returns the seed's get_mask as a [K, K, In, Out] array of 0/1 values.
func Mask(s ConvSpec) ([]float32, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	k, in, out := s.K, s.In, s.Out
	m := make([]float32, k*k*in*out)
	for t := 0; t < s.Taps(); t++ {
		dy, dx := s.TapOffset(t)
		base := ((dy+k/2)*k + dx + k/2) * in * out
		for i := 0; i < in*out; i++ {
			m[base+i] = 1
		}
	}
	c := k / 2
	base := (c*k + c) * in * out
	og := out / s.Colors
	for o := 0; o < out; o++ {
		lim := s.CentreInLimit(o / og)
		for i := 0; i < lim; i++ {
			m[base+i*out+o] = 1
		}
	}
	return m, nil
}
