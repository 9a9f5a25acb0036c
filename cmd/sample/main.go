// Command sample draws images from a checkpoint into a PNG grid, or completes the bottom of
// given images (--complete IMAGE.png --keep-rows K: the paper's occlusion completions).
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/nn"
	_ "pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/imageio"
)

func main() {
	fs := pflag.NewFlagSet("sample", pflag.ContinueOnError)
	ckPath := fs.String("checkpoint", "", "checkpoint (.safetensors) to sample from (required)")
	n := fs.Int("n", 16, "number of images")
	seed := fs.Uint64("seed", 1, "random seed (same seed, same images, whatever the method)")
	temp := fs.Float32("temperature", 1, "softmax temperature (> 0)")
	out := fs.String("out", "samples.png", "output PNG grid")
	method := fs.String("method", "cached", "cached | naive")
	complete := fs.String("complete", "", "PNG of one image (HxW of the model) whose top rows to keep")
	keepRows := fs.Int("keep-rows", 0, "with --complete: rows kept from the image; the rest are sampled")
	device := fs.String("device", "auto", "cpu | cuda | auto")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sample:", err)
		os.Exit(2)
	}
	if *ckPath == "" {
		fmt.Fprintln(os.Stderr, "sample: --checkpoint is required")
		os.Exit(2)
	}
	if err := run(*ckPath, *n, *seed, *temp, *out, *method, *complete, *keepRows, *device); err != nil {
		fmt.Fprintln(os.Stderr, "\nsample:", err)
		os.Exit(1)
	}
}

func run(ckPath string, n int, seed uint64, temp float32, out, method, complete string, keepRows int, device string) error {
	if !(temp > 0) {
		return fmt.Errorf("--temperature %v must be > 0", temp)
	}
	if n < 1 {
		return fmt.Errorf("--n %d must be >= 1", n)
	}
	b, err := nn.Open(device)
	if err != nil {
		return err
	}
	ck, err := pixelcnn.Load(ckPath, b)
	if err != nil {
		return err
	}
	c := ck.Config
	o := pixelcnn.SampleOptions{N: n, Seed: seed, Temperature: temp}
	if complete != "" {
		if keepRows < 1 || keepRows > c.Height {
			return fmt.Errorf("--keep-rows %d: want 1..%d with --complete", keepRows, c.Height)
		}
		img, err := imageio.ReadImage(complete, c.Height, c.Width, c.Colors)
		if err != nil {
			return err
		}
		o.KeepRows = keepRows
		o.Known = []uint8(strings.Repeat(string(img), n)) // every image completes the same top
	} else if keepRows != 0 {
		return fmt.Errorf("--keep-rows needs --complete")
	}
	start := time.Now()
	o.Progress = func(done, total int) {
		el := time.Since(start)
		eta := time.Duration(float64(el) / float64(done) * float64(total-done)).Round(time.Second)
		const width = 30
		bar := strings.Repeat("#", done*width/total) + strings.Repeat(".", width-done*width/total)
		fmt.Fprintf(os.Stderr, "\r[%s] %d/%d pixels  %s elapsed  ETA %s ", bar, done, total, el.Round(time.Second), eta)
	}
	var imgs []uint8
	switch method {
	case "cached":
		imgs, err = pixelcnn.Sample(ck.Model, o)
	case "naive":
		imgs, err = pixelcnn.SampleNaive(ck.Model, o)
	default:
		return fmt.Errorf("--method %q: want cached or naive", method)
	}
	if err != nil {
		return err
	}
	el := time.Since(start) // sampling only, not the write
	if err := imageio.WriteGrid(out, imgs, n, c.Height, c.Width, c.Colors, 0, 0); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\n%d images (%s, %s) in %s, %.3g images/s -> %s\n", n, method, b.Name(), el.Round(time.Millisecond), float64(n)/el.Seconds(), out)
	return nil
}
