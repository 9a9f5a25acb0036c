package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
)

// tinyShape: batch 2 of 4x4x3 images (M = 32 positions), a residual stream of 8 and one
// 3x3 mask-B layer with 6 inputs and outputs. Live weights of that layer: 4 full taps of
// 6x6 = 144, plus the centre's prefixes 2, 4, 6 inputs for 2 outputs each = 24: 168.
func tinyShape() stepShape {
	mid := nn.ConvSpec{Name: "blocks.0.conv_mid", K: 3, In: 6, Out: 6, Colors: 3, Mode: nn.MaskB, ReLU: true}
	return stepShape{batch: 2, h: 4, w: 4, colors: 3, stream: 8, params: 100,
		specs: map[string]nn.ConvSpec{mid.Name: mid}}
}

func TestCostModel(t *testing.T) {
	const mid = `cuda: layer "blocks.0.conv_mid"`
	// F = 2 * 168 * 32 = 10752. Bytes are 4 x floats: x, y = 32*6 = 192 each.
	tests := []struct {
		l           launchRec
		op, prec    string
		flop, bytes float64
	}{
		{launchRec{Kernel: "maskedconv_forward_v2", Label: mid}, "conv fwd", "fp32", 10752, 4 * (192 + 168 + 6 + 192)},
		{launchRec{Kernel: "maskedconv_forward_v3", Label: mid}, "conv fwd", "tf32", 10752, 4 * (192 + 168 + 6 + 192)},
		// v2 reads dy and y (ReLU mask), the live weights, and reads+writes dx.
		{launchRec{Kernel: "maskedconv_backward_dx_v2", Label: mid}, "conv dX", "fp32", 10752, 4 * (2*192 + 168 + 2*192)},
		// v3 reads the masked dz only.
		{launchRec{Kernel: "maskedconv_backward_dx_v3", Label: mid}, "conv dX", "tf32", 10752, 4 * (192 + 168 + 2*192)},
		// A fresh dx (MaskedConvBackwardFresh) is written, not read.
		{launchRec{Kernel: "maskedconv_backward_dx_v2", Label: mid + " fresh dx"}, "conv dX", "fp32", 10752, 4 * (2*192 + 168 + 192)},
		{launchRec{Kernel: "maskedconv_backward_dx_v3", Label: mid + " fresh dx"}, "conv dX", "tf32", 10752, 4 * (192 + 168 + 192)},
		// The label's suffix changes nothing else of the layer's launches.
		{launchRec{Kernel: "maskedconv_backward_dw_v1", Label: mid + " fresh dx"}, "conv dW", "fp32", 10752, 4 * (2*192 + 192 + 2*168)},
		// 3 slices of 168 partial sums.
		{launchRec{Kernel: "maskedconv_backward_dw_v2", Label: mid, Grid: [3]int{1, 1, 3}}, "conv dW", "fp32", 10752, 4 * (2*192 + 192 + 3*168)},
		{launchRec{Kernel: "maskedconv_reduce_dw", Label: mid, Grid: [3]int{4, 1, 1}}, "conv dW-reduce", "fp32", 3 * 168, 4 * (3*168 + 2*168)},
		{launchRec{Kernel: "maskedconv_backward_dw_v1", Label: mid}, "conv dW", "fp32", 10752, 4 * (2*192 + 192 + 2*168)},
		// 2 slices of 6 bias partials.
		{launchRec{Kernel: "bias_backward_partial", Label: mid, Grid: [3]int{1, 2, 1}}, "conv dB", "fp32", 192, 4 * (2*192 + 2*6)},
		{launchRec{Kernel: "reduce_partials_add", Label: mid, Grid: [3]int{1, 1, 1}}, "conv dB-reduce", "fp32", 12, 4 * (12 + 12)},
		{launchRec{Kernel: "relu_mask_v3", Label: mid}, "conv relu-mask", "fp32", 192, 3 * 4 * 192},
		// The mask and 3 slices of 6 bias partials; the reduction after it reads those 3.
		{launchRec{Kernel: "relu_mask_bias_v3", Label: mid, Grid: [3]int{1, 3, 1}}, "conv relu-mask+dB", "fp32", 2 * 192, 4 * (3*192 + 3*6)},
		{launchRec{Kernel: "reduce_bias_v3", Label: mid, Grid: [3]int{1, 1, 1}}, "conv dB-reduce", "fp32", 18, 4 * (18 + 12)},
		{launchRec{Kernel: "bias_partial_v3", Label: mid, Grid: [3]int{1, 4, 1}}, "conv dB", "fp32", 192, 4 * (2*192 + 4*6)},
		{launchRec{Kernel: "reduce_bias_v3", Label: mid, Grid: [3]int{1, 1, 1}}, "conv dB-reduce", "fp32", 24, 4 * (24 + 12)},
		// The stream: 32 positions x 8 = 256 elements.
		{launchRec{Kernel: "add_v1", Label: "cuda: add"}, "add", "fp32", 256, 3 * 4 * 256},
		{launchRec{Kernel: "add_into_v1", Label: "cuda: add into"}, "add-into", "fp32", 256, 3 * 4 * 256},
		{launchRec{Kernel: "relu_forward_v1", Label: "cuda: relu"}, "relu", "fp32", 256, 2 * 4 * 256},
		{launchRec{Kernel: "relu_backward_v1", Label: "cuda: relu backward"}, "relu bwd", "fp32", 256, 4 * 4 * 256},
		// 96 subpixels x 256 logits, read and written, the image, 4 float64 partials.
		{launchRec{Kernel: "softmax_xent_v1", Label: "cuda: softmax xent", Grid: [3]int{4, 1, 1}}, "softmax-xent", "fp32", 5 * 256 * 96, 4*(2*256*96+96) + 8*4},
		{launchRec{Kernel: "sum_squares_multi_v1", Label: "cuda: sum squares", Grid: [3]int{2, 1, 1}}, "clip sum-squares", "fp32", 200, 400 + 16},
		{launchRec{Kernel: "scale_multi_v1", Label: "cuda: scale"}, "clip scale", "fp32", 100, 800},
		{launchRec{Kernel: "scale_multi_v2", Label: "cuda: clip"}, "clip scale", "fp32", 100, 800},
		{launchRec{Kernel: "zero_multi_v1", Label: "cuda: zero"}, "zero grads", "fp32", 0, 400},
		{launchRec{Kernel: "adam_multi_v2", Label: "cuda: adam"}, "adam", "fp32", 1200, 2800},
		{launchRec{Kernel: "adam_multi_v1", Label: "cuda: adam"}, "adam", "fp32", 1200, 2800},
		{launchRec{Kernel: "rmsprop_multi_v1", Label: "cuda: rmsprop"}, "rmsprop", "fp32", 800, 2000},
	}
	cm := tinyShape().newCostModel()
	for _, tt := range tests {
		c := cm.cost(tt.l) // in order: the reductions use the slices of the launches before them
		if c.op != tt.op || c.precision != tt.prec || c.flop != tt.flop || c.bytes != tt.bytes || !c.modelled {
			t.Errorf("%s: op %q %s flop %v bytes %v modelled %v; want %q %s %v %v", tt.l.Kernel, c.op, c.precision, c.flop, c.bytes, c.modelled, tt.op, tt.prec, tt.flop, tt.bytes)
		}
	}
	// A block's last conv fused with the residual add also reads res and writes sum.
	rs := tinyShape()
	rs.residual = map[string]bool{"blocks.0.conv_mid": true}
	if c := rs.newCostModel().cost(launchRec{Kernel: "maskedconv_forward_v3", Label: mid}); c.flop != 10752+192 || c.bytes != 4*(192+168+6+192)+2*4*192 {
		t.Errorf("fused residual conv: flop %v bytes %v", c.flop, c.bytes)
	}
	if c := cm.cost(launchRec{Kernel: "maskedconv_forward_v2", Label: mid}); c.layer != "blocks.0.conv_mid" || c.shape != "2x4x4x6->6 k3" {
		t.Errorf("layer %q shape %q", c.layer, c.shape)
	}
	if c := cm.cost(launchRec{Kernel: "fused_new_kernel_v4", Label: "cuda: add"}); c.modelled || c.op != "fused_new_kernel_v4" {
		t.Errorf("unknown kernel: %+v, want unmodelled under its own name", c)
	}
	// The forward FLOP equal the existing live-tap count.
	sp := tinyShape().specs["blocks.0.conv_mid"]
	if f := sp.MaskedFLOPs(2, 4, 4); f != 10752 {
		t.Errorf("MaskedFLOPs %v, want 10752 (2 x 168 x 32)", f)
	}
}

