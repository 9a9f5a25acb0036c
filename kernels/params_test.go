package kernels

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"pixelcnn/nn"
)

func TestEntries(t *testing.T) {
	const ptx = `
.visible .entry two_args(
	.param .u64 two_args_param_0,
	.param .f32 two_args_param_1
)
{
	.reg .b32 %r<4>;
	ld.param.u64 %rd1, [two_args_param_0];
}
.visible .entry no_args()
{
	ret;
}
.visible .entry   spaced  (
	.param .u32 spaced_param_0
)
{ }`
	got := Entries(ptx)
	want := map[string]int{"two_args": 2, "no_args": 0, "spaced": 1}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d params, want %d", k, got[k], n)
		}
	}
}

// TestEntriesOfBuiltPTX: where `make ptx` has run, every kernel of every module has a count,
// and two that the host launches with known argument lists agree with them.
func TestEntriesOfBuiltPTX(t *testing.T) {
	files, _ := filepath.Glob("ptx/*.ptx")
	if len(files) == 0 {
		t.Skip("no kernels/ptx (make ptx has not run): the inline PTX above is the test")
	}
	all := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for k, n := range Entries(string(b)) {
			all[k] = n
		}
	}
	// maskedconv_forward_v3: y, x, w, bias, 11 geometry ints (CONV_PARAMS: ... relu, region,
	// dil), vec, res, sum. maskedconv_at_v2: y, x, w, bias, 11 geometry ints, i, j, cursor,
	// cursor_colors, cursor_w, cache, cache_h, accumulate.
	// adam_multi_v2: the chunk table, the step scalars, beta1, beta2.
	// gate_backward_v1: dx, dy, x, rows, half, colors. class_bias_partial_v1: partial, dy,
	// per, f, slice_len, slices.
	for k, n := range map[string]int{"maskedconv_forward_v3": 18, "maskedconv_at_v2": 23, "adam_multi_v2": 4, "zero_multi_v1": 1,
		"gate_backward_v1": 6, "class_bias_partial_v1": 6} {
		if all[k] != n {
			t.Errorf("%s: %d params in the PTX, want %d", k, all[k], n)
		}
	}
}

// TestRegionCodes: the tap-region codes the conv kernels take (common.cuh's REGION_*, which
// cuda/conv.go's regionCodes passes) are nn.Region's values, one for each region.
func TestRegionCodes(t *testing.T) {
	src, err := os.ReadFile("common.cuh")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#define REGION_([A-Z_]+) (\d+)`).FindAllStringSubmatch(string(src), -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	want := map[string]nn.Region{"CAUSAL": nn.Causal, "ROW": nn.Row, "ABOVE": nn.Above, "ABOVE_ROW": nn.AboveAndRow, "FULL": nn.Full}
	if len(got) != len(want) {
		t.Errorf("common.cuh defines regions %v, want %d", got, len(want))
	}
	for name, r := range want {
		if c, ok := got[name]; !ok || c != int(r) {
			t.Errorf("REGION_%s = %d (defined %v), want nn.%v = %d", name, c, ok, r, int(r))
		}
	}
}
