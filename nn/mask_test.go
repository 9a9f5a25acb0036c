package nn

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// spatial returns the k x k pattern of the mask for input feature i and output feature o.
func spatial(m []float32, s ConvSpec, i, o int) [][]int {
	p := make([][]int, s.K)
	for y := range p {
		p[y] = make([]int, s.K)
		for x := range p[y] {
			p[y][x] = int(m[((y*s.K+x)*s.In+i)*s.Out+o])
		}
	}
	return p
}

// centre returns the In x Out 0/1 matrix at the kernel centre.
func centre(m []float32, s ConvSpec) [][]int {
	c := s.K / 2
	p := make([][]int, s.In)
	for i := range p {
		p[i] = make([]int, s.Out)
		for o := range p[i] {
			p[i][o] = int(m[((c*s.K+c)*s.In+i)*s.Out+o])
		}
	}
	return p
}

func TestMaskSpatialTruthTables(t *testing.T) {
	tests := []struct {
		name string
		spec ConvSpec
		want [][]int // pattern for input 0 -> output 0
	}{
		{"1x1 A c1", ConvSpec{K: 1, In: 1, Out: 1, Colors: 1, Mode: MaskA}, [][]int{{0}}},
		{"1x1 B c1", ConvSpec{K: 1, In: 1, Out: 1, Colors: 1, Mode: MaskB}, [][]int{{1}}},
		{"3x3 A c1", ConvSpec{K: 3, In: 2, Out: 2, Colors: 1, Mode: MaskA}, [][]int{
			{1, 1, 1},
			{1, 0, 0},
			{0, 0, 0}}},
		{"3x3 B c1", ConvSpec{K: 3, In: 2, Out: 2, Colors: 1, Mode: MaskB}, [][]int{
			{1, 1, 1},
			{1, 1, 0},
			{0, 0, 0}}},
		{"7x7 A c1", ConvSpec{K: 7, In: 1, Out: 4, Colors: 1, Mode: MaskA}, [][]int{
			{1, 1, 1, 1, 1, 1, 1},
			{1, 1, 1, 1, 1, 1, 1},
			{1, 1, 1, 1, 1, 1, 1},
			{1, 1, 1, 0, 0, 0, 0},
			{0, 0, 0, 0, 0, 0, 0},
			{0, 0, 0, 0, 0, 0, 0},
			{0, 0, 0, 0, 0, 0, 0}}},
		{"7x7 B c1", ConvSpec{K: 7, In: 4, Out: 4, Colors: 1, Mode: MaskB}, [][]int{
			{1, 1, 1, 1, 1, 1, 1},
			{1, 1, 1, 1, 1, 1, 1},
			{1, 1, 1, 1, 1, 1, 1},
			{1, 1, 1, 1, 0, 0, 0},
			{0, 0, 0, 0, 0, 0, 0},
			{0, 0, 0, 0, 0, 0, 0},
			{0, 0, 0, 0, 0, 0, 0}}},
		// C=3: input 0 is R, output 0 is R: the centre is 0 under A, 1 under B.
		{"3x3 A c3 R->R", ConvSpec{K: 3, In: 3, Out: 6, Colors: 3, Mode: MaskA}, [][]int{
			{1, 1, 1},
			{1, 0, 0},
			{0, 0, 0}}},
		{"3x3 B c3 R->R", ConvSpec{K: 3, In: 6, Out: 6, Colors: 3, Mode: MaskB}, [][]int{
			{1, 1, 1},
			{1, 1, 0},
			{0, 0, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Mask(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, spatial(m, tc.spec, 0, 0)); diff != "" {
				t.Errorf("pattern (-want +got):\n%s", diff)
			}
			// Off the centre, every input/output pair has the same pattern.
			c := tc.spec.K / 2
			for i := 0; i < tc.spec.In; i++ {
				for o := 0; o < tc.spec.Out; o++ {
					p := spatial(m, tc.spec, i, o)
					p[c][c] = tc.want[c][c]
					if diff := cmp.Diff(tc.want, p); diff != "" {
						t.Fatalf("in %d out %d off-centre pattern differs:\n%s", i, o, diff)
					}
				}
			}
		})
	}
}

func TestMaskCentreBlockTriangular(t *testing.T) {
	// C=3, F=6: features 0-1 are R, 2-3 G, 4-5 B. Rows: input feature, columns: output.
	tests := []struct {
		mode MaskMode
		k    int
		want [][]int
	}{
		{MaskA, 3, [][]int{
			{0, 0, 1, 1, 1, 1},
			{0, 0, 1, 1, 1, 1},
			{0, 0, 0, 0, 1, 1},
			{0, 0, 0, 0, 1, 1},
			{0, 0, 0, 0, 0, 0},
			{0, 0, 0, 0, 0, 0}}},
		{MaskB, 1, [][]int{
			{1, 1, 1, 1, 1, 1},
			{1, 1, 1, 1, 1, 1},
			{0, 0, 1, 1, 1, 1},
			{0, 0, 1, 1, 1, 1},
			{0, 0, 0, 0, 1, 1},
			{0, 0, 0, 0, 1, 1}}},
		{MaskB, 7, [][]int{
			{1, 1, 1, 1, 1, 1},
			{1, 1, 1, 1, 1, 1},
			{0, 0, 1, 1, 1, 1},
			{0, 0, 1, 1, 1, 1},
			{0, 0, 0, 0, 1, 1},
			{0, 0, 0, 0, 1, 1}}},
	}
	for _, tc := range tests {
		s := ConvSpec{K: tc.k, In: 6, Out: 6, Colors: 3, Mode: tc.mode}
		m, err := Mask(s)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, centre(m, s)); diff != "" {
			t.Errorf("%v k=%d centre (-want +got):\n%s", tc.mode, tc.k, diff)
		}
	}
	// The input layer: 3 image channels to 6 features, mask A: R feeds G and B, G feeds B.
	s := ConvSpec{K: 7, In: 3, Out: 6, Colors: 3, Mode: MaskA}
	m, _ := Mask(s)
	want := [][]int{
		{0, 0, 1, 1, 1, 1},
		{0, 0, 0, 0, 1, 1},
		{0, 0, 0, 0, 0, 0}}
	if diff := cmp.Diff(want, centre(m, s)); diff != "" {
		t.Errorf("input layer centre (-want +got):\n%s", diff)
	}
}