func TestRates(t *testing.T) {
	c := ceilings{FP32: 10, TF32: 100, BW: 2}
	tests := []struct {
		name             string
		r                profileRow
		tflops, gbs, pct float64
		bound            string
	}{
		// 1e9 FLOP in 1 ms = 1 TFLOP/s; roof time max(1e9/1e13, 1e6/2e12) = 1e-4 s: 10%.
		{"fp32 compute", profileRow{Precision: "fp32", Ms: 1, FLOP: 1e9, Bytes: 1e6, Modelled: true}, 1, 1, 10, "compute"},
		{"tf32 compute", profileRow{Precision: "tf32", Ms: 1, FLOP: 1e9, Bytes: 1e6, Modelled: true}, 1, 1, 1, "compute"},
		// 1e9 bytes at 2 TB/s = 0.5 ms of 1 ms: 50%.
		{"memory", profileRow{Precision: "fp32", Ms: 1, FLOP: 1e6, Bytes: 1e9, Modelled: true}, 0.001, 1000, 50, "memory"},
	}
	for _, tt := range tests {
		r := rates(tt.r, c, 4)
		if !near(r.TFLOPs, tt.tflops) || !near(r.GBs, tt.gbs) || !near(r.PctRoofline, tt.pct) || r.Bound != tt.bound || !near(r.PctStep, 25) {
			t.Errorf("%s: %.4g TFLOP/s %.4g GB/s %.4g%% %s, %.3g%% of step; want %v %v %v%% %s 25%%", tt.name, r.TFLOPs, r.GBs, r.PctRoofline, r.Bound, r.PctStep, tt.tflops, tt.gbs, tt.pct, tt.bound)
		}
	}
	if r := rates(profileRow{Ms: 1, Modelled: false}, c, 4); r.PctRoofline != 0 || r.Bound != "" {
		t.Errorf("unmodelled row got roofline figures: %+v", r)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestCeilingsFor(t *testing.T) {
	tests := []struct {
		name           string
		override       ceilings
		fp32, tf32, bw float64
		err            string
	}{
		{"cuda:0 (NVIDIA H100 80GB HBM3, sm_90)", ceilings{}, 67, 495, 3.35, ""},
		{"cuda:0 (NVIDIA H200, sm_90)", ceilings{}, 67, 495, 4.8, ""},
		{"cuda:0 (NVIDIA A100-SXM4-80GB, sm_80)", ceilings{}, 19.5, 156, 2.0, ""},
		{"cuda:0 (NVIDIA A100-SXM4-40GB, sm_80)", ceilings{}, 19.5, 156, 1.555, ""},
		{"cuda:0 (NVIDIA H100 80GB HBM3, sm_90)", ceilings{BW: 3}, 67, 495, 3, ""},
		{"cuda:0 (NVIDIA H100 PCIe, sm_90)", ceilings{}, 0, 0, 0, "--peak-fp32"},
		{"cuda:0 (NVIDIA L4, sm_89)", ceilings{FP32: 30, TF32: 120}, 0, 0, 0, `"cuda:0 (NVIDIA L4, sm_89)"`},
		{"cuda:0 (NVIDIA L4, sm_89)", ceilings{FP32: 30, TF32: 120, BW: 0.3}, 30, 120, 0.3, ""},
		{"cuda:0 (NVIDIA H200, sm_90)", ceilings{FP32: -1}, 0, 0, 0, "--peak-fp32 -1"},
	}
	for _, tt := range tests {
		c, err := ceilingsFor(tt.name, tt.override)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %+v: error %v, want one containing %s", tt.name, tt.override, err, tt.err)
			}
			continue
		}
		if err != nil || c.FP32 != tt.fp32 || c.TF32 != tt.tf32 || c.BW != tt.bw || c.Source == "" {
			t.Errorf("%s %+v: %+v %v; want %v %v %v", tt.name, tt.override, c, err, tt.fp32, tt.tf32, tt.bw)
		}
	}
}

