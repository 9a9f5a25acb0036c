// Command eval reports a checkpoint's negative log-likelihood on a dataset split in bits/dim
// (over all C*H*W subpixels) and nats per image.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/nn"
	_ "pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
)

func main() {
	fs := pflag.NewFlagSet("eval", pflag.ContinueOnError)
	ckPath := fs.String("checkpoint", "", "checkpoint (.safetensors) to evaluate (required)")
	dataset := fs.String("dataset", "mnist", "mnist | fashion-mnist | cifar10")
	dataDir := fs.String("data-dir", "", "dataset directory (default: the dataset's standard place)")
	split := fs.String("split", "test", "test | train")
	limit := fs.Int("limit", 0, "evaluate the first N images in file order (0: all)")
	batch := fs.Int("batch", 64, "batch size")
	device := fs.String("device", "auto", "cpu | cuda | auto")
	asJSON := fs.Bool("json", false, "print one JSON line instead of text")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(2)
	}
	if *ckPath == "" {
		fmt.Fprintln(os.Stderr, "eval: --checkpoint is required")
		os.Exit(2)
	}
	if err := run(*ckPath, *dataset, *dataDir, *split, *limit, *batch, *device, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

func run(ckPath, dataset, dataDir, splitName string, limit, batch int, device string, asJSON bool) error {
	b, err := nn.Open(device)
	if err != nil {
		return err
	}
	ck, err := pixelcnn.Load(ckPath, b)
	if err != nil {
		return err
	}
	ds, err := data.Load(dataset, dataDir)
	if err != nil {
		return err
	}
	if err := ck.Config.CheckImages(dataset, ds.H, ds.W, ds.C); err != nil {
		return fmt.Errorf("checkpoint %s: %w", ckPath, err)
	}
	var s data.Split
	switch splitName {
	case "test":
		s = ds.Test
	case "train":
		s = ds.Train
	default:
		return fmt.Errorf("--split %q: want test or train", splitName)
	}
	n := s.N
	if limit > 0 && limit < n {
		n = limit
	}
	start := time.Now()
	bpd, natsPerImage, err := pixelcnn.Evaluate(ck.Model, s, n, batch)
	if err != nil {
		return err
	}
	step := 0
	if ck.Train != nil {
		step = ck.Train.Step
	}
	if asJSON {
		js, _ := json.Marshal(map[string]any{"bits_per_dim": bpd, "nats_per_image": natsPerImage, "images": n,
			"split": splitName, "dataset": dataset, "checkpoint": ckPath, "step": step, "seconds": time.Since(start).Seconds()})
		fmt.Println(string(js))
		return nil
	}
	fmt.Printf("%s (step %d) on %s %s, %d images: %.5f bits/dim, %.3f nats/image (%s, %s)\n",
		ckPath, step, dataset, splitName, n, bpd, natsPerImage, b.Name(), time.Since(start).Round(time.Millisecond))
	return nil
}
