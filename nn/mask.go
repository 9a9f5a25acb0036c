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

// Region says which kernel positions a convolution reads, relative to its centre (the
// current pixel). The zero value is the seed's causal half-plane; the others are the tap sets
// of the gated PixelCNN's two stacks (van den Oord et al. 2016b). In raster order the fully
// live positions of every region are a prefix of the kernel (Taps), followed, for the regions
// with a colour rule at the centre (HasCentre), by the centre: the live weights are always
// one contiguous [(Taps+centre)*In, Out] block of the [KH, K, In, Out] layout.
type Region int

const (
	// Causal: K x K, the rows above the centre, the positions left of it in its row, and the
	// centre under Mode's colour rule (the seed's masks A and B).
	Causal Region = iota
	// Row: 1 x K, the positions left of the centre and the centre under Mode's colour rule
	// (the horizontal stack).
	Row
	// Above: K x K, only the rows above the centre row (the vertical stack's input layer).
	Above
	// AboveAndRow: K x K, the rows above and the whole centre row, the centre unmasked (the
	// vertical stack: its input never holds the current row).
	AboveAndRow
	// Full: an unmasked 1 x 1 convolution (the vertical-to-horizontal link).
	Full
)

var regionNames = [...]string{"causal", "row", "above", "above+row", "full"}

func (r Region) String() string {
	if r >= 0 && int(r) < len(regionNames) {
		return regionNames[r]
	}
	return fmt.Sprintf("Region(%d)", int(r))
}

// ConvSpec describes one masked convolution: a KH x K kernel (KH is K, or 1 for Region Row)
// with "same" padding, stride 1 and the given dilation, In input and Out output features
// split into Colors contiguous colour groups, the live taps of Region (the seed's causal
// half-plane by default), and an optional fused ReLU epilogue. Name is used in error messages.
type ConvSpec struct {
	Name     string
	K        int
	In, Out  int
	Colors   int
	Mode     MaskMode
	ReLU     bool
	Region   Region
	Dilation int // 0 and 1 both mean none
}

// Validate reports a clear error for an impossible spec (even kernel, widths not divisible
// by the colour count, non-positive sizes, a region that reads nothing).
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
	case s.Region < Causal || s.Region > Full:
		return fmt.Errorf("layer %q: unknown tap region %d", s.Name, int(s.Region))
	case s.Dilation < 0:
		return fmt.Errorf("layer %q: dilation %d must be >= 1", s.Name, s.Dilation)
	case s.Region == Above && s.K < 3:
		return fmt.Errorf("layer %q: a rows-above conv of size %d reads nothing (want K >= 3)", s.Name, s.K)
	case s.Region == Full && s.K != 1:
		return fmt.Errorf("layer %q: an unmasked conv must be 1x1, not %dx%d (it would read rows below)", s.Name, s.K, s.K)
	}
	return nil
}

// KH is the kernel's height: 1 for Region Row, else K.
func (s ConvSpec) KH() int {
	if s.Region == Row {
		return 1
	}
	return s.K
}

// Dil is the dilation, at least 1.
func (s ConvSpec) Dil() int { return max(s.Dilation, 1) }

// SeedTaps reports whether the spec is one of the seed network's convolutions (a K x K causal
// half-plane, no dilation): the tap sets the CUDA kernels implement.
func (s ConvSpec) SeedTaps() bool { return s.Region == Causal && s.Dil() == 1 }

// WeightShape is the internal weight layout [KH, K, In, Out] (HWIO): for one tap the weights
// are an In x Out matrix, so a tap of the convolution is one GEMM over NHWC activations.
func (s ConvSpec) WeightShape() []int { return []int{s.KH(), s.K, s.In, s.Out} }

// Taps is the number of fully unmasked kernel positions, which come first in raster order:
// for Causal the rows above the centre and the positions left of it in the centre row. The
// centre tap of a region with a colour rule (HasCentre) is the next position and is handled
// by CentreInLimit.
func (s ConvSpec) Taps() int {
	switch s.Region {
	case Row:
		return s.K / 2
	case Above:
		return s.K / 2 * s.K
	case AboveAndRow:
		return (s.K/2 + 1) * s.K
	case Full:
		return s.K * s.K
	}
	return (s.K*s.K - 1) / 2
}

// HasCentre reports whether the centre is a partially masked tap under Mode's colour rule
// (Causal and Row); the other regions' centre is either fully live (one of Taps) or unread.
func (s ConvSpec) HasCentre() bool { return s.Region == Causal || s.Region == Row }

// CentreWidth is the number of im2col columns the centre tap takes: In when HasCentre, else 0.
func (s ConvSpec) CentreWidth() int {
	if s.HasCentre() {
		return s.In
	}
	return 0
}

// TapOffset returns the (dy, dx) offset of the t-th fully unmasked tap, t < Taps(), in raster
// order, scaled by the dilation. dy <= 0 always: no region reads a row below the centre.
func (s ConvSpec) TapOffset(t int) (dy, dx int) {
	d := s.Dil()
	return (t/s.K - s.KH()/2) * d, (t%s.K - s.K/2) * d
}

// CentreInLimit returns, for output colour group j, how many leading input features the
// centre tap may read: input feature f (colour f/(In/Colors)) feeds output colour j iff its
// colour is < j (mask A) or <= j (mask B); 0 for a region without a centre rule. Because
// colour groups are contiguous, the allowed inputs are always a prefix, so the centre tap is
// a GEMM over a shorter inner dimension and the zero blocks are never touched.
func (s ConvSpec) CentreInLimit(j int) int {
	if !s.HasCentre() {
		return 0
	}
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

// Mask returns the mask of s as a [KH, K, In, Out] array of 0/1 values (for Causal, the
// seed's get_mask).
func Mask(s ConvSpec) ([]float32, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	in, out := s.In, s.Out
	m := make([]float32, s.KH()*s.K*in*out)
	// The live taps are the first Taps() positions of the raster order.
	for i := 0; i < s.Taps()*in*out; i++ {
		m[i] = 1
	}
	if !s.HasCentre() {
		return m, nil
	}
	base := s.Taps() * in * out
	og := out / s.Colors
	for o := 0; o < out; o++ {
		lim := s.CentreInLimit(o / og)
		for i := 0; i < lim; i++ {
			m[base+i*out+o] = 1
		}
	}
	return m, nil
}