func TestMedianLaunches(t *testing.T) {
	step := func(ms ...float64) []launchRec {
		var out []launchRec
		for i, m := range ms {
			out = append(out, launchRec{Kernel: []string{"add_v1", "relu_forward_v1"}[i], Label: "cuda: x", Ms: m})
		}
		return out
	}
	got, err := medianLaunches([][]launchRec{step(1, 5), step(3, 4), step(2, 9)})
	if err != nil || len(got) != 2 || got[0].Ms != 2 || got[1].Ms != 5 {
		t.Fatalf("%+v %v, want medians 2 and 5", got, err)
	}
	if _, err := medianLaunches([][]launchRec{step(1, 2), step(1)}); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("different launch counts: error %v", err)
	}
	other := step(1, 2)
	other[1].Kernel = "add_into_v1"
	if _, err := medianLaunches([][]launchRec{step(1, 2), other}); err == nil || !strings.Contains(err.Error(), "add_into_v1") {
		t.Errorf("different kernels: error %v", err)
	}
}

// syntheticReport is a profile of two blocks' conv_mid forward, an add and an unknown kernel.
func syntheticReport(t *testing.T) profileReport {
	s := tinyShape()
	s.specs["blocks.1.conv_mid"] = nn.ConvSpec{Name: "blocks.1.conv_mid", K: 3, In: 6, Out: 6, Colors: 3, Mode: nn.MaskB, ReLU: true}
	launches := []launchRec{
		{Kernel: "maskedconv_forward_v2", Label: `cuda: layer "blocks.0.conv_mid"`, Ms: 0.002},
		{Kernel: "maskedconv_forward_v2", Label: `cuda: layer "blocks.1.conv_mid"`, Ms: 0.003},
		{Kernel: "add_v1", Label: "cuda: add", Ms: 0.001},
		{Kernel: "add_v1", Label: "cuda: add", Ms: 0.001},
		{Kernel: "mystery_v9", Label: "cuda: add", Ms: 0.004},
	}
	c := ceilings{GPU: "H100 SXM", Source: "datasheet", FP32: 67, TF32: 495, BW: 3.35}
	rep := profileReport{Device: "test gpu", Preset: "tiny", Shape: "4x4x3", Batch: 2, Precision: "fp32", Steps: 1, StepMs: 0.02, Launches: len(launches), Ceilings: c}
	var unknown []string
	rep.Groups, rep.Layers, unknown = buildProfile(launches, s, c, rep.StepMs)
	rep.Notes = profileNotes(unknown)
	if len(unknown) != 1 || unknown[0] != "mystery_v9" {
		t.Fatalf("unknown kernels %v", unknown)
	}
	return rep
}

