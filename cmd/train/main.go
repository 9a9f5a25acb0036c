// Command train trains a PixelCNN on MNIST, Fashion-MNIST or CIFAR-10 and writes a run
// directory: config.json, metrics.jsonl, checkpoint.safetensors, sample grids and a
// training-curve plot. Ctrl-C writes a checkpoint and exits with status 130; --resume continues
// exactly, with the run's own dataset, settings and stop target unless flags override them.
//
// Stop conditions: --steps and --epochs name the step to stop at, counted over the whole run
// (so they cannot be given together); --minutes is the run's wall-clock budget, also over the
// whole run. With --minutes and a step target, whichever is reached first stops the run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/nn"
	_ "pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/dist"
	"pixelcnn/pixelcnn/dist/nccl"
)

type flags struct {
	dataset, dataDir, preset, runDir, resume, device, optimizer string
	precision                                                   string
	hidden, blocks, outDim, batch, steps                        int
	epochs, minutes, lr, lrDecay, clip, ema                     float64
	evalEvery, evalLimit, finalEvalLimit, sampleEvery, samples  int
	checkpointEvery, logEvery                                   int
	seed                                                        uint64
	overwrite                                                   bool
	arch, dilations                                             string
	conditional                                                 bool
	shards                                                      int
	reduce                                                      string
	comm                                                        string
	collectiveTimeout                                           time.Duration
}

// errInterrupted ends a run stopped by SIGINT or SIGTERM after its checkpoint is written.
var errInterrupted = errors.New("interrupted")