func TestMaskFLOPsCountLiveTaps(t *testing.T) {
	tests := []struct {
		spec ConvSpec
		macs int // live weights
	}{
		{ConvSpec{K: 3, In: 32, Out: 32, Colors: 1, Mode: MaskB}, 5 * 32 * 32},
		{ConvSpec{K: 7, In: 1, Out: 64, Colors: 1, Mode: MaskA}, 24 * 64},
		{ConvSpec{K: 1, In: 6, Out: 6, Colors: 3, Mode: MaskB}, 2 * (2 + 4 + 6)},
	}
	for _, tc := range tests {
		m, _ := Mask(tc.spec)
		live := 0
		for _, v := range m {
			live += int(v)
		}
		if live != tc.macs || int(tc.spec.MaskedFLOPs(1, 1, 1)) != 2*tc.macs {
			t.Errorf("%+v: mask has %d live weights, FLOPs %v; want %d", tc.spec, live, tc.spec.MaskedFLOPs(1, 1, 1), tc.macs)
		}
	}
}

func TestConvSpecErrors(t *testing.T) {
	tests := []struct {
		spec ConvSpec
		want string
	}{
		{ConvSpec{Name: "l1", K: 4, In: 3, Out: 3, Colors: 1}, "odd"},
		{ConvSpec{Name: "l2", K: 3, In: 4, Out: 6, Colors: 3}, "input features 4 not divisible by 3"},
		{ConvSpec{Name: "l3", K: 3, In: 6, Out: 8, Colors: 3}, "output features 8 not divisible by 3"},
		{ConvSpec{Name: "l4", K: 3, In: 0, Out: 3, Colors: 1}, "positive"},
		{ConvSpec{Name: "l5", K: 3, In: 3, Out: 3, Colors: 0}, "colour count"},
	}
	for _, tc := range tests {
		_, err := Mask(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.spec.Name) {
			t.Errorf("%+v: error %v, want one naming %q and containing %q", tc.spec, err, tc.spec.Name, tc.want)
		}
	}
}

func TestPhiloxKnownAnswer(t *testing.T) {
	// Random123's known-answer vectors for philox4x32-10.
	tests := []struct {
		key [2]uint32
		ctr [4]uint32
		out [4]uint32
	}{
		{[2]uint32{0, 0}, [4]uint32{0, 0, 0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, tc := range tests {
		if got := Philox4x32(tc.key, tc.ctr); got != tc.out {
			t.Errorf("Philox4x32(%x, %x) = %x, want %x", tc.key, tc.ctr, got, tc.out)
		}
	}
}