func TestBuildProfileGroups(t *testing.T) {
	rep := syntheticReport(t)
	if len(rep.Layers) != 4 || len(rep.Groups) != 3 {
		t.Fatalf("%d layer rows, %d groups; want 4 and 3", len(rep.Layers), len(rep.Groups))
	}
	conv := rep.Groups[0] // sorted by time: the two conv_mid launches, 0.005 ms
	if conv.Op != "conv fwd" || conv.Layer != "blocks.*.conv_mid" || conv.Launches != 2 || !near(conv.Ms, 0.005) || conv.FLOP != 2*10752 || !near(conv.PctStep, 25) {
		t.Errorf("conv group %+v", conv)
	}
	add := rep.Groups[2]
	if add.Op != "add" || add.Launches != 2 || add.Bytes != 2*3072 || add.Bound != "memory" {
		t.Errorf("add group %+v", add)
	}
	// 6144 bytes in 2 us at 3.35 TB/s: 6144/3.35e12 s = 1.834 ns of 2000 ns = 0.0917%.
	if !near(add.PctRoofline, 100*6144/3.35e12/2e-6) {
		t.Errorf("add %% roofline %v", add.PctRoofline)
	}
	if m := rep.Groups[1]; m.Op != "mystery_v9" || m.Modelled || m.TFLOPs != 0 {
		t.Errorf("unknown kernel group %+v", m)
	}
}

