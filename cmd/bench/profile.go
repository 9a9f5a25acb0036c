package main

// bench --profile: every kernel launch of steady-state train steps timed with CUDA events
// (profile_cuda.go; no nsys), grouped by op and layer, with the FLOP and bytes of each launch
// from the layer spec (costs below, plain Go), rates, and the % of the roofline bound at the
// GPU's datasheet ceilings. Output: a table (or --json), --profile-json, --roofline PNG.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/nn"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/fileio"
	"pixelcnn/pixelcnn/imageio"
)

// profileConfig holds the --profile flags (the batch comes from --batch).
type profileConfig struct {
	on            bool
	preset        string
	batch         int
	steps, warmup int
	clip          float64
	capacity      int
	jsonPath      string
	pngPath       string
	perLayer      bool
	precision     string // --precision; "" is the device's default (nn.ChoosePrecision)
	peaks         ceilings
}

func addProfileFlags(fs *pflag.FlagSet) *profileConfig {
	pc := &profileConfig{}
	fs.BoolVar(&pc.on, "profile", false, "profile one train step per kernel launch (cuda build and a GPU): table of op, layer, time, FLOP, bytes, roofline %")
	fs.StringVar(&pc.preset, "preset", "cifar10", "--profile: the preset whose train step is profiled (cifar10 and seed at 32x32x3, others at 28x28x1)")
	fs.IntVar(&pc.steps, "profile-steps", 5, "--profile: profiled steps (each launch's median is reported)")
	fs.IntVar(&pc.warmup, "profile-warmup", 3, "--profile: untimed steps first")
	fs.Float64Var(&pc.clip, "profile-clip", 1e-3, "--profile: gradient-norm clip of the step; small so that every step runs both clip kernels (0: no clipping)")
	fs.IntVar(&pc.capacity, "profile-capacity", 4096, "--profile: most launches per step that can be timed")
	fs.StringVar(&pc.jsonPath, "profile-json", "", "--profile: also write the profile as JSON to this file")
	fs.StringVar(&pc.pngPath, "roofline", "", "--profile: also draw the roofline chart as a PNG to this file")
	fs.BoolVar(&pc.perLayer, "profile-per-layer", false, "--profile: one table row per layer instead of per layer kind (blocks.*)")
	fs.Float64Var(&pc.peaks.FP32, "peak-fp32", 0, "--profile: FP32 CUDA-core peak in TFLOP/s (default: the detected GPU's datasheet)")
	fs.Float64Var(&pc.peaks.TF32, "peak-tf32", 0, "--profile: TF32 tensor-core dense peak in TFLOP/s (default: datasheet)")
	fs.Float64Var(&pc.peaks.BW, "peak-bw", 0, "--profile: memory bandwidth in TB/s (default: datasheet)")
	return pc
}

// ceilings are the roofline's roofs: TFLOP/s and TB/s.
type ceilings struct {
	GPU    string  `json:"gpu"`
	Source string  `json:"source"`
	FP32   float64 `json:"fp32_tflops"`
	TF32   float64 `json:"tf32_tflops"`
	BW     float64 `json:"bandwidth_tbs"`
}

// datasheets are dense peaks from NVIDIA's datasheets, matched on the lower-case device name:
// every word of match present, none of not.
var datasheets = []struct {
	match, not []string
	c          ceilings
}{
	{[]string{"h200"}, []string{"nvl"}, ceilings{GPU: "H200 SXM", FP32: 67, TF32: 495, BW: 4.8}},
	{[]string{"h100"}, []string{"pcie", "nvl"}, ceilings{GPU: "H100 SXM", FP32: 67, TF32: 495, BW: 3.35}},
	{[]string{"a100", "40gb"}, nil, ceilings{GPU: "A100 40GB", FP32: 19.5, TF32: 156, BW: 1.555}},
	{[]string{"a100"}, nil, ceilings{GPU: "A100 80GB", FP32: 19.5, TF32: 156, BW: 2.0}},
}

