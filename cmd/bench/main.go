// Command bench runs each PixelCNN op on the CPU reference backend and, in binaries built with
// -tags cuda, on the GPU with the same random inputs: it reports the GPU's max abs / rel error
// against the CPU, the median time of --runs runs after --warmup runs (CUDA events on the
// GPU, wall clock on the CPU), GFLOP/s and GB/s, and the speedup. Without -tags cuda it says
// so and times the CPU only.
//
// With --train (the default) it then times full training steps (forward, loss, backward,
// Adam) of whole presets on random 8-bit images: --train-presets (mnist at 28x28x1, cifar10 at
// 32x32x3) at each of --train-batches, the median of --train-steps steps after
// --train-warmup on the GPU and of --cpu-train-steps after --cpu-train-warmup on the CPU,
// as ms/step, images/s and achieved GFLOP/s (3 x the forward pass's masked-conv FLOPs).
// The CPU side is slow (a cifar10 step at batch 64 takes minutes on two cores):
// --cpu-train=false skips it. --train-only skips the kernel table.
//
// --profile (cuda build, a GPU) instead times every kernel launch of --preset's train step at
// --batch with CUDA events and prints, per op and layer, ms, % of the step, FLOP, bytes,
// TFLOP/s, GB/s and % of the roofline bound at the GPU's datasheet ceilings (--peak-fp32,
// --peak-tf32, --peak-bw override them); --profile-json and --roofline FILE.png write it too.
//
//	go build -tags cuda -o bin/bench ./cmd/bench && bin/bench --json
//	go run ./cmd/bench --train-only --train-presets mnist --train-batches 16
//	bin/bench --profile --preset cifar10 --batch 16 --profile-json p.json --roofline p.png
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
)

// The conv kernel versions the kernel table restores after each case (the backend's FP32
// default) and checks at --tol-tf32 (TF32 tensor cores).
const (
	defaultVersion = 2
	tf32Version    = 3
)

// gpuDevice is what a cuda build provides (gpu_cuda.go): the backend, an event timer, and
// a switch between its kernel versions.
type gpuDevice struct {
	name     string
	backend  nn.Backend
	time     func(fn func() error) (float64, error)
	versions []int
	setConv  func(v int) error
	close    func()
}

type config struct {
	batch, size, colors, hidden, head int
	runs, warmup, cpuRuns             int
	tol, tolTF32                      float64
	only, arch                        string
	kernels, train                    bool
	tc                                trainConfig
}

// report is the --json output.
type report struct {
	Device     string     `json:"device"`
	CPUThreads int        `json:"cpu_threads"`
	Kernels    []row      `json:"kernels,omitempty"`
	Train      []trainRow `json:"train_steps,omitempty"`
}

// row is one line of the report.
type row struct {
	Op       string  `json:"op"`
	Version  string  `json:"version"`
	Shape    string  `json:"shape"`
	CPUms    float64 `json:"cpu_ms"`
	GPUms    float64 `json:"gpu_ms,omitempty"`
	Speedup  float64 `json:"speedup,omitempty"`
	GFLOPs   float64 `json:"gflops,omitempty"`
	GBs      float64 `json:"gbs,omitempty"`
	MaxAbs   float64 `json:"max_abs_err"`
	MaxRel   float64 `json:"max_rel_err"`
	Mismatch int     `json:"mismatches"`
	OK       bool    `json:"ok"`
}

// benchCase is one op on one shape. prepare uploads the inputs to a backend and returns the
// op (run), a read-back of its outputs after exactly one run (result), and a cleanup.
type benchCase struct {
	op, shape string
	conv      bool    // has GPU kernel versions
	flops     float64 // per run
	bytes     float64 // moved per run (memory-bound ops)
	prepare   func(b nn.Backend) (run func() error, result func() ([]float64, error), cleanup func(), err error)
}

