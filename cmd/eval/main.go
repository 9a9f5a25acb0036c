// Command eval reports a checkpoint's negative log-likelihood on a dataset split in bits/dim
// (over all C*H*W subpixels) and nats per image.
//
//	go run ./cmd/eval --checkpoint runs/R              # a run directory or a .safetensors file
//	go run ./cmd/eval --checkpoint ck.safetensors --split train --limit 1000 --json
//	go run ./cmd/eval --checkpoint runs/R --classify    # a conditional model as a classifier
//
// A class-conditional model is evaluated given each image's true label (its conditional
// bits/dim). With --classify it also classifies every image as argmax_y p(x|y), one batched
// pass per class, and reports the accuracy and the confusion matrix.
// The dataset is the one the checkpoint records unless --dataset says otherwise. Bad flags
// exit with status 2, a failed evaluation with status 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/cmd/internal/progress"
	"pixelcnn/nn"
	_ "pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/fileio"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	ckPath, dataset, dataDir, split, device string
	precision                               string
	limit, batch                            int
	asJSON, classify, trainedWeights        bool
}

const synopsis = `usage: eval --checkpoint CK [--dataset D] [--split test|train] [--limit N] [--json] [--classify] [--trained-weights]

Reports a checkpoint's negative log-likelihood on a dataset split in bits/dim and nats per
image; with --classify, a class-conditional model's accuracy as a classifier.`

// run is main without the process exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("eval", pflag.ContinueOnError)
	var o options
	fs.StringVar(&o.ckPath, "checkpoint", "", "checkpoint (.safetensors) or run directory to evaluate (required)")
	fs.StringVar(&o.dataset, "dataset", "", "mnist | fashion-mnist | cifar10 (default: the checkpoint's)")
	fs.StringVar(&o.dataDir, "data-dir", "", "dataset directory (default: the dataset's standard place)")
	fs.StringVar(&o.split, "split", "test", "test | train")
	fs.IntVar(&o.limit, "limit", 0, "evaluate the first N images in file order (0: all)")
	fs.IntVar(&o.batch, "batch", 64, "batch size")
	fs.StringVar(&o.device, "device", "auto", "cpu | cuda | auto")
	fs.StringVar(&o.precision, "precision", "", "conv precision, tf32 | fp32 | bf16 (bf16: CPUs with AVX512_BF16; default: the device's, tf32 on cuda, fp32 on cpu)")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON line instead of text")
	fs.BoolVar(&o.trainedWeights, "trained-weights", false, "evaluate the weights the optimiser trained (optim.weights.*) instead of their average, in checkpoints of train --ema runs")
	fs.BoolVar(&o.classify, "classify", false, "class-conditional checkpoints: classify each image as argmax_y p(x|y) and report the accuracy and confusion matrix")
	if err := cli.Parse(fs, synopsis, args); err != nil {
		var h cli.Help
		if errors.As(err, &h) {
			fmt.Fprint(stdout, h.Usage)
			return 0
		}
		fmt.Fprintln(stderr, "eval:", err)
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return 2
	}
	if err := evaluate(o, stdout, progress.New(stderr)); err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return 1
	}
	return 0
}

// validate checks the flags before anything is loaded.
func (o options) validate() error {
	switch {
	case o.ckPath == "":
		return errors.New("--checkpoint is required")
	case o.split != "test" && o.split != "train":
		return fmt.Errorf("--split %q: want test or train", o.split)
	case o.limit < 0:
		return fmt.Errorf("--limit %d must be >= 0 (0: all)", o.limit)
	case o.batch < 1:
		return fmt.Errorf("--batch %d must be >= 1", o.batch)
	}
	if o.precision != "" {
		if _, err := nn.ParsePrecision(o.precision); err != nil {
			return fmt.Errorf("--precision: %w", err)
		}
	}
	return nil
}