// ceilingsFor returns the datasheet ceilings of the device named name with every positive
// flag value in override replacing its datasheet value. An unknown GPU needs all three flags.
func ceilingsFor(name string, override ceilings) (ceilings, error) {
	if err := override.checkFlags(); err != nil {
		return ceilings{}, err
	}
	lower := strings.ToLower(name)
	var c ceilings
	found := false
	for _, d := range datasheets {
		if containsAll(lower, d.match) && !containsAny(lower, d.not) {
			c, found = d.c, true
			c.Source = "datasheet (" + d.c.GPU + ", dense)"
			break
		}
	}
	if !found {
		if override.FP32 == 0 || override.TF32 == 0 || override.BW == 0 {
			return ceilings{}, fmt.Errorf("no datasheet ceilings for GPU %q: give --peak-fp32 and --peak-tf32 (TFLOP/s) and --peak-bw (TB/s)", name)
		}
		c = ceilings{GPU: name, Source: "flags"}
	}
	set := false
	for _, p := range []struct {
		dst *float64
		v   float64
	}{{&c.FP32, override.FP32}, {&c.TF32, override.TF32}, {&c.BW, override.BW}} {
		if p.v > 0 {
			*p.dst, set = p.v, true
		}
	}
	if found && set {
		c.Source += ", overridden by flags"
	}
	return c, nil
}