func TestProfileOutputs(t *testing.T) {
	rep := syntheticReport(t)
	var buf bytes.Buffer
	printProfile(&buf, rep, false)
	out := buf.String()
	for _, want := range []string{"blocks.*.conv_mid", "FP32 67 TFLOP/s", "bandwidth 3.35 TB/s", "% roofline", "mystery_v9", "note: no cost model for kernels mystery_v9"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	printProfile(&buf, rep, true)
	if !strings.Contains(buf.String(), "blocks.1.conv_mid") {
		t.Errorf("per-layer table lacks blocks.1.conv_mid:\n%s", buf.String())
	}

	dir := t.TempDir()
	js, png := filepath.Join(dir, "p.json"), filepath.Join(dir, "p.png")
	if err := writeProfileOutputs(rep, js, png); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var back profileReport
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Groups) != 3 || back.Ceilings.BW != 3.35 || back.Groups[0].Layer != "blocks.*.conv_mid" {
		t.Errorf("JSON round trip: %+v", back)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
		t.Errorf("roofline PNG: %v", err)
	}
	if err := writeProfileOutputs(rep, filepath.Join(dir, "no", "p.json"), ""); err == nil || !strings.Contains(err.Error(), "--profile-json") {
		t.Errorf("unwritable JSON path: error %v", err)
	}
}

func TestProfileConfigValidate(t *testing.T) {
	dir := t.TempDir()
	pngDir := filepath.Join(t.TempDir(), "r.png") // a directory with a PNG's name
	if err := os.Mkdir(pngDir, 0o755); err != nil {
		t.Fatal(err)
	}
	good := profileConfig{preset: "mnist", batch: 16, steps: 5, warmup: 3, capacity: 10, clip: 1e-3}
	if _, err := good.validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		edit func(*profileConfig)
		want string
	}{
		{func(p *profileConfig) { p.preset = "imagenet" }, `preset "imagenet"`},
		{func(p *profileConfig) { p.batch = 0 }, "--batch 0"},
		{func(p *profileConfig) { p.batch = -3 }, "--batch -3"},
		{func(p *profileConfig) { p.steps = 0 }, "--profile-steps"},
		{func(p *profileConfig) { p.warmup = 0 }, "--profile-warmup"},
		{func(p *profileConfig) { p.clip = math.NaN() }, "--profile-clip"},
		{func(p *profileConfig) { p.precision = "fp16" }, "fp16"},
		{func(p *profileConfig) { p.peaks.BW = math.Inf(1) }, "--peak-bw +Inf"},
		{func(p *profileConfig) { p.jsonPath = filepath.Join(dir, "missing", "p.json") }, "--profile-json"},
		{func(p *profileConfig) { p.pngPath = pngDir }, "is a directory"},
		{func(p *profileConfig) { p.pngPath = filepath.Join(dir, "r.jpg") }, "give a name ending in .png"},
	}
	for _, tt := range tests {
		pc := good
		tt.edit(&pc)
		if _, err := pc.validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one containing %q", pc, err, tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("validate left files behind: %v", entries)
	}
}

