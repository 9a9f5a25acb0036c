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
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/fileio"
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
// Building a case allocates nothing (prepare makes its inputs), so that the memory check and
// --only can look at every case first.
type benchCase struct {
	op, shape string
	conv      bool    // has GPU kernel versions
	flops     float64 // per run
	bytes     float64 // moved per run (memory-bound ops)
	floats    float64 // float32 values in the tensors prepare makes on a backend
	prepare   func(b nn.Backend) (run func() error, result func() ([]float64, error), cleanup func(), err error)
}

const synopsis = `usage: bench [--train=false | --train-only] [flags]
       bench --profile [--preset P] [--batch N] [--profile-json F] [--roofline F.png]

Times each PixelCNN op on the CPU reference backend and, in a -tags cuda build, on the GPU
(with its error against the CPU); then whole training steps of presets. --profile (cuda
build, a GPU) times every kernel launch of one train step instead.`

// The flags only one mode reads; giving one for a mode that does not run is an error.
var (
	kernelFlags  = []string{"size", "colors", "hidden", "head", "runs", "warmup", "cpu-runs", "tol", "tol-tf32", "only", "arch"}
	trainFlags   = []string{"train-presets", "train-batches", "train-steps", "train-warmup", "cpu-train", "cpu-train-steps", "cpu-train-warmup"}
	profileFlags = []string{"preset", "profile-steps", "profile-warmup", "profile-clip", "profile-capacity", "profile-json", "roofline", "profile-per-layer", "peak-fp32", "peak-tf32", "peak-bw"}
)

func main() { os.Exit(runCommand(os.Args[1:], os.Stdout, os.Stderr)) }