// checkFlags reports a --peak-* value that is negative or not finite (0: not given).
func (c ceilings) checkFlags() error {
	for _, v := range []struct {
		flag string
		v    float64
	}{{"--peak-fp32", c.FP32}, {"--peak-tf32", c.TF32}, {"--peak-bw", c.BW}} {
		if v.v < 0 || math.IsNaN(v.v) || math.IsInf(v.v, 0) {
			return fmt.Errorf("%s %v: want a positive number", v.flag, v.v)
		}
	}
	return nil
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------------------
// the cost model

// launchRec is one timed kernel launch: the kernel, the backend op's label (such as
// `cuda: layer "blocks.3.conv_mid"` or "cuda: add"), its grid, and its median time.
type launchRec struct {
	Kernel string
	Label  string
	Grid   [3]int
	Ms     float64
}

// stepShape is what the cost model needs to know about the profiled step.
type stepShape struct {
	batch, h, w, colors int
	stream              int // residual stream width 2H: the adds and the ReLU
	params              int // parameters in all tensors (the optimizer and clip launches)
	specs               map[string]nn.ConvSpec
	residual            map[string]bool // convs whose forward also writes the residual sum
}

func newStepShape(m *pixelcnn.Model, batch int) stepShape {
	c := m.Config
	s := stepShape{batch: batch, h: c.Height, w: c.Width, colors: c.Colors, stream: 2 * c.Hidden,
		specs: map[string]nn.ConvSpec{}, residual: map[string]bool{}}
	for _, l := range m.Layers {
		s.specs[l.Spec.Name] = l.Spec
		s.params += nn.ShapeLen(l.Spec.WeightShape()) + l.Spec.Out
	}
	if _, fused := m.B.(nn.ResidualConv); fused { // Model.Forward: conv_out + add in one op
		for _, blk := range m.Blocks() {
			s.residual[blk.Out.Spec.Name] = true
		}
	}
	return s
}

// cost is one launch's work: FLOP (multiply-adds count 2; an elementwise op counts 1 per
// element) and bytes (the DRAM traffic of an ideal kernel: every input read once, every
// output written once, accumulated outputs read and written, partial-sum buffers included).
type cost struct {
	op, layer, shape, precision string
	flop, bytes                 float64
	modelled                    bool
	freshDX                     bool // a conv backward that writes dx without reading it
}

// kernelOps maps kernel-name prefixes to op names; the first match wins.
var kernelOps = []struct{ prefix, op string }{
	{"maskedconv_forward_", "conv fwd"},
	{"maskedconv_backward_dx_", "conv dX"},
	{"maskedconv_backward_dw_", "conv dW"},
	{"maskedconv_reduce_dw", "conv dW-reduce"},
	{"bias_backward_", "conv dB"},
	{"bias_partial_", "conv dB"},
	{"reduce_partials_add", "conv dB-reduce"},
	{"reduce_bias_", "conv dB-reduce"},
	{"relu_mask_bias_", "conv relu-mask+dB"},
	{"relu_mask_", "conv relu-mask"},
	{"softmax_xent_", "softmax-xent"},
	{"relu_forward_", "relu"},
	{"relu_backward_", "relu bwd"},
	{"add_into_", "add-into"},
	{"add_", "add"},
	{"zero_multi_", "zero grads"},
	{"sum_squares_multi_", "clip sum-squares"},
	{"scale_multi_", "clip scale"},
	{"adam_multi_", "adam"},
	{"rmsprop_multi_", "rmsprop"},
	{"step_loss_", "loss sum"},    // one block adding the loss's partials (no cost model:
	{"step_clip_", "clip factor"}, // latency, not FLOP or bytes, is their whole cost)
}

// layerLabel is the op label of a layer's launches (cuda's maskedConvBackward adds " fresh dx"
// when dx is written, not accumulated into).
var layerLabel = regexp.MustCompile(`^cuda: layer "(.*)"( fresh dx)?$`)

// costModel computes each launch's cost in issue order; it remembers the slice counts of
// the partial-sum kernels for the reductions that follow them.
type costModel struct {
	s      stepShape
	slices map[string]float64 // layer + "/dw" or "/db": slices of the last partial launch
}

func (s stepShape) newCostModel() *costModel { return &costModel{s: s, slices: map[string]float64{}} }

func (cm *costModel) cost(l launchRec) cost {
	s := cm.s
	c := cost{op: l.Kernel, layer: "-", precision: "fp32"}
	for _, k := range kernelOps {
		if strings.HasPrefix(l.Kernel, k.prefix) {
			c.op = k.op
			break
		}
	}
	if m := layerLabel.FindStringSubmatch(l.Label); m != nil {
		c.layer, c.freshDX = m[1], m[2] != ""
	}
	m := float64(s.batch * s.h * s.w)
	const f = 4 // bytes per float32
	if sp, ok := s.specs[c.layer]; ok && strings.HasPrefix(c.op, "conv") {
		return cm.convCost(c, l, sp, m)
	}
	n := m * float64(s.stream)
	p := float64(s.params)
	c.modelled = true
	switch c.op {
	case "softmax-xent":
		sub := m * float64(s.colors)
		c.shape = fmt.Sprintf("%.0f subpixels x 256", sub)
		c.flop = 5 * 256 * sub // max, subtract, exp, sum, scale per logit
		c.bytes = f*(2*256*sub+sub) + 8*float64(l.Grid[0])
	case "relu", "relu bwd", "add", "add-into":
		c.shape = fmt.Sprintf("%dx%dx%dx%d", s.batch, s.h, s.w, s.stream)
		c.flop = n
		c.bytes = map[string]float64{"relu": 2, "relu bwd": 4, "add": 3, "add-into": 3}[c.op] * f * n
	case "clip sum-squares":
		c.shape = fmt.Sprintf("%d params", s.params)
		c.flop, c.bytes = 2*p, f*p+8*float64(l.Grid[0])
	case "clip scale":
		c.shape = fmt.Sprintf("%d params", s.params)
		c.flop, c.bytes = p, 2*f*p
	case "zero grads":
		c.shape = fmt.Sprintf("%d params", s.params)
		c.flop, c.bytes = 0, f*p
	case "adam":
		c.shape = fmt.Sprintf("%d params", s.params)
		c.flop, c.bytes = 12*p, 7*f*p // read p, g, m, v; write p, m, v
	case "rmsprop":
		c.shape = fmt.Sprintf("%d params", s.params)
		c.flop, c.bytes = 8*p, 5*f*p // read p, g, ms; write p, ms
	default:
		c.modelled = false
	}
	return c
}

// convCost is the cost of a launch of layer sp's kernels over m positions. live is the
// number of unmasked weights (= multiply-adds per position), the live-tap count of
// MaskedFLOPs; dX and dW each do the forward's multiply-adds.
func (cm *costModel) convCost(c cost, l launchRec, sp nn.ConvSpec, m float64) cost {
	const f = 4
	s := cm.s
	live := sp.MaskedFLOPs(1, 1, 1) / 2
	in, out := float64(sp.In), float64(sp.Out)
	relu := 0.0
	if sp.ReLU {
		relu = 1
	}
	v3 := strings.HasSuffix(l.Kernel, "_v3")
	// Versions 1 and 2 read y beside dy for the ReLU mask; version 3 reads the masked dz.
	dyReads := 1 + relu
	if v3 {
		dyReads = 1
	}
	c.shape = fmt.Sprintf("%dx%dx%dx%d->%d k%d", s.batch, s.h, s.w, sp.In, sp.Out, sp.K)
	c.modelled = true
	F := sp.MaskedFLOPs(s.batch, s.h, s.w)
	switch c.op {
	case "conv fwd":
		c.flop, c.bytes = F, f*(m*in+live+out+m*out)
		if s.residual[c.layer] { // reads res, writes sum
			c.flop, c.bytes = F+m*out, c.bytes+2*f*m*out
		}
	case "conv dX": // dx read and written; a fresh dx (MaskedConvBackwardFresh) is only written
		dxIO := 2.0
		if c.freshDX {
			dxIO = 1
		}
		c.flop, c.bytes = F, f*(dyReads*m*out+live+dxIO*m*in)
	case "conv dW":
		c.flop = F
		if strings.HasSuffix(l.Kernel, "_v1") { // accumulates straight into dW
			c.bytes = f * (dyReads*m*out + m*in + 2*live)
		} else { // one partial dW per slice (grid z)
			sl := float64(l.Grid[2])
			cm.slices[c.layer+"/dw"] = sl
			c.bytes = f * (dyReads*m*out + m*in + sl*live)
		}
	case "conv dW-reduce":
		sl := cm.slices[c.layer+"/dw"]
		c.flop, c.bytes = sl*live, f*(sl*live+2*live)
	case "conv dB":
		c.flop = m * out
		if strings.HasSuffix(l.Kernel, "_v1") {
			c.bytes = f * ((1+relu)*m*out + 2*out)
		} else { // bias_backward_partial: one partial row per slice (grid y)
			sl := float64(l.Grid[1])
			cm.slices[c.layer+"/db"] = sl
			c.bytes = f * ((1+relu)*m*out + sl*out)
		}
	case "conv dB-reduce":
		sl := cm.slices[c.layer+"/db"]
		c.flop, c.bytes = sl*out, f*(sl*out+2*out)
	case "conv relu-mask":
		c.flop, c.bytes = m*out, 3*f*m*out
	case "conv relu-mask+dB": // the mask, and dB's partial rows (grid y) in the same pass
		sl := float64(l.Grid[1])
		cm.slices[c.layer+"/db"] = sl
		c.flop, c.bytes = 2*m*out, f*(3*m*out+sl*out)
	default:
		c.modelled = false
	}
	if v3 && (c.op == "conv fwd" || c.op == "conv dX" || c.op == "conv dW") {
		c.precision = "tf32"
	}
	return c
}

// ---------------------------------------------------------------------------------------------
// the report

// profileRow is one op of one layer (or layer kind): summed over its launches.
type profileRow struct {
	Op          string   `json:"op"`
	Layer       string   `json:"layer"`
	Shape       string   `json:"shape"`
	Precision   string   `json:"precision"`
	Kernels     []string `json:"kernels"`
	Launches    int      `json:"launches"`
	Ms          float64  `json:"ms"`
	PctStep     float64  `json:"pct_of_step"`
	FLOP        float64  `json:"flop"`
	Bytes       float64  `json:"bytes"`
	TFLOPs      float64  `json:"tflops"`
	GBs         float64  `json:"gbs"`
	Intensity   float64  `json:"flop_per_byte"`
	Bound       string   `json:"bound"`        // "compute" or "memory": the roof at this intensity
	PctRoofline float64  `json:"pct_roofline"` // roofline time / measured time
	Modelled    bool     `json:"modelled"`     // false: a kernel the cost model does not know (no FLOP/bytes)
}

// profileReport is the --profile output.
type profileReport struct {
	Device      string       `json:"device"`
	Preset      string       `json:"preset"`
	Shape       string       `json:"shape"`
	Batch       int          `json:"batch"`
	Precision   string       `json:"precision"`
	Steps       int          `json:"steps_profiled"`
	StepMs      float64      `json:"step_ms"`            // median profiled step: events around the whole step
	PlainStepMs float64      `json:"unprofiled_step_ms"` // median step with the profiler off
	GraphStepMs float64      `json:"graph_step_ms"`      // median step of a trainer recording the step (graphs on)
	GraphMode   string       `json:"graph_step_mode"`    // how that trainer ran (Trainer.StepMode)
	KernelMs    float64      `json:"kernel_ms"`          // sum of the launches' medians
	Launches    int          `json:"launches"`
	Ceilings    ceilings     `json:"ceilings"`
	Groups      []profileRow `json:"groups"` // per op and layer kind (blocks.* merged)
	Layers      []profileRow `json:"layers"` // per op and layer
	Notes       []string     `json:"notes"`
}

var blockIndex = regexp.MustCompile(`^blocks\.\d+\.`)

// medianLaunches checks that every step launched the same kernels for the same ops with the
// same grids and returns step 0's launches with each launch's median time.
func medianLaunches(steps [][]launchRec) ([]launchRec, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("no profiled steps")
	}
	first := steps[0]
	for i, st := range steps[1:] {
		if len(st) != len(first) {
			return nil, fmt.Errorf("profiled step %d made %d launches, step 1 made %d: the steps differ", i+2, len(st), len(first))
		}
		for j := range st {
			a, b := first[j], st[j]
			if a.Kernel != b.Kernel || a.Label != b.Label || a.Grid != b.Grid {
				return nil, fmt.Errorf("profiled step %d launch %d is %s (%s), step 1's is %s (%s): the steps differ", i+2, j+1, b.Kernel, b.Label, a.Kernel, a.Label)
			}
		}
	}
	out := make([]launchRec, len(first))
	ts := make([]float64, len(steps))
	for j := range first {
		for i, st := range steps {
			ts[i] = st[j].Ms
		}
		out[j] = first[j]
		out[j].Ms = median(ts)
	}
	return out, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// buildProfile groups the launches (with their median times) by op and layer and by op and
// layer kind, and fills the rates and roofline figures against c.
func buildProfile(launches []launchRec, shape stepShape, c ceilings, stepMs float64) (groups, layers []profileRow, unknown []string) {
	cm := shape.newCostModel()
	type key struct{ op, layer string }
	byLayer, byKind := map[key]*profileRow{}, map[key]*profileRow{}
	var layerOrder, kindOrder []key
	seen := map[string]bool{}
	add := func(m map[key]*profileRow, order *[]key, k key, l launchRec, co cost) {
		r := m[k]
		if r == nil {
			r = &profileRow{Op: co.op, Layer: k.layer, Shape: co.shape, Precision: co.precision, Modelled: co.modelled}
			m[k] = r
			*order = append(*order, k)
		}
		if !containsString(r.Kernels, l.Kernel) {
			r.Kernels = append(r.Kernels, l.Kernel)
		}
		r.Launches++
		r.Ms += l.Ms
		r.FLOP += co.flop
		r.Bytes += co.bytes
		r.Modelled = r.Modelled && co.modelled
	}
	for _, l := range launches {
		co := cm.cost(l)
		if !co.modelled && !seen[l.Kernel] {
			seen[l.Kernel] = true
			unknown = append(unknown, l.Kernel)
		}
		add(byLayer, &layerOrder, key{co.op, co.layer}, l, co)
		add(byKind, &kindOrder, key{co.op, blockIndex.ReplaceAllString(co.layer, "blocks.*.")}, l, co)
	}
	finish := func(m map[key]*profileRow, order []key) []profileRow {
		rows := make([]profileRow, 0, len(order))
		for _, k := range order {
			rows = append(rows, rates(*m[k], c, stepMs))
		}
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Ms > rows[j].Ms })
		return rows
	}
	return finish(byKind, kindOrder), finish(byLayer, layerOrder), unknown
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// rates fills a row's rates. The roofline bound of an op is the time it needs at the roof
// for its intensity, max(FLOP / peak, bytes / bandwidth), with the peak of its precision
// (TF32 tensor cores for the version 3 convs, FP32 CUDA cores otherwise); % of roofline is
// that time over the measured time.
func rates(r profileRow, c ceilings, stepMs float64) profileRow {
	if stepMs > 0 {
		r.PctStep = 100 * r.Ms / stepMs
	}
	if r.Ms <= 0 || !r.Modelled {
		return r
	}
	sec := r.Ms / 1e3
	r.TFLOPs = r.FLOP / sec / 1e12
	r.GBs = r.Bytes / sec / 1e9
	if r.Bytes > 0 {
		r.Intensity = r.FLOP / r.Bytes
	}
	peak := c.FP32
	if r.Precision == "tf32" {
		peak = c.TF32
	}
	compute, memory := r.FLOP/(peak*1e12), r.Bytes/(c.BW*1e12)
	r.Bound = "memory"
	if compute > memory {
		r.Bound = "compute"
	}
	r.PctRoofline = 100 * max(compute, memory) / sec
	return r
}