func TestProfileWithoutCUDA(t *testing.T) {
	if gpu, _ := openGPU(); gpu != nil {
		gpu.close()
		t.Skip("a GPU is present")
	}
	err := runProfile(profileConfig{preset: "mnist", batch: 16, steps: 1, warmup: 1, capacity: 10}, false)
	if err != errProfileNeedsGPU {
		t.Errorf("error %v, want %v", err, errProfileNeedsGPU)
	}
}

func TestNewStepShape(t *testing.T) {
	cfg, err := pixelcnn.PresetConfig("tiny", 3, 5, 4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := pixelcnn.NewModel(cpu.New(), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	s := newStepShape(m, 2)
	_, vars := m.Params()
	params := 0
	for _, v := range vars {
		params += v.Value.Len()
	}
	if s.params != params || s.stream != 12 || s.batch != 2 || s.h != 5 || s.w != 4 || s.colors != 3 || len(s.specs) != len(m.Layers) {
		t.Errorf("shape %+v, want %d params, stream 12, %d layers", s, params, len(m.Layers))
	}
}

// TestProfileOnCPU runs the profile's glue (model, trainer, warmup, unprofiled timing, report)
// on the CPU backend with a stand-in for the CUDA profiler: one forward launch per layer.
func TestProfileOnCPU(t *testing.T) {
	cfg, err := pixelcnn.PresetConfig("tiny", 3, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	gpu := &gpuDevice{name: "cuda:0 (NVIDIA H100 80GB HBM3, sm_90)", backend: cpu.New(), time: wallTime}
	ceil, err := ceilingsFor(gpu.name, ceilings{})
	if err != nil {
		t.Fatal(err)
	}
	stepsRun := 0
	fake := func(_ *gpuDevice, capacity, steps int, step func() error) ([][]launchRec, []float64, error) {
		var runs [][]launchRec
		var totals []float64
		for i := 0; i < steps; i++ {
			if err := step(); err != nil {
				return nil, nil, err
			}
			stepsRun++
			var recs []launchRec
			for _, sp := range []string{"input_conv", "blocks.0.conv_in", "blocks.1.conv_in", "final_conv"} {
				recs = append(recs, launchRec{Kernel: "maskedconv_forward_v2", Label: `cuda: layer "` + sp + `"`, Grid: [3]int{1, 1, 1}, Ms: 0.01 * float64(i+1)})
			}
			runs, totals = append(runs, recs), append(totals, 1)
		}
		return runs, totals, nil
	}
	pc := profileConfig{preset: "tiny", batch: 2, steps: 3, warmup: 1, capacity: 100, clip: 1e-3}
	rep, err := profileOn(gpu, pc, cfg, ceil, fake)
	if err != nil {
		t.Fatal(err)
	}
	if stepsRun != 3 || rep.Launches != 4 || len(rep.Layers) != 4 || len(rep.Groups) != 3 || !(rep.PlainStepMs > 0) || rep.StepMs != 1 || rep.Precision != "fp32" ||
		!(rep.GraphStepMs > 0) || rep.GraphMode != "device scalars, plain launches" {
		t.Fatalf("report %+v", rep)
	}
	g := rep.Groups[0] // blocks.*.conv_in: two launches at the median 0.02 ms
	if g.Layer != "blocks.*.conv_in" || g.Launches != 2 || !near(g.Ms, 0.04) || !(g.FLOP > 0) || !(g.PctRoofline > 0) {
		t.Errorf("group %+v", g)
	}
}