func main() {
	var c config
	var jsonOut bool
	var jsonFile string
	pflag.IntVar(&c.batch, "batch", 16, "images per batch")
	pflag.IntVar(&c.size, "size", 32, "image height and width")
	pflag.IntVar(&c.colors, "colors", 3, "colour channels")
	pflag.IntVar(&c.hidden, "hidden", 96, "residual block width H (the stream is 2H); divisible by colors")
	pflag.IntVar(&c.head, "head", 384, "output head width; divisible by colors")
	pflag.IntVar(&c.runs, "runs", 50, "timed GPU runs per op (the median is reported)")
	pflag.IntVar(&c.warmup, "warmup", 5, "untimed runs before timing")
	pflag.IntVar(&c.cpuRuns, "cpu-runs", 3, "timed CPU runs per op")
	pflag.Float64Var(&c.tol, "tol", 1e-3, "a GPU value v passes when |v-ref| <= tol*(1+|ref|)")
	pflag.Float64Var(&c.tolTF32, "tol-tf32", 1e-2, "--tol for the TF32 conv kernels (version 3; the derived bounds are in nn/backendtest/tf32.go)")
	pflag.StringVar(&c.only, "only", "", "run only ops whose name contains this")
	pflag.StringVar(&c.arch, "arch", pixelcnn.ArchPixelCNN, "architecture whose convolutions the kernel table times: "+strings.Join(pixelcnn.Archs(), " | "))
	pflag.BoolVar(&jsonOut, "json", false, "print JSON instead of a table")
	pflag.StringVar(&jsonFile, "json-out", "", "also write the JSON report to this file")
	var trainOnly bool
	var presets, batches string
	pflag.BoolVar(&c.train, "train", true, "also time full training steps of whole presets")
	pflag.BoolVar(&trainOnly, "train-only", false, "time only the training steps (no kernel table)")
	pflag.StringVar(&presets, "train-presets", "mnist,cifar10", "presets whose train step is timed (cifar10 and seed at 32x32x3, others at 28x28x1)")
	pflag.StringVar(&batches, "train-batches", "16,64", "batch sizes of the train steps")
	pflag.IntVar(&c.tc.steps, "train-steps", 20, "timed GPU train steps per case (the median is reported)")
	pflag.IntVar(&c.tc.warmup, "train-warmup", 3, "untimed GPU train steps before timing")
	pflag.BoolVar(&c.tc.cpu, "cpu-train", true, "also time the train steps on the CPU backend (slow)")
	pflag.IntVar(&c.tc.cpuSteps, "cpu-train-steps", 2, "timed CPU train steps per case")
	pflag.IntVar(&c.tc.cpuWarmup, "cpu-train-warmup", 1, "untimed CPU train steps before timing (fills the buffer pool)")
	pc := addProfileFlags(pflag.CommandLine)
	pflag.StringVar(&c.tc.precision, "precision", "", "conv precision of the train steps and --profile, tf32 | fp32 (default: each device's, tf32 on cuda, fp32 on cpu)")
	pflag.Parse()
	if pflag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q (every setting is a --flag; see --help)\n", pflag.Args())
		os.Exit(2)
	}
	if c.tc.precision != "" {
		if _, err := nn.ParsePrecision(c.tc.precision); err != nil {
			fmt.Fprintln(os.Stderr, "bench: --precision:", err)
			os.Exit(2)
		}
	}
	pc.precision = c.tc.precision
	if pc.on {
		pc.batch = c.batch
		if err := runProfile(*pc, jsonOut); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	c.kernels = !trainOnly
	if trainOnly {
		c.train = true
	}
	c.tc.presets = parseList(presets)
	var err error
	if c.tc.batches, err = parseInts(batches); err != nil {
		fmt.Fprintln(os.Stderr, "bench: --train-batches:", err)
		os.Exit(2)
	}
	if err := run(c, jsonOut, jsonFile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(c config, jsonOut bool, jsonFile string) error {
	if c.hidden%c.colors != 0 || c.head%c.colors != 0 || c.batch < 1 || c.size < 1 || c.runs < 1 || c.cpuRuns < 1 {
		return fmt.Errorf("bad sizes: batch %d size %d hidden %d head %d colors %d runs %d", c.batch, c.size, c.hidden, c.head, c.colors, c.runs)
	}
	if _, err := benchSpecs(c); err != nil {
		return fmt.Errorf("--arch %s: %w", c.arch, err)
	}
	if c.train && (len(c.tc.presets) == 0 || len(c.tc.batches) == 0 || c.tc.steps < 1 || c.tc.cpuSteps < 1 || c.tc.warmup < 0 || c.tc.cpuWarmup < 0) {
		return fmt.Errorf("bad train settings: presets %v batches %v steps %d/%d warmup %d/%d", c.tc.presets, c.tc.batches, c.tc.steps, c.tc.cpuSteps, c.tc.warmup, c.tc.cpuWarmup)
	}
	for _, t := range []struct {
		flag string
		v    float64
	}{{"--tol", c.tol}, {"--tol-tf32", c.tolTF32}} {
		if !(t.v > 0) || math.IsInf(t.v, 0) {
			return fmt.Errorf("%s %g: want a finite value > 0", t.flag, t.v)
		}
	}
	gpu, err := openGPU()
	if err != nil {
		return err
	}
	if gpu == nil {
		fmt.Fprintln(os.Stderr, "bench: built without -tags cuda: CPU timings only (build with `make ptx && go build -tags cuda ./cmd/bench`)")
	} else {
		defer gpu.close()
	}
	rep := report{Device: "cpu only", CPUThreads: runtime.GOMAXPROCS(0)}
	if gpu != nil {
		rep.Device = gpu.name
	}
	failed := false
	if c.kernels {
		if rep.Kernels, failed, err = runKernels(c, gpu); err != nil {
			return err
		}
	}
	if c.train {
		if gpu == nil && !c.tc.cpu {
			return fmt.Errorf("--cpu-train=false and no GPU: no train step to time")
		}
		if rep.Train, err = runTrain(c.tc, gpu); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if jsonFile != "" {
		if err := os.WriteFile(jsonFile, append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	if jsonOut {
		fmt.Println(string(js))
	} else {
		fmt.Printf("device: %s; cpu backend: %d threads\n", rep.Device, rep.CPUThreads)
		if c.kernels {
			printTable(rep.Kernels, gpu != nil)
		}
		if c.train {
			if c.kernels {
				fmt.Println()
			}
			printTrainTable(rep.Train, c.tc.cpu, gpu != nil)
		}
	}
	if failed {
		return fmt.Errorf("some GPU results differ from the CPU reference beyond --tol %g (--tol-tf32 %g for v%d)", c.tol, c.tolTF32, tf32Version)
	}
	return nil
}

// runKernels times every op case (those matching --only); failed reports a GPU result that
// differs from the CPU reference.
func runKernels(c config, gpu *gpuDevice) (rows []row, failed bool, err error) {
	ref := cpu.New()
	for _, bc := range cases(c) {
		if c.only != "" && !strings.Contains(bc.op, c.only) {
			continue
		}
		cpuMs, refVals, err := measure(ref, bc, c.cpuRuns, 1, wallTime)
		if err != nil {
			return nil, false, fmt.Errorf("%s on cpu: %w", bc.op, err)
		}
		if gpu == nil {
			rows = append(rows, finish(row{Op: bc.op, Version: "-", Shape: bc.shape, CPUms: cpuMs, OK: true}, bc, cpuMs))
			continue
		}
		versions := []int{0}
		if bc.conv {
			versions = gpu.versions
		}
		for _, v := range versions {
			name := "v1"
			if v != 0 {
				name = fmt.Sprintf("v%d", v)
				if err := gpu.setConv(v); err != nil {
					return nil, false, err
				}
			}
			ms, vals, err := measure(gpu.backend, bc, c.runs, c.warmup, gpu.time)
			if err != nil {
				return nil, false, fmt.Errorf("%s %s on gpu: %w", bc.op, name, err)
			}
			r := row{Op: bc.op, Version: name, Shape: bc.shape, CPUms: cpuMs, GPUms: ms}
			tol := c.tol
			if v == tf32Version {
				tol = c.tolTF32
			}
			r.MaxAbs, r.MaxRel, r.Mismatch = errors(vals, refVals, tol)
			r.OK = r.Mismatch == 0
			failed = failed || !r.OK
			rows = append(rows, finish(r, bc, ms))
		}
		if bc.conv {
			if err := gpu.setConv(defaultVersion); err != nil {
				return nil, false, err
			}
		}
	}
	return rows, failed, nil
}

// finish fills the rates from the time ms of the backend being reported.
func finish(r row, bc benchCase, ms float64) row {
	if ms > 0 {
		r.GFLOPs = bc.flops / (ms * 1e6)
		r.GBs = bc.bytes / (ms * 1e6)
	}
	if r.GPUms > 0 {
		r.Speedup = r.CPUms / r.GPUms
	}
	return r
}

// measure prepares bc on b, runs it once for the result, then warmup untimed and runs timed
// runs, and returns the median time in ms.
func measure(b nn.Backend, bc benchCase, runs, warmup int, timer func(func() error) (float64, error)) (float64, []float64, error) {
	op, result, cleanup, err := bc.prepare(b)
	if err != nil {
		return 0, nil, err
	}
	defer cleanup()
	if err := op(); err != nil {
		return 0, nil, err
	}
	vals, err := result()
	if err != nil {
		return 0, nil, err
	}
	for i := 0; i < warmup; i++ {
		if err := op(); err != nil {
			return 0, nil, err
		}
	}
	times := make([]float64, runs)
	for i := range times {
		if times[i], err = timer(op); err != nil {
			return 0, nil, err
		}
	}
	sort.Float64s(times)
	return times[len(times)/2], vals, nil
}

// errors returns the max abs error, the max abs error relative to the largest |ref|, and the
// number of values outside tol*(1+|ref|).
func errors(got, ref []float64, tol float64) (maxAbs, maxRel float64, bad int) {
	if len(got) != len(ref) {
		return math.Inf(1), math.Inf(1), max(len(got), len(ref))
	}
	var scale float64
	for i := range ref {
		d := math.Abs(got[i] - ref[i])
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxAbs = max(maxAbs, d)
		scale = max(scale, math.Abs(ref[i]))
		if !(d <= tol*(1+math.Abs(ref[i]))) {
			bad++
		}
	}
	if scale > 0 {
		maxRel = maxAbs / scale
	}
	return maxAbs, maxRel, bad
}

func printTable(rows []row, gpu bool) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	if gpu {
		fmt.Fprintln(w, "op\tver\tshape\tcpu ms\tgpu ms\tspeedup\tGFLOP/s\tGB/s\tmax abs\tmax rel\tbad\t")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%.3f\t%.4f\t%.1fx\t%.0f\t%.0f\t%.2e\t%.2e\t%d\t\n",
				r.Op, r.Version, r.Shape, r.CPUms, r.GPUms, r.Speedup, r.GFLOPs, r.GBs, r.MaxAbs, r.MaxRel, r.Mismatch)
		}
	} else {
		fmt.Fprintln(w, "op\tshape\tcpu ms\tGFLOP/s\tGB/s\t")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%.3f\t%.1f\t%.1f\t\n", r.Op, r.Shape, r.CPUms, r.GFLOPs, r.GBs)
		}
	}
	w.Flush()
}

// ---------------------------------------------------------------------------------------------
// cases

func randVals(seed uint64, n int, scale float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 99))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((r.Float64()*2 - 1) * scale)
	}
	return v
}