func evaluate(o options, stdout io.Writer, p *progress.Printer) error {
	ckPath, err := pixelcnn.ResolveCheckpoint(o.ckPath)
	if err != nil {
		return err
	}
	b, err := nn.Open(o.device)
	if err != nil {
		return err
	}
	precision, notice, err := nn.ChoosePrecision(b, o.precision)
	if err != nil {
		return err
	}
	if notice != "" {
		p.Line("%s", notice)
	}
	ck, err := pixelcnn.Load(ckPath, b)
	if err != nil {
		return err
	}
	if ck.Notice != "" {
		p.Line("%s", ck.Notice)
	}
	if o.trainedWeights {
		if err := ck.UseTrainedWeights(); err != nil {
			return fmt.Errorf("--trained-weights: %s: %w", ckPath, err)
		}
	}
	dataset := o.dataset
	if dataset == "" {
		if dataset = ck.Dataset; dataset == "" {
			return fmt.Errorf("checkpoint %s does not record its dataset: give --dataset", ckPath)
		}
	}
	dataDir := o.dataDir
	if dataDir == "" {
		if dataDir, err = runDataDir(filepath.Dir(ckPath), dataset); err != nil {
			return err
		}
		if dataDir != "" {
			p.Line("data dir %s (the run's, from its config.json)", dataDir)
		}
	}
	ds, err := data.LoadSplit(dataset, dataDir, o.split)
	if err != nil {
		return err
	}
	if err := ck.Config.CheckImages(dataset, ds.H, ds.W, ds.C); err != nil {
		return fmt.Errorf("checkpoint %s: %w", ckPath, err)
	}
	s := ds.Test
	if o.split == "train" {
		s = ds.Train
	}
	n := s.N
	if o.limit > 0 && o.limit < n {
		n = o.limit
	}
	if err := pixelcnn.CheckMemory(fmt.Sprintf("evaluating in batches of %d", o.batch), b, pixelcnn.EvalMemory(ck.Config, o.batch)); err != nil {
		return fmt.Errorf("%w (lower --batch)", err)
	}
	if ck.Config.Classes > 0 && s.Labels == nil {
		return fmt.Errorf("checkpoint %s is class-conditional, and %s has no labels here (%s)", ckPath, dataset, ds.NoLabels)
	}
	if o.classify {
		return classify(o, ck, s, n, ckPath, dataset, stdout, p)
	}
	start := time.Now()
	p.Line("evaluating %s on %d %s %s images (%s, precision %s)", ckPath, n, dataset, o.split, b.Name(), precision)
	bpd, natsPerImage, err := pixelcnn.EvaluateContext(context.Background(), ck.Model, s, n, o.batch, func(done, total int) {
		p.Update("eval: %d/%d images, %s", done, total, time.Since(start).Round(time.Second))
	})
	if err != nil {
		return err
	}
	step := 0
	if ck.Train != nil {
		step = ck.Train.Step
	}
	if o.asJSON {
		js, err := json.Marshal(map[string]any{"bits_per_dim": bpd, "nats_per_image": natsPerImage, "images": n,
			"split": o.split, "dataset": dataset, "checkpoint": ckPath, "step": step, "seconds": time.Since(start).Seconds(), "precision": precision})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(js))
		return nil
	}
	p.End()
	fmt.Fprintf(stdout, "%s (step %d) on %s %s, %d images: %.5f bits/dim, %.3f nats/image (%s, precision %s, %s)\n",
		ckPath, step, dataset, o.split, n, bpd, natsPerImage, b.Name(), precision, time.Since(start).Round(time.Millisecond))
	return nil
}

// classify runs the generative classifier (pixelcnn.Classify) on n images of s and prints
// its accuracy, conditional bits/dim and confusion matrix (or one JSON line).
func classify(o options, ck *pixelcnn.Checkpoint, s data.Split, n int, ckPath, dataset string, stdout io.Writer, p *progress.Printer) error {
	if ck.Config.Classes == 0 {
		return fmt.Errorf("--classify: %s is an unconditional model (train one with --conditional)", ckPath)
	}
	start := time.Now()
	p.Line("classifying %d %s %s images with %s (%d classes, one pass per class)", n, dataset, o.split, ckPath, ck.Config.Classes)
	res, err := pixelcnn.Classify(context.Background(), ck.Model, s, n, o.batch, func(done, total int) {
		p.Update("classify: %d/%d images, %s", done, total, time.Since(start).Round(time.Second))
	})
	if err != nil {
		return err
	}
	if o.asJSON {
		js, err := json.Marshal(map[string]any{"accuracy": res.Accuracy(), "correct": res.Correct, "images": res.Images,
			"bits_per_dim": res.BitsPerDim, "confusion": res.Confusion, "split": o.split, "dataset": dataset,
			"checkpoint": ckPath, "seconds": time.Since(start).Seconds()})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(js))
		return nil
	}
	p.End()
	fmt.Fprintf(stdout, "%s on %s %s, %d images: accuracy %.4f (%d correct), %.5f bits/dim given the true label (%s)\n",
		ckPath, dataset, o.split, res.Images, res.Accuracy(), res.Correct, res.BitsPerDim, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "confusion matrix (rows: true class, columns: predicted):\n")
	fmt.Fprintf(stdout, "%5s", "")
	for y := range res.Confusion {
		fmt.Fprintf(stdout, " %5d", y)
	}
	fmt.Fprintln(stdout)
	for t, row := range res.Confusion {
		fmt.Fprintf(stdout, "%5d", t)
		for _, v := range row {
			fmt.Fprintf(stdout, " %5d", v)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// maxConfigBytes bounds the config.json read: cmd/train writes a few hundred bytes there.
const maxConfigBytes = 1 << 20

// runDataDir returns the --data-dir that cmd/train recorded in dir/config.json when the run
// trained on dataset, and "" when there is no such file or setting (older runs, a checkpoint
// outside a run directory).
func runDataDir(dir, dataset string) (string, error) {
	js, err := fileio.ReadFile(filepath.Join(dir, "config.json"), maxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var c struct {
		Dataset string `json:"dataset"`
		Run     *struct {
			DataDir string `json:"data_dir"`
		} `json:"run"`
	}
	if err := json.Unmarshal(js, &c); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	if c.Dataset != dataset || c.Run == nil {
		return "", nil
	}
	return c.Run.DataDir, nil
}