func main() {
	f, fs, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(2)
	}
	if f.comm != nccl.Auto && f.comm != nccl.MPI && f.comm != nccl.NCCL { // a usage error, like the flags above
		fmt.Fprintf(os.Stderr, "train: --comm %q: want %s, %s or %s\n", f.comm, nccl.Auto, nccl.MPI, nccl.NCCL)
		os.Exit(2)
	}
	world, notice, err := dist.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
	if notice != "" {
		fmt.Fprintln(os.Stderr, notice)
	}
	selected, err := nccl.Select(f.comm, f.device, world) // --comm: NCCL on GPUs
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		world.Abort(1)
	}
	world = selected
	world = dist.WithTimeout(world, f.collectiveTimeout, 1, collectiveExpired(world.Rank()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills at once (the default action).
		<-ctx.Done()
		stop()
	}()
	prefix := "train:"
	if world.Size() > 1 {
		prefix = fmt.Sprintf("train: rank %d:", world.Rank())
	}
	err = runWorld(ctx, f, fs, os.Stdout, world)
	code := 0
	switch {
	case errors.Is(err, errInterrupted):
		code = 130
	case err != nil:
		fmt.Fprintln(os.Stderr, "\n"+prefix, err)
		code = 1
	}
	if code == 1 && world.Size() > 1 && !everyRankFails(err) {
		// The other ranks may wait in a collective this rank will never join: end them all.
		world.Abort(code)
	}
	if world.Size() > 1 {
		// Every rank leaves together: rank 0 may still be writing the checkpoint of the step
		// all agreed to stop at, and a rank that exits first makes mpirun end the job.
		if err := world.Barrier(); err != nil {
			fmt.Fprintln(os.Stderr, prefix, err)
			code = max(code, 1)
		}
	}
	if err := world.Close(); err != nil {
		fmt.Fprintln(os.Stderr, prefix, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

func parseFlags(args []string) (flags, *pflag.FlagSet, error) {
	var f flags
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	fs.StringVar(&f.dataset, "dataset", "mnist", "mnist | fashion-mnist | cifar10 (on --resume: the run's)")
	fs.StringVar(&f.dataDir, "data-dir", "", "dataset directory (default: the Go module for MNIST, /usr/share/datasets/fashion-mnist; on --resume: the run's)")
	fs.StringVar(&f.preset, "preset", "", "model preset: "+strings.Join(pixelcnn.Presets(), " | ")+" (default: the dataset's)")
	fs.StringVar(&f.arch, "arch", "", "architecture: "+strings.Join(pixelcnn.Archs(), " | ")+" (default: the preset's; --arch gated alone takes the gated preset)")
	fs.StringVar(&f.dilations, "dilations", "", "gated: the layers' dilations, comma-separated, repeated over --blocks (default 1,2,1,4,1,2,1)")
	fs.BoolVar(&f.conditional, "conditional", false, "class-conditional model (labels from the dataset's files)")
	fs.IntVar(&f.hidden, "hidden", 0, "override the preset's hidden width H (pixelcnn: residual stream 2H; gated: features per stack)")
	fs.IntVar(&f.blocks, "blocks", -1, "override the preset's number of residual blocks")
	fs.IntVar(&f.outDim, "out-dim", 0, "override the preset's output-head width")
	fs.IntVar(&f.batch, "batch", 16, "batch size (the paper's is 16)")
	fs.IntVar(&f.steps, "steps", 0, "stop at this step, counted over the whole run")
	fs.Float64Var(&f.epochs, "epochs", 0, "stop after this many epochs over the whole run (instead of --steps)")
	fs.Float64Var(&f.minutes, "minutes", 0, "stop after this many minutes over the whole run (with --steps/--epochs: whichever comes first)")
	fs.Float64Var(&f.lr, "lr", 0, "learning rate (default: the preset's, 4e-3 for mnist and gated, else 1e-3; on --resume: the rate from now on)")
	fs.Float64Var(&f.lrDecay, "lr-decay", 0.999995, "lr multiplier after every step")
	fs.StringVar(&f.optimizer, "optimizer", "adam", "adam | rmsprop")
	fs.Float64Var(&f.clip, "clip", 0, "clip the global gradient norm to this (0: off)")
	fs.Float64Var(&f.ema, "ema", 0.9995, "Polyak average of the weights with this decay per step (0: off): the model evaluated, sampled and saved")
	fs.IntVar(&f.evalEvery, "eval-every", 1000, "evaluate on the test split every N steps (0: only at the end)")
	fs.IntVar(&f.evalLimit, "eval-limit", 1000, "test images used by periodic evaluations (0: all)")
	fs.IntVar(&f.finalEvalLimit, "final-eval-limit", 0, "test images used by the final evaluation (0: all)")
	fs.IntVar(&f.sampleEvery, "sample-every", 5000, "write a sample grid every N steps (0: only at the end)")
	fs.IntVar(&f.samples, "samples", 16, "images per sample grid (0: none)")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", 500, "write the checkpoint every N steps (0: only at the end)")
	fs.IntVar(&f.logEvery, "log-every", 50, "append a metrics line every N steps (0: only at evaluations and the end)")
	fs.StringVar(&f.runDir, "run-dir", "", "output directory (default runs/DATASET-PRESET-TIME)")
	fs.StringVar(&f.resume, "resume", "", "checkpoint file or run directory to continue from")
	fs.BoolVar(&f.overwrite, "overwrite", false, "replace the run already in --run-dir (its checkpoint, metrics, config, samples and curve)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for the initial weights, the data order and samples")
	fs.StringVar(&f.device, "device", "auto", "cpu | cuda | auto")
	fs.IntVar(&f.shards, "shards", 0, "split every global batch (--batch) into this many shards whose gradients are summed in order (0: one per rank; --shards R in one process computes an R-rank run's bits)")
	fs.StringVar(&f.reduce, "reduce", string(dist.Exact), "how the ranks' gradients are summed: exact (gathered, added in rank order: bit-reproducible) | fast (MPI_Allreduce: not bit-reproducible)")
	fs.StringVar(&f.comm, "comm", nccl.Auto, "the collectives: auto (nccl for --device cuda with more than one rank in a cuda build, else mpi) | mpi (dist.Open's world: MPI, or the single process) | nccl (NCCL on the GPUs, one rank per GPU; launched by mpirun or torchrun)")
	fs.DurationVar(&f.collectiveTimeout, "collective-timeout", 30*time.Minute, "with several ranks: how long a rank waits in one collective for the others before it ends every rank (a rank that stopped without dying); 0: for ever")
	fs.StringVar(&f.precision, "precision", "", "conv precision, tf32 | fp32 | bf16 (bf16: CPUs with AVX512_BF16; default: the device's, tf32 on cuda, fp32 on cpu; on --resume the checkpoint's)")
	if err := fs.Parse(args); err != nil {
		return f, fs, explainRange(err)
	}
	if fs.NArg() > 0 {
		return f, fs, fmt.Errorf("unexpected argument %q (every setting is a --flag)", fs.Arg(0))
	}
	return f, fs, nil
}

// badFlagValue matches pflag's error for a value its type cannot hold.
var badFlagValue = regexp.MustCompile(`^invalid argument "(.*)" for "--([a-z0-9-]+)" flag: (must be an integer|must be a number)$`)

// explainRange says, for a number too large for its flag's type (pflag calls it "not an
// integer" or "not a number"), which is the largest the flag accepts.
func explainRange(err error) error {
	m := badFlagValue.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	value, name := m[1], m[2]
	if _, ok := new(big.Int).SetString(value, 0); ok {
		return fmt.Errorf("--%s %s: out of range (the largest accepted is %d)", name, value, math.MaxInt)
	}
	if _, perr := strconv.ParseFloat(value, 64); errors.Is(perr, strconv.ErrRange) {
		if name == "minutes" {
			return fmt.Errorf("--minutes %s: out of range (the largest accepted is %d)", value, maxMinutes)
		}
		return fmt.Errorf("--%s %s: out of the range of a float64 (at most %g)", name, value, math.MaxFloat64)
	}
	return err
}

// validateFlags rejects every impossible number before anything is opened or written.
func validateFlags(f flags, fs *pflag.FlagSet) error {
	type atLeast struct {
		name   string
		v, min int
	}
	ints := []atLeast{
		{"steps", f.steps, 0}, {"batch", f.batch, 1},
		{"eval-every", f.evalEvery, 0}, {"eval-limit", f.evalLimit, 0}, {"final-eval-limit", f.finalEvalLimit, 0},
		{"sample-every", f.sampleEvery, 0}, {"samples", f.samples, 0},
		{"checkpoint-every", f.checkpointEvery, 0}, {"log-every", f.logEvery, 0},
	}
	// The width overrides default to "the preset's"; given explicitly they must be sane.
	for _, o := range []atLeast{{"hidden", f.hidden, 1}, {"blocks", f.blocks, 0}, {"out-dim", f.outDim, 1}} {
		if fs.Changed(o.name) {
			ints = append(ints, o)
		}
	}
	for _, c := range ints {
		if c.v < c.min {
			return fmt.Errorf("--%s %d: must be >= %d", c.name, c.v, c.min)
		}
	}
	if f.steps > maxSteps {
		return fmt.Errorf("--steps %d: the largest accepted is %d", f.steps, maxSteps)
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"epochs", f.epochs}, {"minutes", f.minutes}, {"clip", f.clip}} {
		if !(c.v >= 0) || math.IsInf(c.v, 0) {
			return fmt.Errorf("--%s %v: must be a finite number >= 0", c.name, c.v)
		}
	}
	if f.minutes > float64(maxMinutes) {
		return fmt.Errorf("--minutes %v: the largest accepted is %d (about %d years)", f.minutes, maxMinutes, maxMinutes/(60*24*365))
	}
	if fs.Changed("lr") && (!(f.lr > 0) || math.IsInf(f.lr, 0)) {
		return fmt.Errorf("--lr %v: must be a finite number > 0", f.lr)
	}
	if fs.Changed("precision") {
		if _, err := nn.ParsePrecision(f.precision); err != nil {
			return fmt.Errorf("--precision: %w", err)
		}
	}
	if f.collectiveTimeout < 0 {
		return fmt.Errorf("--collective-timeout %v: must be >= 0 (0: wait for ever)", f.collectiveTimeout)
	}
	if !(f.ema == 0 || (f.ema > 0 && f.ema < 1)) {
		return fmt.Errorf("--ema %v: must be 0 (off) or in (0, 1), e.g. 0.9995", f.ema)
	}
	if !(f.lrDecay > 0 && f.lrDecay <= 1) {
		return fmt.Errorf("--lr-decay %v: must be in (0, 1]", f.lrDecay)
	}
	if f.steps > 0 && f.epochs > 0 {
		return fmt.Errorf("--steps %d and --epochs %v both name the step to stop at: give one", f.steps, f.epochs)
	}
	if f.resume == "" && f.steps == 0 && f.epochs == 0 && f.minutes == 0 {
		return fmt.Errorf("give --steps, --epochs or --minutes")
	}
	if f.resume != "" && f.overwrite {
		return fmt.Errorf("--resume continues a run and --overwrite replaces one: give one")
	}
	return nil
}

// run trains as the flags say, printing progress to out, in a single process. It returns
// errInterrupted when ctx was cancelled (the checkpoint is then written, unless the run had
// not started).
func run(ctx context.Context, f flags, fs *pflag.FlagSet, out io.Writer) error {
	return runWorld(ctx, f, fs, out, dist.Single{})
}

// runWorld is run as one rank of world (world.go): every rank runs it with the same flags.
// Rank 0 speaks for the run; the others print nothing but their errors (returned).
func runWorld(ctx context.Context, f flags, fs *pflag.FlagSet, out io.Writer, world dist.Comm) error {
	if world.Rank() != 0 {
		out = io.Discard
	}
	if err := validateFlags(f, fs); err != nil {
		return agreed{err}
	}
	if err := validateWorldFlags(f, world); err != nil {
		return agreed{err}
	}
	r, err := setup(f, fs, out, world)
	resumed, ds := "", (*data.Dataset)(nil)
	if r != nil {
		resumed, ds = r.resumedFrom, r.ds
	}
	if world.Size() > 1 {
		if err := agreeStart(world, err, fs, resumed, ds); err != nil {
			return agreed{err}
		}
	} else if err != nil {
		return err
	}
	if ctx.Err() != nil && world.Size() == 1 { // Ctrl-C while the data loaded: leave no run behind
		fmt.Fprintln(out, "interrupted before the run started: nothing written")
		return errInterrupted
	}
	defer r.release()
	if r.writer() {
		err = r.prepareDir()
	}
	if r.dir != "" {
		runDirForHints.Store(&r.dir)
	}
	if r.many() {
		if err = r.agree("to prepare the run directory", err); err != nil {
			return agreed{err}
		}
	}
	if err != nil {
		return err
	}
	err = r.train(ctx)
	if err != nil && !errors.Is(err, errInterrupted) {
		err = r.failed(err)
	}
	return err
}

// resumeCommand is how the user started this binary, for the hints that rerun it.
func resumeCommand() string {
	if goRun(os.Args[0]) {
		return "go run ./cmd/train"
	}
	return shellQuote(os.Args[0])
}

// goRun reports whether exe was built by `go run`, into a temporary .../go-build*/.../exe/
// directory that is gone after exit.
func goRun(exe string) bool {
	return strings.Contains(exe, "go-build") && filepath.Base(filepath.Dir(exe)) == "exe"
}

// siblingCommand is how to run the command name that was built beside this binary (make puts
// them all in bin/), for hints: by the path this one was started by, or, started from the
// PATH, by its absolute path (a bare "eval" would be the shell's builtin). Without one it is
// `go run ./cmd/NAME`, which works from the source tree.
func siblingCommand(name string) string {
	exe := os.Args[0]
	if goRun(exe) {
		return "go run ./cmd/" + name
	}
	dir := filepath.Dir(exe)
	if !strings.Contains(exe, "/") {
		abs, err := os.Executable()
		if err != nil {
			return "go run ./cmd/" + name
		}
		dir = filepath.Dir(abs)
	}
	path := filepath.Join(dir, name)
	if !strings.Contains(path, "/") {
		path = "./" + path
	}
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return "go run ./cmd/" + name
	}
	return shellQuote(path)
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe characters.
func shellQuote(s string) string {
	safe := s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=+,@%") == ""
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