// runCommand is main without the process exit, so tests can call it: 0 on success and for
// help, 2 for a bad command line, 1 for a failed run.
func runCommand(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	var c config
	var jsonOut bool
	var jsonFile string
	fs.IntVar(&c.batch, "batch", 16, "images per batch of the kernel table and of --profile")
	fs.IntVar(&c.size, "size", 32, "image height and width")
	fs.IntVar(&c.colors, "colors", 3, "colour channels")
	fs.IntVar(&c.hidden, "hidden", 96, "residual block width H (the stream is 2H); divisible by colors")
	fs.IntVar(&c.head, "head", 384, "output head width; divisible by colors")
	fs.IntVar(&c.runs, "runs", 50, "timed GPU runs per op (the median is reported)")
	fs.IntVar(&c.warmup, "warmup", 5, "untimed runs before timing")
	fs.IntVar(&c.cpuRuns, "cpu-runs", 3, "timed CPU runs per op")
	fs.Float64Var(&c.tol, "tol", 1e-3, "a GPU value v passes when |v-ref| <= tol*(1+|ref|)")
	fs.Float64Var(&c.tolTF32, "tol-tf32", 1e-2, "--tol for the TF32 conv kernels (version 3; the derived bounds are in nn/backendtest/tf32.go)")
	fs.StringVar(&c.only, "only", "", "run only ops whose name contains this")
	fs.StringVar(&c.arch, "arch", pixelcnn.ArchPixelCNN, "architecture whose convolutions the kernel table times: "+strings.Join(pixelcnn.Archs(), " | "))
	fs.BoolVar(&jsonOut, "json", false, "print JSON instead of a table")
	fs.StringVar(&jsonFile, "json-out", "", "also write the JSON report to this file")
	var trainOnly bool
	var presets, batches string
	fs.BoolVar(&c.train, "train", true, "also time full training steps of whole presets")
	fs.BoolVar(&trainOnly, "train-only", false, "time only the training steps (no kernel table)")
	fs.StringVar(&presets, "train-presets", "mnist,cifar10", "presets whose train step is timed (cifar10 and seed at 32x32x3, others at 28x28x1)")
	fs.StringVar(&batches, "train-batches", "16,64", "batch sizes of the train steps")
	fs.IntVar(&c.tc.steps, "train-steps", 20, "timed GPU train steps per case (the median is reported)")
	fs.IntVar(&c.tc.warmup, "train-warmup", 3, "untimed GPU train steps before timing")
	fs.BoolVar(&c.tc.cpu, "cpu-train", true, "also time the train steps on the CPU backend (slow)")
	fs.IntVar(&c.tc.cpuSteps, "cpu-train-steps", 2, "timed CPU train steps per case")
	fs.IntVar(&c.tc.cpuWarmup, "cpu-train-warmup", 1, "untimed CPU train steps before timing (fills the buffer pool)")
	pc := addProfileFlags(fs)
	fs.StringVar(&c.tc.precision, "precision", "", "conv precision of the train steps and --profile, tf32 | fp32 | bf16 (bf16: CPUs with AVX512_BF16; default: each device's, tf32 on cuda, fp32 on cpu)")
	usage := func(err error) int {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if err := cli.Parse(fs, synopsis, args); err != nil {
		var h cli.Help
		if errors.As(err, &h) {
			fmt.Fprint(stdout, h.Usage)
			return 0
		}
		return usage(err)
	}
	if c.tc.precision != "" {
		if _, err := nn.ParsePrecision(c.tc.precision); err != nil {
			return usage(fmt.Errorf("--precision: %w", err))
		}
	}
	if err := checkModeFlags(fs, c, pc.on, trainOnly); err != nil {
		return usage(err)
	}
	pc.precision = c.tc.precision
	if pc.on {
		pc.batch = c.batch
		if err := runProfile(*pc, jsonOut); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		return 0
	}
	c.kernels = !trainOnly
	if trainOnly {
		c.train = true
	}
	c.tc.presets = parseList(presets)
	var err error
	if c.tc.batches, err = parseInts(batches); err != nil {
		return usage(fmt.Errorf("--train-batches: %w", err))
	}
	if err := c.validate(); err != nil {
		return usage(err)
	}
	if err := run(c, jsonOut, jsonFile); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// checkModeFlags refuses a flag that the mode chosen (--profile, --train-only, --train=false
// or the default kernel table and train steps, parsed into c) would never read.
func checkModeFlags(fs *pflag.FlagSet, c config, profile, trainOnly bool) error {
	if profile {
		not := append(append([]string{"train", "train-only", "json-out"}, kernelFlags...), trainFlags...)
		return cli.Unused(fs, "is not read with --profile (which times one train step of --preset at --batch)", not...)
	}
	if err := cli.Unused(fs, "is only read with --profile", profileFlags...); err != nil {
		return err
	}
	if trainOnly {
		if fs.Changed("train") && !c.train {
			return fmt.Errorf("--train=false with --train-only: nothing would run")
		}
		if err := cli.Unused(fs, "is not read with --train-only (there is no kernel table; the train steps take --train-batches)", append([]string{"batch"}, kernelFlags...)...); err != nil {
			return err
		}
	} else {
		if c.arch == pixelcnn.ArchGated {
			if err := cli.Unused(fs, "is not read with --arch gated (its output conv maps the stream straight to the logits)", "head"); err != nil {
				return err
			}
		}
		if !c.train {
			return cli.Unused(fs, "is not read with --train=false (no train steps run)", append([]string{"precision"}, trainFlags...)...)
		}
	}
	if !c.tc.cpu {
		return cli.Unused(fs, "is not read with --cpu-train=false", "cpu-train-steps", "cpu-train-warmup")
	}
	return nil
}

// validate checks the settings of the parts that run, before any device is opened.
func (c config) validate() error {
	if c.kernels {
		for _, f := range []struct {
			flag   string
			v, min int
		}{{"--batch", c.batch, 1}, {"--size", c.size, 1}, {"--colors", c.colors, 1}, {"--hidden", c.hidden, 1}, {"--head", c.head, 1},
			{"--runs", c.runs, 1}, {"--cpu-runs", c.cpuRuns, 1}, {"--warmup", c.warmup, 0}} {
			if f.v < f.min {
				return fmt.Errorf("%s %d must be >= %d", f.flag, f.v, f.min)
			}
		}
		for _, t := range []struct {
			flag string
			v    float64
		}{{"--tol", c.tol}, {"--tol-tf32", c.tolTF32}} {
			if !(t.v > 0) || math.IsInf(t.v, 0) {
				return fmt.Errorf("%s %g: want a finite value > 0", t.flag, t.v)
			}
		}
		cs, err := cases(c)
		if err != nil {
			return fmt.Errorf("--arch %s: %w", c.arch, err)
		}
		if c.only != "" && len(selected(cs, c.only)) == 0 {
			var names []string
			for _, bc := range cs {
				names = append(names, bc.op)
			}
			return fmt.Errorf("--only %q matches no op; the ops are: %s", c.only, strings.Join(names, ", "))
		}
	}
	if c.train {
		if len(c.tc.presets) == 0 {
			return fmt.Errorf("--train-presets: no preset given (have %v)", pixelcnn.Presets())
		}
		for _, p := range c.tc.presets {
			h, w, col := presetShape(p)
			if _, err := pixelcnn.PresetConfig(p, col, h, w); err != nil {
				return fmt.Errorf("--train-presets: %w", err)
			}
		}
		if len(c.tc.batches) == 0 {
			return fmt.Errorf("--train-batches: no batch size given")
		}
		for _, f := range []struct {
			flag   string
			v, min int
		}{{"--train-steps", c.tc.steps, 1}, {"--cpu-train-steps", c.tc.cpuSteps, 1}, {"--train-warmup", c.tc.warmup, 0}, {"--cpu-train-warmup", c.tc.cpuWarmup, 0}} {
			if f.v < f.min {
				return fmt.Errorf("%s %d must be >= %d", f.flag, f.v, f.min)
			}
		}
	}
	return nil
}

// hostBytesPerFloat bounds the host bytes a kernel-table case takes per float32 of its
// tensors while the CPU reference runs it: the tensors (4), their host inputs (4), the
// result read back as float64 (8) and the float32 staging of that read (4).
const hostBytesPerFloat = 20

// checkMemory refuses a kernel table or a train step that cannot fit, with the estimate and
// what the machine (and the GPU) has, before anything is allocated: the CPU reference runs
// every case on the host, the GPU the same cases on the device.
func checkMemory(c config, gpu *gpuDevice) error {
	host := cpu.New()
	if c.kernels {
		cs, err := cases(c)
		if err != nil {
			return err
		}
		var most float64
		for _, bc := range selected(cs, c.only) {
			most = max(most, bc.floats)
		}
		what := fmt.Sprintf("the kernel table at --batch %d --size %d", c.batch, c.size)
		if err := pixelcnn.CheckMemory(what, host, pixelcnn.MemoryNeed{Host: hostBytesPerFloat * most}); err != nil {
			return fmt.Errorf("%w (lower --batch or --size)", err)
		}
		if gpu != nil {
			if err := pixelcnn.CheckMemory(what, gpu.backend, pixelcnn.MemoryNeed{Device: 4 * most}); err != nil {
				return fmt.Errorf("%w (lower --batch or --size)", err)
			}
		}
	}
	if !c.train {
		return nil
	}
	for _, preset := range c.tc.presets {
		h, w, col := presetShape(preset)
		cfg, err := pixelcnn.PresetConfig(preset, col, h, w)
		if err != nil {
			return err
		}
		for _, batch := range c.tc.batches {
			need := pixelcnn.TrainMemory(cfg, batchOptions(batch), 0)
			need.Host += 2 * float64(batch) * float64(cfg.Subpixels()) // randomSplit's images
			what := fmt.Sprintf("the train step %s at batch %d", preset, batch)
			if c.tc.cpu {
				if err := pixelcnn.CheckMemory(what+" on the cpu", host, need); err != nil {
					return fmt.Errorf("%w (lower --train-batches)", err)
				}
			}
			if gpu != nil {
				if err := pixelcnn.CheckMemory(what, gpu.backend, need); err != nil {
					return fmt.Errorf("%w (lower --train-batches)", err)
				}
			}
		}
	}
	return nil
}

// selected are the cases whose op name contains only ("" : all).
func selected(cs []benchCase, only string) []benchCase {
	var out []benchCase
	for _, bc := range cs {
		if strings.Contains(bc.op, only) {
			out = append(out, bc)
		}
	}
	return out
}

func run(c config, jsonOut bool, jsonFile string) error {
	if err := c.validate(); err != nil {
		return err
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
	if err := checkMemory(c, gpu); err != nil {
		return err
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
		if err := fileio.WriteFile(jsonFile, append(js, '\n')); err != nil {
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
	cs, err := cases(c)
	if err != nil {
		return nil, false, err
	}
	for _, bc := range selected(cs, c.only) {
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
			r.MaxAbs, r.MaxRel, r.Mismatch = mismatches(vals, refVals, tol)
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

// mismatches returns the max abs error, the max abs error relative to the largest |ref|, and the
// number of values outside tol*(1+|ref|).
func mismatches(got, ref []float64, tol float64) (maxAbs, maxRel float64, bad int) {
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

// cases are the kernel table's op cases at the flags' shapes.
func cases(c config) ([]benchCase, error) {
	n, s, col := c.batch, c.size, c.colors
	specs, err := benchSpecs(c)
	if err != nil {
		return nil, err
	}
	var cs []benchCase
	for i, sp := range specs {
		cs = append(cs, convCase(n, s, sp, uint64(i), false), convCase(n, s, sp, uint64(i), true))
	}
	cs = append(cs, xentCase(n, s, col), reluCase(n, s, 2*c.hidden), adamCase(specs), sampleCase(n, col))
	return cs, nil
}

// positions is n*s*s in float64: the memory estimates must not overflow on absurd flags.
func positions(n, s int) float64 { return float64(n) * float64(s) * float64(s) }

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
	op := "conv_fwd " + sp.Name
	flops := sp.MaskedFLOPs(n, s, s)
	floats := positions(n, s)*float64(sp.In+sp.Out) + weightFloats(sp)
	if backward {
		op = "conv_bwd " + sp.Name
		flops *= 2  // dX and dW each cost a forward
		floats *= 2 // dy, dx, dw, db beside x, y, w, b
	}
	return benchCase{op: op, shape: fmt.Sprintf("%dx%dx%dx%d->%d k%d", n, s, s, sp.In, sp.Out, sp.K), conv: true, flops: flops, floats: floats,
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			mask, err := nn.Mask(sp)
			if err != nil {
				return nil, nil, func() {}, err
			}
			x := randVals(seed, nn.ShapeLen(xs), 1)
			w := randVals(seed+100, len(mask), 0.1)
			for i := range w {
				w[i] *= mask[i]
			}
			bias := randVals(seed+200, sp.Out, 0.1)
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
			dyt, err := u.up(randVals(seed+300, nn.ShapeLen(ys), 1), ys...)
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
	sub := positions(n, s) * float64(col)
	return benchCase{op: "softmax_xent", shape: fmt.Sprintf("%.0f subpixels x 256", sub),
		flops: sub * 256 * 5, bytes: sub * 256 * 8, floats: sub * (2*256 + 1),
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			sub := nn.ShapeLen(xs)
			logits := randVals(7, sub*256, 4)
			r := rand.New(rand.NewPCG(8, 8))
			x := make([]float32, sub)
			for i := range x {
				x[i] = float32(r.IntN(256)) / 255
			}
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

// reluCase is a ReLU over n images of s x s x width.
func reluCase(n, s, width int) benchCase {
	count := positions(n, s) * float64(width)
	return benchCase{op: "relu", shape: fmt.Sprintf("%.0f", count), bytes: count * 8, floats: 2 * count,
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			n := n * s * s * width
			a := randVals(11, n, 1)
			u := &uploader{b: b}
			at, err := u.up(a, n)
			if err != nil {
				return nil, nil, u.cleanup, err
			}
			yt := u.zeros(n)
			return func() error { return b.ReLU(yt, at) }, func() ([]float64, error) { return read(b, yt) }, u.cleanup, nil
		}}
}

// weightFloats is a conv's weights and biases, in float64 (absurd widths must not overflow).
func weightFloats(sp nn.ConvSpec) float64 {
	return float64(sp.KH())*float64(sp.K)*float64(sp.In)*float64(sp.Out) + float64(sp.Out)
}

func adamCase(specs []nn.ConvSpec) benchCase {
	var total float64
	for _, sp := range specs {
		total += weightFloats(sp)
	}
	return benchCase{op: "adam", shape: fmt.Sprintf("%.0f params in %d tensors", total, 2*len(specs)),
		flops: total * 12, bytes: total * 28, floats: 4 * total,
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			var sizes []int
			for _, sp := range specs {
				sizes = append(sizes, nn.ShapeLen(sp.WeightShape()), sp.Out)
			}
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
	return benchCase{op: "sample", shape: fmt.Sprintf("%d rows", n), floats: float64(n) * float64(rowLen),
		prepare: func(b nn.Backend) (func() error, func() ([]float64, error), func(), error) {
			logits := randVals(13, n*rowLen, 4)
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