// uploader collects the tensors a case creates so that cleanup releases them all.
type uploader struct {
	b  nn.Backend
	ts []*nn.Tensor
}

func (u *uploader) up(v []float32, shape ...int) (*nn.Tensor, error) {
	t, err := u.b.FromHost(v, shape...)
	if err == nil {
		u.ts = append(u.ts, t)
	}
	return t, err
}

func (u *uploader) zeros(shape ...int) *nn.Tensor {
	t := u.b.New(shape...)
	u.ts = append(u.ts, t)
	return t
}

func (u *uploader) cleanup() {
	for _, t := range u.ts {
		u.b.Release(t)
	}
}

func read(b nn.Backend, ts ...*nn.Tensor) ([]float64, error) {
	var out []float64
	for _, t := range ts {
		h := make([]float32, t.Len())
		if err := b.ToHost(h, t); err != nil {
			return nil, err
		}
		for _, v := range h {
			out = append(out, float64(v))
		}
	}
	return out, nil
}

func cases(c config) []benchCase {
	n, s, col := c.batch, c.size, c.colors
	specs, err := benchSpecs(c)
	if err != nil {
		panic(err) // validated in parseConfig
	}
	var cs []benchCase
	for i, sp := range specs {
		cs = append(cs, convCase(n, s, sp, uint64(i), false), convCase(n, s, sp, uint64(i), true))
	}
	cs = append(cs, xentCase(n, s, col), reluCase(n*s*s*2*c.hidden), adamCase(specs), sampleCase(n, col))
	return cs
}

