package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/progress"
	"pixelcnn/nn"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/dist"
)

// trainingRun is one invocation of train: what setup decided, and the loop's state.
type trainingRun struct {
	out     io.Writer
	prog    *progress.Printer
	b       nn.Backend
	world   dist.Comm // the ranks training together (world.go); dist.Single alone
	dataset string
	ds      *data.Dataset
	model   *pixelcnn.Model
	tr      *pixelcnn.Trainer
	set     runSettings
	stop    stopCondition

	precision   nn.Precision // of the conv ops, recorded in config.json and every metrics line
	ckPrecision nn.Precision // a resumed checkpoint's ("" when it does not record one)

	dir         string // the run directory; "" until prepareDir claims the default one
	defaultDir  string // runs/DATASET-PRESET-TIME, claimed with a suffix if it exists
	runDir      string // --run-dir ("" for the default)
	ckPath      string // the run's checkpoint: dir/checkpoint.safetensors
	overwrite   bool
	runID       string   // names the run in config.json and its checkpoints
	lock        *runLock // held on dir from prepareDir on
	createdDir  bool     // this invocation created dir
	hadCurve    bool     // dir held curve.png before this invocation
	resumedFrom string   // the checkpoint a resumed run started from; "" for a new run
	inRunDir    bool     // resumedFrom is a run directory's checkpoint (beside its config.json)
	inPlace     bool     // the run goes on in resumedFrom's run directory
	resumedStat os.FileInfo
	ckDevice    string      // the backend that computed the resumed state ("" when unrecorded)
	ckStat      os.FileInfo // the checkpoint at ckPath as this run last wrote or loaded it
	history     [][]byte    // a resumed run's metrics lines up to the checkpoint's step
	dropped     int         // metrics lines after the checkpoint's step (or broken) left out of history
	wallBefore  time.Duration
	notes       []string // settings changed on resume; the next metrics line records them
	log         *metricsLog

	start                     time.Time
	trainTime, trainTimeAtLog time.Duration
	startStep, imagesFromStep int
	lastLineStep, savedStep   int
	smooth                    float64
}

// setup opens the device, the data and the model (new or resumed), decides the run directory
// and the stop condition, and checks that the run has something to do. It writes nothing.
func setup(f flags, fs *pflag.FlagSet, out io.Writer, world dist.Comm) (*trainingRun, error) {
	b, err := openDevice(f.device, out)
	if err != nil {
		return nil, err
	}
	r := &trainingRun{out: out, prog: progress.New(out), b: b, world: world, dataset: f.dataset, set: settingsFromFlags(f),
		overwrite: f.overwrite, smooth: math.NaN(), savedStep: -1}
	if f.resume != "" {
		err = r.resume(f, fs)
	} else {
		err = r.newModel(f, fs)
	}
	if err != nil {
		return nil, err
	}
	if err := r.joinWorld(f); err != nil {
		return nil, err
	}
	if err := r.choosePrecision(f); err != nil {
		return nil, err
	}
	if r.ckDevice != "" && r.ckDevice != r.b.Name() {
		// The worker count, the ISA's kernels, the backend and the precision all change the
		// order in which sums are taken, so the run goes on close to, not exactly as, before.
		r.notes = append(r.notes, fmt.Sprintf("device %s (the checkpoint's was %s)", r.b.Name(), r.ckDevice))
	}
	if n := r.set.Samples; n > 0 {
		what := fmt.Sprintf("sample grids of %d images", n)
		if err := pixelcnn.CheckMemory(what, r.b, pixelcnn.SampleMemory(r.model.Config, n, false)); err != nil {
			return nil, fmt.Errorf("%w (lower --samples)", err)
		}
	}
	return r, r.chooseDir(f.runDir)
}

// choosePrecision sets the backend's conv precision: --precision, else a resumed checkpoint's
// (when the device can compute at it), else the device's default. A resume that changes the
// precision says so and notes it in the next metrics line.
func (r *trainingRun) choosePrecision(f flags) error {
	flag := f.precision
	if flag == "" && r.ckPrecision != "" {
		err := nn.SetBackendPrecision(r.b, r.ckPrecision)
		if err == nil {
			r.precision = r.ckPrecision
			return nil
		}
		fmt.Fprintf(r.out, "note: the checkpoint's precision: %v\n", err)
	}
	p, notice, err := nn.ChoosePrecision(r.b, flag)
	if err != nil {
		return err
	}
	if notice != "" {
		fmt.Fprintln(r.out, notice)
	}
	r.precision = p
	if r.ckPrecision != "" && p != r.ckPrecision {
		r.notes = append(r.notes, fmt.Sprintf("precision %s (the checkpoint's was %s)", p, r.ckPrecision))
	}
	return nil
}