// printProfile writes the report as a table.
func printProfile(w io.Writer, rep profileReport, perLayer bool) {
	c := rep.Ceilings
	fmt.Fprintf(w, "profile: %s preset %s (%s) batch %d, precision %s, median of %d steps\n", rep.Device, rep.Preset, rep.Shape, rep.Batch, rep.Precision, rep.Steps)
	fmt.Fprintf(w, "ceilings (%s, %s): FP32 %.4g TFLOP/s, TF32 %.4g TFLOP/s, bandwidth %.4g TB/s\n", c.GPU, c.Source, c.FP32, c.TF32, c.BW)
	fmt.Fprintf(w, "step %.3f ms profiled (%.3f ms unprofiled, ops one by one; %.3f ms with graphs on: %s); %d launches, %.3f ms in kernels (%.1f%%)\n",
		rep.StepMs, rep.PlainStepMs, rep.GraphStepMs, rep.GraphMode, rep.Launches, rep.KernelMs, 100*rep.KernelMs/max(rep.StepMs, 1e-12))
	rows := rep.Groups
	if perLayer {
		rows = rep.Layers
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tlayer\tshape\tprec\tlaunches\tms\t% step\tGFLOP\tMB\tTFLOP/s\tGB/s\tFLOP/B\tbound\t% roofline\t")
	for _, r := range rows {
		if !r.Modelled {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.4f\t%.1f\t-\t-\t-\t-\t-\t-\t-\t\n", r.Op, r.Layer, r.Shape, r.Precision, r.Launches, r.Ms, r.PctStep)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.4f\t%.1f\t%.3f\t%.2f\t%.2f\t%.0f\t%.2f\t%s\t%.1f\t\n",
			r.Op, r.Layer, r.Shape, r.Precision, r.Launches, r.Ms, r.PctStep, r.FLOP/1e9, r.Bytes/1e6,
			r.TFLOPs, r.GBs, r.Intensity, r.Bound, r.PctRoofline)
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// rooflineOf is the chart of the report's groups.
func rooflineOf(rep profileReport) imageio.Roofline {
	c := rep.Ceilings
	r := imageio.Roofline{
		Title:          fmt.Sprintf("%s: %s batch %d train step, %s (%s)", c.GPU, rep.Preset, rep.Batch, rep.Precision, c.Source),
		BandwidthLabel: "memory bandwidth",
		BandwidthTBs:   c.BW,
		Compute:        []imageio.RooflineCeiling{{Label: "FP32 CUDA cores", TFLOPs: c.FP32}, {Label: "TF32 tensor cores", TFLOPs: c.TF32}},
	}
	for _, g := range rep.Groups {
		label := g.Op
		if g.Layer != "-" {
			label += " " + g.Layer
		}
		r.Points = append(r.Points, imageio.RooflinePoint{Label: label, Intensity: g.Intensity, TFLOPs: g.TFLOPs})
	}
	return r
}

// checkWritable fails early, before any GPU time is spent, when path cannot be written: its
// directory missing or not writable, or path itself not a regular file (a directory, a
// device, a FIFO; fileio.CheckOutput).
func checkWritable(flag, path string) error {
	if path == "" {
		return nil
	}
	if err := fileio.CheckOutput(path); err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".bench-check-*")
	if err != nil {
		return fmt.Errorf("%s %s: cannot write there: %w", flag, path, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// writeProfileOutputs writes the JSON and the PNG that were asked for.
func writeProfileOutputs(rep profileReport, jsonPath, pngPath string) error {
	if jsonPath != "" {
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := fileio.WriteFile(jsonPath, append(js, '\n')); err != nil {
			return fmt.Errorf("--profile-json: %w", err)
		}
	}
	if pngPath != "" {
		if err := imageio.PlotRoofline(pngPath, rooflineOf(rep)); err != nil {
			return fmt.Errorf("--roofline: %w", err)
		}
	}
	return nil
}

// validate checks the flags before anything runs and returns the preset's model config.
func (pc profileConfig) validate() (pixelcnn.Config, error) {
	h, w, col := presetShape(pc.preset)
	cfg, err := pixelcnn.PresetConfig(pc.preset, col, h, w)
	if err != nil {
		return cfg, fmt.Errorf("--preset: %w", err)
	}
	switch {
	case pc.batch < 1:
		return cfg, fmt.Errorf("--batch %d: must be at least 1", pc.batch)
	case pc.steps < 1:
		return cfg, fmt.Errorf("--profile-steps %d: must be at least 1", pc.steps)
	case pc.warmup < 1:
		return cfg, fmt.Errorf("--profile-warmup %d: must be at least 1 (the first step allocates)", pc.warmup)
	case pc.capacity < 1:
		return cfg, fmt.Errorf("--profile-capacity %d: must be at least 1", pc.capacity)
	case pc.clip < 0 || math.IsNaN(pc.clip) || math.IsInf(pc.clip, 0):
		return cfg, fmt.Errorf("--profile-clip %v: must be >= 0", pc.clip)
	}
	if err := pc.peaks.checkFlags(); err != nil {
		return cfg, err
	}
	if pc.precision != "" {
		if _, err := nn.ParsePrecision(pc.precision); err != nil {
			return cfg, fmt.Errorf("--precision: %w", err)
		}
	}
	if pc.pngPath != "" {
		if err := cli.PNGOut("--roofline", pc.pngPath); err != nil {
			return cfg, err
		}
	}
	if err := checkWritable("--profile-json", pc.jsonPath); err != nil {
		return cfg, err
	}
	return cfg, checkWritable("--roofline", pc.pngPath)
}

// errProfileNeedsGPU is --profile's answer in a binary without the cuda build or a GPU.
var errProfileNeedsGPU = fmt.Errorf("--profile needs a binary built with -tags cuda (make ptx && go build -tags cuda -o bin/bench ./cmd/bench) and a GPU; this one has none")

// runProfile profiles the preset's train step on the GPU and reports it.
func runProfile(pc profileConfig, jsonOut bool) error {
	cfg, err := pc.validate()
	if err != nil {
		return err
	}
	gpu, err := openGPU()
	if err != nil {
		return err
	}
	if gpu == nil {
		return errProfileNeedsGPU
	}
	defer gpu.close()
	// profileOn's model and trainer stay while a second pair times the recorded step.
	opt := pixelcnn.DefaultTrainOptions()
	opt.Batch = pc.batch
	need := pixelcnn.TrainMemory(cfg, opt, 0)
	need.Device *= 2
	if err := pixelcnn.CheckMemory(fmt.Sprintf("profiling %s at --batch %d", pc.preset, pc.batch), gpu.backend, need); err != nil {
		return fmt.Errorf("%w (lower --batch)", err)
	}
	ceil, err := ceilingsFor(gpu.name, pc.peaks)
	if err != nil {
		return err
	}
	rep, err := profileOn(gpu, pc, cfg, ceil, profileLaunches)
	if err != nil {
		return err
	}
	if jsonOut {
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(js))
	} else {
		printProfile(os.Stdout, rep, pc.perLayer)
	}
	return writeProfileOutputs(rep, pc.jsonPath, pc.pngPath)
}

func profileNotes(unknown []string) []string {
	notes := []string{
		"times: CUDA events around each launch, median over the profiled steps; the step time also covers copies, memsets and host gaps between launches",
		"FLOP: multiply-adds x2 over live taps only (MaskedFLOPs); elementwise ops 1 per element. bytes: ideal DRAM traffic (each tensor once, accumulated outputs read+written, partial sums included)",
		"% roofline: max(FLOP/peak, bytes/bandwidth) / time, peak = TF32 for the version 3 convs, FP32 otherwise",
	}
	if len(unknown) > 0 {
		notes = append(notes, "no cost model for kernels "+strings.Join(unknown, ", ")+": their rows have times only")
	}
	return notes
}

// profileFunc times steps runs of step launch by launch (profileLaunches in a cuda build).
type profileFunc func(gpu *gpuDevice, capacity, steps int, step func() error) ([][]launchRec, []float64, error)

// profileOn builds the preset's model and trainer on gpu's backend, runs the warmup and
// the unprofiled steps, profiles pc.steps steps with profile and builds the report.
func profileOn(gpu *gpuDevice, pc profileConfig, cfg pixelcnn.Config, ceil ceilings, profile profileFunc) (profileReport, error) {
	var rep profileReport
	p, notice, err := nn.ChoosePrecision(gpu.backend, pc.precision) // "": the device's default, tf32 where it can
	if err != nil {
		return rep, err
	}
	if notice != "" {
		fmt.Fprintln(os.Stderr, "bench:", notice)
	}
	precision := string(p)
	// Every launch is timed with its own events, so the step runs its ops one by one: a
	// recorded step (a CUDA graph) would hide them. A second trainer times the recorded step
	// afterwards.
	graphs, _ := gpu.backend.(interface{ SetGraphs(bool) })
	if graphs != nil {
		graphs.SetGraphs(false)
		defer graphs.SetGraphs(true)
	}
	m, err := pixelcnn.NewModel(gpu.backend, cfg, 1)
	if err != nil {
		return rep, err
	}
	defer m.Release()
	opt := pixelcnn.DefaultTrainOptions()
	opt.Batch, opt.Clip = pc.batch, pc.clip
	tr, err := pixelcnn.NewTrainer(m, randomSplit(2*pc.batch, cfg.Subpixels(), 5), opt)
	if err != nil {
		return rep, err
	}
	defer tr.Release()
	step := func() error { _, err := tr.TrainStep(); return err }
	fmt.Fprintf(os.Stderr, "bench: profiling %s b%d on %s (%d warmup + %d plain + %d profiled steps)...\n", pc.preset, pc.batch, gpu.name, pc.warmup, pc.steps, pc.steps)
	for i := 0; i < pc.warmup; i++ {
		if err := step(); err != nil {
			return rep, err
		}
	}
	plain := make([]float64, pc.steps)
	for i := range plain {
		if plain[i], err = gpu.time(step); err != nil {
			return rep, err
		}
	}
	runs, totals, err := profile(gpu, pc.capacity, pc.steps, step)
	if err != nil {
		return rep, err
	}
	launches, err := medianLaunches(runs)
	if err != nil {
		return rep, err
	}
	rep = profileReport{Device: gpu.name, Preset: pc.preset, Shape: fmt.Sprintf("%dx%dx%d", cfg.Height, cfg.Width, cfg.Colors),
		Batch: pc.batch, Precision: precision, Steps: pc.steps, StepMs: median(totals), PlainStepMs: median(plain),
		Launches: len(launches), Ceilings: ceil}
	for _, l := range launches {
		rep.KernelMs += l.Ms
	}
	var unknown []string
	rep.Groups, rep.Layers, unknown = buildProfile(launches, newStepShape(m, pc.batch), ceil, rep.StepMs)
	rep.Notes = profileNotes(unknown)
	if graphs != nil {
		graphs.SetGraphs(true)
	}
	// A second trainer (and model) records the step: its time beside the ones above. The
	// second step is the one recorded, so at least two run untimed.
	tt, err := timeTrain(gpu.backend, cfg, opt, max(2, pc.warmup), pc.steps, gpu.time)
	rep.GraphStepMs, rep.GraphMode = tt.med, tt.mode
	return rep, err
}