// benchSpecs are the distinct convolutions of the architecture at the flags' widths, taken
// from its description (one residual block or gated layer stands for all of them), named
// without the block prefix.
func benchSpecs(c config) ([]nn.ConvSpec, error) {
	cfg := pixelcnn.Config{Arch: c.arch, Colors: c.colors, Height: c.size, Width: c.size, Hidden: c.hidden, Blocks: 1, OutDim: c.head}
	if c.arch == pixelcnn.ArchGated {
		cfg.OutDim, cfg.Dilations = 0, []int{1}
	}
	all, err := pixelcnn.ConvSpecs(cfg)
	if err != nil {
		return nil, err
	}
	var specs []nn.ConvSpec
	for _, sp := range all {
		if i := strings.LastIndexByte(sp.Name, '.'); i >= 0 {
			sp.Name = sp.Name[i+1:]
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

func convCase(n, s int, sp nn.ConvSpec, seed uint64, backward bool) benchCase {
	xs := []int{n, s, s, sp.In}
	ys := []int{n, s, s, sp.Out}
	mask, _ := nn.Mask(sp)
	x := randVals(seed, nn.ShapeLen(xs), 1)
	w := randVals(seed+100, len(mask), 0.1)
	for i := range w {
		w[i] *= mask[i]
	}
	bias := randVals(seed+200, sp.Out, 0.1)
	dy := randVals(seed+300, nn.ShapeLen(ys), 1)
	op := "conv_fwd " + sp.Name
	flops := sp.MaskedFLOPs(n, s, s)
	if backward {
		op = "conv_bwd " + sp.Name
		flops *= 2 // dX and dW each cost a forward
	}
	return benchCase{op: op, shape: fmt.Sprintf("%dx%dx%dx%d->%d k%d", n, s, s, sp.In, sp.Out, sp.K), conv: true, flops: flops,
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			u := &uploader{b: b}
			xt, err := u.up(x, xs...)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			wt, err := u.up(w, sp.WeightShape()...)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			bt, err := u.up(bias, sp.Out)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			yt := u.zeros(ys...)
			if !backward {
				return func() error { return b.MaskedConv(sp, yt, xt, wt, bt) },
					func() ([]float64, error) { return read(b, yt) }, u.cleanup, nil
			}
			if err := b.MaskedConv(sp, yt, xt, wt, bt); err != nil {
				return nil, nil, u.cleanup, err
			}
			dyt, err := u.up(dy, ys...)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			dxt, dwt, dbt := u.zeros(xs...), u.zeros(sp.WeightShape()...), u.zeros(sp.Out)
			return func() error { return b.MaskedConvBackward(sp, dxt, dwt, dbt, dyt, xt, wt, yt) },
				func() ([]float64, error) { return read(b, dxt, dwt, dbt) }, u.cleanup, nil
		}}
}

func xentCase(n, s, col int) benchCase {
	xs := []int{n, s, s, col}
	ls := []int{n, s, s, col * 256}
	sub := nn.ShapeLen(xs)
	logits := randVals(7, sub*256, 4)
	r := rand.New(rand.NewPCG(8, 8))
	x := make([]float32, sub)
	for i := range x {
		x[i] = float32(r.IntN(256)) / 255
	}
	return benchCase{op: "softmax_xent", shape: fmt.Sprintf("%d subpixels x 256", sub),
		flops: float64(sub) * 256 * 5, bytes: float64(sub) * 256 * 8,
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			u := &uploader{b: b}
			lt, err := u.up(logits, ls...)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			xt, err := u.up(x, xs...)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			dt := u.zeros(ls...)
			var nats float64
			return func() error {
					var err error
					nats, err = b.SoftmaxXent(lt, xt, dt, 1/float32(sub))
					return err
				}, func() ([]float64, error) {
					v, err := read(b, dt)
					return append(v, nats/float64(sub)), err
				}, u.cleanup, nil
		}}
}

func reluCase(n int) benchCase {
	a := randVals(11, n, 1)
	return benchCase{op: "relu", shape: fmt.Sprint(n), bytes: float64(n) * 8,
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			u := &uploader{b: b}
			at, err := u.up(a, n)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			yt := u.zeros(n)
			return func() error { return b.ReLU(yt, at) }, func() ([]float64, error) { return read(b, yt) }, u.cleanup, nil
		}}
}