// loadDataset is data.Load; tests share one copy of each dataset between runs.
var loadDataset = data.Load

// nvidiaDriverFiles exist on a machine with a loaded NVIDIA driver (tests point it elsewhere).
var nvidiaDriverFiles = []string{"/proc/driver/nvidia/version", "/dev/nvidia0"}

// openDevice opens the backend; when auto falls back to the CPU on a machine with an NVIDIA
// GPU because the binary was built without the CUDA backend, it says so.
func openDevice(name string, out io.Writer) (nn.Backend, error) {
	b, err := nn.Open(name)
	if err != nil {
		return nil, err
	}
	if name == "auto" && !slices.Contains(nn.Registered(), "cuda") && slices.ContainsFunc(nvidiaDriverFiles, exists) {
		fmt.Fprintln(out, "note: an NVIDIA GPU is present but this binary has no CUDA backend: build with -tags cuda (make train does); training on the CPU")
	}
	return b, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// newModel builds a fresh model and trainer from the flags.
func (r *trainingRun) newModel(f flags, fs *pflag.FlagSet) error {
	ds, err := loadDataset(f.dataset, f.dataDir)
	if err != nil {
		return err
	}
	preset := f.preset
	if preset == "" {
		preset = defaultPreset(f)
	}
	cfg, err := pixelcnn.PresetConfig(preset, ds.C, ds.H, ds.W)
	if err != nil && !slices.Contains(pixelcnn.Presets(), preset) {
		return err // a preset that does not fit the data is checked with the overrides applied
	}
	if fs.Changed("hidden") {
		cfg.Hidden = f.hidden
	}
	if fs.Changed("blocks") {
		cfg.Blocks = f.blocks
	}
	if fs.Changed("out-dim") {
		cfg.OutDim = f.outDim
	}
	if err := applyArchFlags(&cfg, f, fs, ds); err != nil {
		return err
	}
	if err = cfg.Validate(); err != nil {
		if fix := widthFix(cfg); fix != "" {
			return fmt.Errorf("preset %s on %s: %s", preset, f.dataset, fix)
		}
		return fmt.Errorf("preset %s on %s: %w", preset, f.dataset, err)
	}
	o := pixelcnn.DefaultTrainOptions()
	o.Optimizer, o.LR, o.LRDecay, o.Clip, o.Batch, o.Seed = f.optimizer, f.lr, f.lrDecay, f.clip, f.batch, f.seed
	o.EMA = f.ema
	if !fs.Changed("lr") {
		o.LR = pixelcnn.PresetLR(preset)
	}
	// One shard and the exact reduction are recorded as absent, so that a plain run's files
	// stay as they were before runs could be sharded.
	if s := shardCount(f, r.world); s > 1 {
		o.Shards = s
	}
	if f.reduce != string(dist.Exact) {
		o.Reduce = f.reduce
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if err := pixelcnn.CheckMemory("training", r.b, pixelcnn.TrainMemory(cfg, o, evalBatch)); err != nil {
		return fmt.Errorf("%w (lower --hidden, --blocks or --batch)", err)
	}
	model, err := pixelcnn.NewModel(r.b, cfg, f.seed)
	if err != nil {
		return err
	}
	if r.tr, err = pixelcnn.NewTrainer(model, ds.Train, o); err != nil {
		return err
	}
	r.ds, r.model = ds, model
	if r.stop, err = stopFromFlags(f, ds.Train.N/f.batch); err != nil {
		return err
	}
	r.set.Steps = r.stop.step
	r.defaultDir = defaultRunDir(f.dataset, preset)
	return nil
}

// defaultRunDir is where a run without --run-dir writes: runs/DATASET-PRESET-TIME.
func defaultRunDir(dataset, preset string) string {
	return filepath.Join("runs", fmt.Sprintf("%s-%s-%s", dataset, preset, time.Now().Format("20060102-150405")))
}

// resume loads the checkpoint named by --resume. A run directory's checkpoint (DIR or
// DIR/checkpoint.safetensors beside the run's config.json) continues that run: the run's
// dataset, data directory, evaluation, sampling and checkpoint settings and stop condition
// come from its config.json, except those the command line gives, and the checkpoint must be
// the run's own. Any other checkpoint file starts a new run directory from it.
func (r *trainingRun) resume(f flags, fs *pflag.FlagSet) error {
	ckPath := f.resume
	if st, err := os.Stat(ckPath); err == nil && st.IsDir() {
		ckPath = filepath.Join(ckPath, pixelcnn.CheckpointFile)
		if !exists(ckPath) && len(heldRunFiles(f.resume)) > 0 {
			return fmt.Errorf("--resume %s: the run has no %s (it stopped before writing its first one): nothing to resume; start it again with --overwrite, or choose another --run-dir",
				f.resume, pixelcnn.CheckpointFile)
		}
	}
	ckDir := filepath.Dir(ckPath)
	cfgPath := filepath.Join(ckDir, "config.json")
	r.inRunDir = filepath.Base(ckPath) == pixelcnn.CheckpointFile && exists(cfgPath)
	if r.inRunDir && (f.runDir == "" || sameDir(f.runDir, ckDir)) {
		if err := r.checkDirFree(ckDir); err != nil {
			return err
		}
	}
	ckStat, _ := os.Stat(ckPath)
	ck, err := pixelcnn.Load(ckPath, r.b)
	if ck != nil {
		r.ckPrecision = ck.Precision
	}
	if err != nil {
		return err
	}
	if ck.Notice != "" {
		fmt.Fprintln(r.out, ck.Notice)
	}
	if ck.Train == nil {
		return fmt.Errorf("--resume %s: the checkpoint has no training state (it was saved without a trainer)", ckPath)
	}
	if fs.Changed("preset") && f.preset != ck.Config.Preset {
		return fmt.Errorf("--resume %s: checkpoint is preset %q, --preset says %q", ckPath, ck.Config.Preset, f.preset)
	}
	for _, name := range []string{"arch", "dilations", "conditional", "hidden", "blocks", "out-dim", "batch", "optimizer", "seed", "shards", "reduce", "ema"} {
		if fs.Changed(name) {
			return fmt.Errorf("--resume: --%s cannot change on resume (the checkpoint fixes it)", name)
		}
	}
	var saved runConfig
	if r.inRunDir {
		if saved, err = readRunConfig(ckDir); err != nil {
			return fmt.Errorf("--resume %s: %w", ckPath, err)
		}
		if err := checkBelongs(ck, saved, ckPath); err != nil {
			return fmt.Errorf("--resume %s: %w", ckPath, err)
		}
	}
	if err := r.takeDataset(ckPath, ck.Train.Dataset, saved.Dataset, fs); err != nil {
		return err
	}
	if saved.Run != nil {
		if err := saved.Run.checkSaved(cfgPath, fs); err != nil {
			return fmt.Errorf("--resume %s: %w", ckPath, err)
		}
		r.set.inherit(*saved.Run, fs)
	}
	if r.ds, err = loadDataset(r.dataset, r.set.DataDir); err != nil {
		if d := r.set.DataDir; d != "" && !filepath.IsAbs(d) && !fs.Changed("data-dir") {
			return fmt.Errorf("%s records data_dir %q, relative to the directory the run was started in, and it does not load from here (%v): run from that directory, or give the data's location with --data-dir", cfgPath, d, err)
		}
		return err
	}
	if err := ck.Config.CheckImages(r.dataset, r.ds.H, r.ds.W, r.ds.C); err != nil {
		return fmt.Errorf("--resume %s: %w", ckPath, err)
	}
	if r.tr, err = ck.Resume(r.ds.Train); err != nil {
		return fmt.Errorf("--resume %s: %w", ckPath, err)
	}
	r.model, r.resumedFrom, r.resumedStat, r.ckDevice = ck.Model, ckPath, ckStat, ck.Train.Device
	if r.ckDevice == "" {
		r.ckDevice = saved.Device
	}
	r.runID = saved.RunID
	if r.runID == "" {
		r.runID = ck.Train.Run
	}
	r.defaultDir = defaultRunDir(r.dataset, ck.Config.Preset)
	if err := r.resumeStop(f, fs, saved.Run, ckDir); err != nil {
		return err
	}
	r.changeOptimizer(f, fs)
	return nil
}

// checkBelongs refuses a checkpoint in a run directory that is not that run's: one that names
// another run, or (files from before runs were named) a different model, optimiser or dataset
// than the run's config.json (saved). Such a file was copied in, and resuming it would cut the
// run's metrics back to its step.
func checkBelongs(ck *pixelcnn.Checkpoint, saved runConfig, ckPath string) error {
	var differs string
	ckOpt, runOpt := ck.Train.Options, saved.Train
	// lr-decay and clip may change on resume, ahead of the checkpoint that records them.
	ckOpt.LRDecay, ckOpt.Clip, runOpt.LRDecay, runOpt.Clip = 0, 0, 0, 0
	switch {
	case saved.RunID != "" && ck.Train.Run != "" && saved.RunID != ck.Train.Run:
		differs = fmt.Sprintf("it was written by run %s, config.json is run %s's", ck.Train.Run, saved.RunID)
	case saved.Model.Colors != 0 && modelJSON(ck.Config) != modelJSON(saved.Model):
		differs = fmt.Sprintf("it holds the model %s, config.json's run is %s", modelJSON(ck.Config), modelJSON(saved.Model))
	case saved.Train.Batch != 0 && ckOpt != runOpt:
		differs = fmt.Sprintf("it was trained with %+v, config.json's run with %+v", ck.Train.Options, saved.Train)
	case saved.Dataset != "" && ck.Dataset != "" && saved.Dataset != ck.Dataset:
		differs = fmt.Sprintf("it was trained on %s, config.json's run on %s", ck.Dataset, saved.Dataset)
	default:
		return nil
	}
	return fmt.Errorf("the checkpoint is not this run directory's (%s): put the run's own checkpoint back, or move this one out of %s and resume it from there (a checkpoint outside a run directory starts a new one)",
		differs, filepath.Dir(ckPath))
}

// modelJSON is a model config as JSON, the architecture named, for comparing configs.
func modelJSON(c pixelcnn.Config) string {
	c.Arch = c.ArchName()
	if len(c.Dilations) == 0 {
		c.Dilations = nil
	}
	js, _ := json.Marshal(c)
	return string(js)
}

// takeDataset picks the resumed run's dataset: the checkpoint's (or, for checkpoints that do
// not record it, config.json's), which --dataset may repeat but not contradict.
func (r *trainingRun) takeDataset(ckPath, fromCheckpoint, fromConfig string, fs *pflag.FlagSet) error {
	known := fromCheckpoint
	if known == "" {
		known = fromConfig
	}
	switch {
	case known == "":
		// A checkpoint from before datasets were recorded: the flag (default mnist) decides.
	case fs.Changed("dataset") && r.dataset != known:
		return fmt.Errorf("--resume %s: checkpoint was trained on %s, --dataset says %s", ckPath, known, r.dataset)
	default:
		r.dataset = known
	}
	return nil
}

// resumeStop sets the stop condition of a resumed run (the command line's, else the run's),
// reads the run's metrics up to the checkpoint's step, and refuses a run that has nothing left
// to do, before anything is written.
func (r *trainingRun) resumeStop(f flags, fs *pflag.FlagSet, saved *runSettings, ckDir string) error {
	switch {
	case stopFlagsGiven(fs):
		var err error
		if r.stop, err = stopFromFlags(f, r.ds.Train.N/r.tr.Opt.Batch); err != nil {
			return err
		}
		r.set.Steps, r.set.Minutes = r.stop.step, f.minutes
	case saved != nil:
		r.stop = stopCondition{step: saved.Steps, budget: minutes(saved.Minutes)}
		r.set.Steps, r.set.Minutes = saved.Steps, saved.Minutes
	case r.inRunDir:
		return fmt.Errorf("--resume %s: give --steps, --epochs or --minutes (%s records no stop condition)", r.resumedFrom, filepath.Join(ckDir, "config.json"))
	default:
		return fmt.Errorf("--resume %s: give --steps, --epochs or --minutes (a checkpoint outside a run directory starts a new run, with the command line's settings)", r.resumedFrom)
	}
	var h metricsHistory
	if r.inRunDir {
		var err error
		if h, err = readMetrics(filepath.Join(ckDir, "metrics.jsonl"), r.tr.Step); err != nil {
			return err
		}
	}
	r.history, r.dropped = h.lines, h.dropped
	if h.last != nil {
		r.wallBefore = time.Duration(h.last.WallSec * float64(time.Second))
		r.smooth = h.last.TrainBPD
	}
	if err := r.stop.checkNotReached(r.tr.Step, r.wallBefore); err != nil {
		return fmt.Errorf("--resume %s: %w", r.resumedFrom, err)
	}
	return nil
}

// changeOptimizer applies --lr, --lr-decay and --clip given on --resume. The run then no
// longer continues exactly, which the next metrics line notes.
func (r *trainingRun) changeOptimizer(f flags, fs *pflag.FlagSet) {
	for _, c := range []struct {
		flag string
		cur  *float64
		to   float64
	}{{"lr", &r.tr.LR, f.lr}, {"lr-decay", &r.tr.Opt.LRDecay, f.lrDecay}, {"clip", &r.tr.Opt.Clip, f.clip}} {
		if fs.Changed(c.flag) && *c.cur != c.to {
			r.notes = append(r.notes, fmt.Sprintf("%s changed from %g to %g at step %d", c.flag, *c.cur, c.to, r.tr.Step))
			*c.cur = c.to
		}
	}
}
