// Command train trains a PixelCNN on MNIST, Fashion-MNIST or CIFAR-10 and writes a run
// directory: config.json, metrics.jsonl, checkpoint.safetensors, sample grids and a
// training-curve plot. Ctrl-C writes a checkpoint and exits; --resume continues exactly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/nn"
	_ "pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/imageio"
)

type flags struct {
	dataset, dataDir, preset, runDir, resume, device, optimizer string
	hidden, blocks, outDim, batch, steps                        int
	epochs, minutes, lr, lrDecay, clip                          float64
	evalEvery, evalLimit, finalEvalLimit, sampleEvery, samples  int
	checkpointEvery, logEvery                                   int
	seed                                                        uint64
}

func main() {
	f, fs, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(2)
	}
	if err := run(f, fs); err != nil {
		fmt.Fprintln(os.Stderr, "\ntrain:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (flags, *pflag.FlagSet, error) {
	var f flags
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	fs.StringVar(&f.dataset, "dataset", "mnist", "mnist | fashion-mnist | cifar10")
	fs.StringVar(&f.dataDir, "data-dir", "", "dataset directory (default: the Go module for MNIST, /usr/share/datasets/fashion-mnist)")
	fs.StringVar(&f.preset, "preset", "", "model preset: "+strings.Join(pixelcnn.Presets(), " | ")+" (default: the dataset's)")
	fs.IntVar(&f.hidden, "hidden", 0, "override the preset's hidden width H (residual stream 2H)")
	fs.IntVar(&f.blocks, "blocks", -1, "override the preset's number of residual blocks")
	fs.IntVar(&f.outDim, "out-dim", 0, "override the preset's output-head width")
	fs.IntVar(&f.batch, "batch", 16, "batch size (the paper's is 16)")
	fs.IntVar(&f.steps, "steps", 0, "stop after this many steps in all (0: use --epochs / --minutes)")
	fs.Float64Var(&f.epochs, "epochs", 0, "stop after this many epochs")
	fs.Float64Var(&f.minutes, "minutes", 0, "stop after this many minutes of training")
	fs.Float64Var(&f.lr, "lr", 1e-3, "learning rate")
	fs.Float64Var(&f.lrDecay, "lr-decay", 0.999995, "lr multiplier after every step")
	fs.StringVar(&f.optimizer, "optimizer", "adam", "adam | rmsprop")
	fs.Float64Var(&f.clip, "clip", 0, "clip the global gradient norm to this (0: off)")
	fs.IntVar(&f.evalEvery, "eval-every", 1000, "evaluate on the test split every N steps (0: only at the end)")
	fs.IntVar(&f.evalLimit, "eval-limit", 1000, "test images used by periodic evaluations (0: all)")
	fs.IntVar(&f.finalEvalLimit, "final-eval-limit", 0, "test images used by the final evaluation (0: all)")
	fs.IntVar(&f.sampleEvery, "sample-every", 5000, "write a sample grid every N steps (0: only at the end)")
	fs.IntVar(&f.samples, "samples", 16, "images per sample grid (0: none)")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", 500, "write the checkpoint every N steps")
	fs.IntVar(&f.logEvery, "log-every", 50, "append a metrics line every N steps")
	fs.StringVar(&f.runDir, "run-dir", "", "output directory (default runs/DATASET-PRESET-TIME)")
	fs.StringVar(&f.resume, "resume", "", "checkpoint file or run directory to continue from")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for the initial weights, the data order and samples")
	fs.StringVar(&f.device, "device", "auto", "cpu | cuda | auto")
	err := fs.Parse(args)
	return f, fs, err
}

type metric struct {
	Step      int      `json:"step"`
	Epoch     float64  `json:"epoch"`
	TrainBPD  float64  `json:"train_bpd"`
	LR        float64  `json:"lr"`
	TestBPD   *float64 `json:"test_bpd,omitempty"`
	ImagesSec float64  `json:"images_per_sec"`
	WallSec   float64  `json:"wall_s"`
}

func run(f flags, fs *pflag.FlagSet) error {
	b, err := nn.Open(f.device)
	if err != nil {
		return err
	}
	ds, err := data.Load(f.dataset, f.dataDir)
	if err != nil {
		return err
	}

	var (
		model  *pixelcnn.Model
		tr     *pixelcnn.Trainer
		ckPath string
	)
	if f.resume != "" {
		ckPath = f.resume
		if st, err := os.Stat(ckPath); err == nil && st.IsDir() {
			ckPath = filepath.Join(ckPath, "checkpoint.safetensors")
		}
		ck, err := pixelcnn.Load(ckPath, b)
		if err != nil {
			return err
		}
		if fs.Changed("preset") && f.preset != ck.Config.Preset {
			return fmt.Errorf("--resume %s: checkpoint is preset %q, --preset says %q", ckPath, ck.Config.Preset, f.preset)
		}
		if err := ck.Config.CheckImages(f.dataset, ds.H, ds.W, ds.C); err != nil {
			return fmt.Errorf("--resume %s: %w", ckPath, err)
		}
		if ck.Train != nil && ck.Train.Dataset != "" && ck.Train.Dataset != f.dataset {
			return fmt.Errorf("--resume %s: checkpoint was trained on %s, --dataset says %s", ckPath, ck.Train.Dataset, f.dataset)
		}
		for _, name := range []string{"hidden", "blocks", "out-dim", "batch", "optimizer", "seed"} {
			if fs.Changed(name) {
				return fmt.Errorf("--resume: --%s cannot change on resume (the checkpoint fixes it)", name)
			}
		}
		if tr, err = ck.Resume(ds.Train); err != nil {
			return fmt.Errorf("--resume %s: %w", ckPath, err)
		}
		model = ck.Model
		if f.runDir == "" {
			f.runDir = filepath.Dir(ckPath)
		}
	} else {
		preset := f.preset
		if preset == "" {
			preset = map[string]string{"cifar10": "cifar10"}[f.dataset]
			if preset == "" {
				preset = "mnist"
			}
		}
		cfg, err := pixelcnn.PresetConfig(preset, ds.C, ds.H, ds.W)
		overridden := fs.Changed("hidden") || fs.Changed("blocks") || fs.Changed("out-dim")
		if err != nil && (!overridden || !slices.Contains(pixelcnn.Presets(), preset)) {
			return err // an unknown preset, or one that does not fit the data (no override to fix it)
		}
		if f.hidden > 0 {
			cfg.Hidden = f.hidden
		}
		if f.blocks >= 0 {
			cfg.Blocks = f.blocks
		}
		if f.outDim > 0 {
			cfg.OutDim = f.outDim
		}
		if err = cfg.Validate(); err != nil {
			return fmt.Errorf("preset %s on %s: %w", preset, f.dataset, err)
		}
		if model, err = pixelcnn.NewModel(b, cfg, f.seed); err != nil {
			return err
		}
		o := pixelcnn.DefaultTrainOptions()
		o.Optimizer, o.LR, o.LRDecay, o.Clip, o.Batch, o.Seed = f.optimizer, f.lr, f.lrDecay, f.clip, f.batch, f.seed
		if tr, err = pixelcnn.NewTrainer(model, ds.Train, o); err != nil {
			return err
		}
		if f.runDir == "" {
			f.runDir = filepath.Join("runs", fmt.Sprintf("%s-%s-%s", f.dataset, preset, time.Now().Format("20060102-150405")))
		}
		ckPath = filepath.Join(f.runDir, "checkpoint.safetensors")
	}
	if err := os.MkdirAll(f.runDir, 0o755); err != nil {
		return err
	}
	cfgJSON, _ := json.MarshalIndent(struct {
		Model   pixelcnn.Config       `json:"model"`
		Train   pixelcnn.TrainOptions `json:"train"`
		Dataset string                `json:"dataset"`
		Device  string                `json:"device"`
	}{model.Config, tr.Opt, f.dataset, b.Name()}, "", "  ")
	if err := os.WriteFile(filepath.Join(f.runDir, "config.json"), append(cfgJSON, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("run dir %s\ndevice %s, dataset %s (%d train / %d test, %dx%dx%d), model %+v\n",
		f.runDir, b.Name(), f.dataset, ds.Train.N, ds.Test.N, ds.H, ds.W, ds.C, model.Config)

	lg, err := openLog(filepath.Join(f.runDir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	defer lg.close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Stop condition.
	target := f.steps
	if f.epochs > 0 {
		target = tr.Step + int(math.Ceil(f.epochs*float64(ds.Train.N/f.batch)))
	}
	var deadline time.Time
	if f.minutes > 0 {
		deadline = time.Now().Add(time.Duration(f.minutes * float64(time.Minute)))
	}
	if target == 0 && deadline.IsZero() {
		return fmt.Errorf("give --steps, --epochs or --minutes")
	}

	save := func() error {
		if err := pixelcnn.Save(ckPath, model, tr, f.dataset); err != nil {
			return fmt.Errorf("checkpoint at step %d: %w (the previous checkpoint is intact)", tr.Step, err)
		}
		return nil
	}
	evaluate := func(limit int) (float64, error) {
		bpd, _, err := pixelcnn.Evaluate(model, ds.Test, limit, 64)
		return bpd, err
	}
	sample := func() error {
		if f.samples <= 0 {
			return nil
		}
		imgs, err := pixelcnn.Sample(model, pixelcnn.SampleOptions{N: f.samples, Seed: f.seed, Temperature: 1})
		if err != nil {
			return err
		}
		return imageio.WriteGrid(filepath.Join(f.runDir, fmt.Sprintf("samples-%07d.png", tr.Step)), imgs, f.samples, ds.H, ds.W, ds.C, 0, 0)
	}

	// Throughput counts training steps only (not evaluation, checkpoints or sampling).
	start := time.Now()
	var trainTime, trainTimeAtLog time.Duration
	lastLog := tr.Step
	smooth := math.NaN()
	startStep := tr.Step
	for {
		if (target > 0 && tr.Step >= target) || (!deadline.IsZero() && time.Now().After(deadline)) {
			break
		}
		if ctx.Err() != nil {
			fmt.Printf("\ninterrupted at step %d: writing checkpoint\n", tr.Step)
			if err := save(); err != nil {
				return err
			}
			fmt.Printf("checkpoint %s (resume with --resume %s)\n", ckPath, f.runDir)
			return nil
		}
		stepStart := time.Now()
		bpd, err := tr.TrainStep()
		trainTime += time.Since(stepStart)
		if err != nil {
			if errors.Is(err, pixelcnn.ErrNonFinite) {
				return fmt.Errorf("%w; stopped. The last good checkpoint is %s (written at the last --checkpoint-every step); try a lower --lr or --clip", err, ckPath)
			}
			return err
		}
		if math.IsNaN(smooth) {
			smooth = bpd
		}
		smooth = 0.98*smooth + 0.02*bpd

		elapsed := time.Since(start).Seconds()
		ips := float64((tr.Step-startStep)*f.batch) / trainTime.Seconds()
		eta := "?"
		if target > 0 && tr.Step > startStep {
			eta = (time.Duration(float64(target-tr.Step)/float64(tr.Step-startStep)*elapsed) * time.Second).Round(time.Second).String()
		} else if !deadline.IsZero() {
			eta = time.Until(deadline).Round(time.Second).String()
		}
		fmt.Printf("\rstep %d  epoch %.2f  train %.4f bits/dim  lr %.3g  %.1f img/s  ETA %s   ",
			tr.Step, tr.Epoch(), smooth, tr.LR, ips, eta)

		m := metric{Step: tr.Step, Epoch: tr.Epoch(), TrainBPD: smooth, LR: tr.LR, WallSec: elapsed}
		logNow := f.logEvery > 0 && tr.Step%f.logEvery == 0
		if f.evalEvery > 0 && tr.Step%f.evalEvery == 0 {
			test, err := evaluate(f.evalLimit)
			if err != nil {
				return err
			}
			m.TestBPD, logNow = &test, true
			fmt.Printf("\nstep %d: test %.5f bits/dim (%d images)\n", tr.Step, test, min(ds.Test.N, limitOr(f.evalLimit, ds.Test.N)))
		}
		if logNow {
			m.ImagesSec = float64((tr.Step-lastLog)*f.batch) / (trainTime - trainTimeAtLog).Seconds()
			lastLog, trainTimeAtLog = tr.Step, trainTime
			if err := lg.write(m, f.runDir); err != nil {
				return err
			}
		}
		if f.checkpointEvery > 0 && tr.Step%f.checkpointEvery == 0 {
			if err := save(); err != nil {
				return err
			}
		}
		if f.sampleEvery > 0 && tr.Step%f.sampleEvery == 0 {
			if err := sample(); err != nil {
				return err
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	test, err := evaluate(f.finalEvalLimit)
	if err != nil {
		return err
	}
	m := metric{Step: tr.Step, Epoch: tr.Epoch(), TrainBPD: smooth, LR: tr.LR, TestBPD: &test, WallSec: time.Since(start).Seconds()}
	if err := lg.write(m, f.runDir); err != nil {
		return err
	}
	if err := sample(); err != nil {
		return err
	}
	fmt.Printf("\ndone: step %d, test %.5f bits/dim on %d images, checkpoint %s\n",
		tr.Step, test, limitOr(f.finalEvalLimit, ds.Test.N), ckPath)
	return nil
}

func limitOr(limit, n int) int {
	if limit <= 0 || limit > n {
		return n
	}
	return limit
}