func adamCase(specs []nn.ConvSpec) benchCase {
	var sizes []int
	total := 0
	for _, sp := range specs {
		sizes = append(sizes, nn.ShapeLen(sp.WeightShape()), sp.Out)
		total += nn.ShapeLen(sp.WeightShape()) + sp.Out
	}
	return benchCase{op: "adam", shape: fmt.Sprintf("%d params in %d tensors", total, len(sizes)),
		flops: float64(total) * 12, bytes: float64(total) * 28,
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			u := &uploader{b: b}
			var p, g, m, v []*nn.Tensor
			for i, sz := range sizes {
				for k, list := range []*[]*nn.Tensor{&p, &g, &m, &v} {
					vals := randVals(uint64(1000+10*i+k), sz, 1)
					if k == 3 {
						for j := range vals {
							vals[j] = float32(math.Abs(float64(vals[j])))
						}
					}
					t, err := u.up(vals, sz)
					if err != nil {
						return nil, nil, u.cleanup, err
					}
					*list = append(*list, t)
				}
			}
			h := nn.AdamStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 10}
			return func() error { return b.AdamStep(p, g, m, v, h) },
				func() ([]float64, error) { return read(b, p...) }, u.cleanup, nil
		}}
}

func sampleCase(n, col int) benchCase {
	rowLen := col * 256
	logits := randVals(13, n*rowLen, 4)
	return benchCase{op: "sample", shape: fmt.Sprintf("%d rows", n),
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			u := &uploader{b: b}
			lt, err := u.up(logits, n, rowLen)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			out := make([]int32, n)
			return func() error { return b.SampleCategorical(out, lt, rowLen-256, 1, 42, 7) },
				func() ([]float64, error) {
					v := make([]float64, n)
					for i, d := range out {
						v[i] = float64(d)
					}
					return v, nil
				}, u.cleanup, nil
		}}
}
