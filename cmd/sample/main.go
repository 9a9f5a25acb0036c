// Command sample draws images from a checkpoint into a PNG grid, or completes the bottom of
// an image (the paper's occlusion completions):
//
//	go run ./cmd/sample --checkpoint runs/R --n 16 --out samples.png
//	go run ./cmd/sample --checkpoint runs/R --complete-from mnist:test:7 --keep-rows 14 --n 8
//	go run ./cmd/sample --checkpoint ck.safetensors --complete digit.png --keep-rows 14
//	go run ./cmd/sample --checkpoint runs/R --class 7 --n 16 --out sevens.png   # conditional
//	go run ./cmd/sample --checkpoint runs/R --class 0-9 --n 8 --out classes.png # a row per class
//
// A completion grid shows the original first (blue frame), then the completions; the frame
// beside the kept rows is red. Bad flags exit with status 2, a failed run with status 1.
package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/cmd/internal/progress"
	"pixelcnn/nn"
	_ "pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/fileio"
	"pixelcnn/pixelcnn/imageio"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	ckPath, out, method, complete, completeFrom, dataDir, device string
	precision, class                                             string
	n, keepRows                                                  int
	seed                                                         uint64
	temp                                                         float32
}

const synopsis = `usage: sample --checkpoint CK [--n N] [--out FILE.png] [--class K|A-B]
       sample --checkpoint CK (--complete IMAGE | --complete-from DATASET:SPLIT:INDEX) --keep-rows R

Draws images from a checkpoint into a PNG grid, or completes the bottom rows of an image.`

// run is main without the process exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("sample", pflag.ContinueOnError)
	var o options
	fs.StringVar(&o.ckPath, "checkpoint", "", "checkpoint (.safetensors) or run directory to sample from (required)")
	fs.IntVar(&o.n, "n", 16, "number of images")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed (same seed, same images, whatever the method)")
	fs.Float32Var(&o.temp, "temperature", 1, "softmax temperature (finite, > 0)")
	fs.StringVar(&o.out, "out", "samples.png", "output PNG grid (.png)")
	fs.StringVar(&o.method, "method", "cached", "cached | naive")
	fs.StringVar(&o.complete, "complete", "", "image file (HxW of the model) whose top rows to keep")
	fs.StringVar(&o.completeFrom, "complete-from", "", "DATASET:SPLIT:INDEX, e.g. mnist:test:7 (index from 0): a dataset image whose top rows to keep")
	fs.StringVar(&o.dataDir, "data-dir", "", "with --complete-from: the dataset's directory (default: its standard place)")
	fs.IntVar(&o.keepRows, "keep-rows", 0, "with --complete or --complete-from: rows kept from the image; the rest are sampled")
	fs.StringVar(&o.class, "class", "", "class-conditional checkpoints: the class K of every image, or a range A-B (a grid with one row of --n images per class; default: the classes in turn)")
	fs.StringVar(&o.device, "device", "auto", "cpu | cuda | auto")
	fs.StringVar(&o.precision, "precision", string(nn.FP32), "conv precision: fp32 only (the sampler computes in fp32 at every precision)")
	if err := cli.Parse(fs, synopsis, args); err != nil {
		var h cli.Help
		if errors.As(err, &h) {
			fmt.Fprint(stdout, h.Usage)
			return 0
		}
		fmt.Fprintln(stderr, "sample:", err)
		return 2
	}
	if err := o.validate(fs); err != nil {
		fmt.Fprintln(stderr, "sample:", err)
		return 2
	}
	if err := sample(o, progress.New(stderr)); err != nil {
		fmt.Fprintln(stderr, "sample:", err)
		return 1
	}
	return 0
}

// validate checks the flags (parsed into fs) before anything is loaded.
func (o options) validate(fs *pflag.FlagSet) error {
	if o.ckPath == "" {
		return errors.New("--checkpoint is required")
	}
	if err := nn.CheckTemperature(o.temp); err != nil {
		return fmt.Errorf("--temperature: %w", err)
	}
	if o.n < 1 {
		return fmt.Errorf("--n %d must be >= 1", o.n)
	}
	if err := checkSamplePrecision(o.precision); err != nil {
		return err
	}
	if err := cli.PNGOut("--out", o.out); err != nil {
		return err
	}
	if o.method != "cached" && o.method != "naive" {
		return fmt.Errorf("--method %q: want cached or naive", o.method)
	}
	if o.class != "" {
		if _, _, err := parseClass(o.class); err != nil {
			return err
		}
	}
	if o.complete != "" && o.completeFrom != "" {
		return errors.New("give --complete or --complete-from, not both")
	}
	if o.completeFrom == "" {
		if err := cli.Unused(fs, "is only read with --complete-from (a dataset image to complete)", "data-dir"); err != nil {
			return err
		}
	}
	if o.complete == "" && o.completeFrom == "" {
		if o.keepRows != 0 {
			return errors.New("--keep-rows needs --complete or --complete-from")
		}
		return nil
	}
	if o.keepRows < 1 {
		return fmt.Errorf("--keep-rows %d: give the number of rows to keep (>= 1)", o.keepRows)
	}
	if o.completeFrom != "" {
		if _, _, _, err := parseSource(o.completeFrom); err != nil {
			return err
		}
	}
	return nil
}

// checkSamplePrecision accepts fp32 only. The cached sampler's per-position pass
// (MaskedConvAt) computes in FP32 at every precision, so that it draws the naive sampler's
// images bit for bit; and a one-position pass is latency-bound, so tensor cores would buy
// nothing. TF32 would only make the naive sampler's images differ from the cached one's.
func checkSamplePrecision(s string) error {
	p, err := nn.ParsePrecision(s)
	if err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	if p != nn.FP32 {
		return fmt.Errorf("--precision %s: sampling computes in %s only (the per-position pass must give the naive sampler's images bit for bit, and it is latency-bound: tensor cores would not speed it up)", p, nn.FP32)
	}
	return nil
}

// parseSource parses --complete-from's DATASET:SPLIT:INDEX.
func parseSource(s string) (dataset, split string, index int, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return "", "", 0, fmt.Errorf("--complete-from %q: want DATASET:SPLIT:INDEX, e.g. mnist:test:7", s)
	}
	dataset, split = parts[0], parts[1]
	if !slices.Contains(data.Names, dataset) {
		return "", "", 0, fmt.Errorf("--complete-from %q: unknown dataset %q (want one of %s)", s, dataset, strings.Join(data.Names, ", "))
	}
	if split != "test" && split != "train" {
		return "", "", 0, fmt.Errorf("--complete-from %q: split %q: want test or train", s, split)
	}
	index, err = strconv.Atoi(parts[2])
	if err != nil || index < 0 {
		return "", "", 0, fmt.Errorf("--complete-from %q: index %q must be an integer >= 0", s, parts[2])
	}
	return dataset, split, index, nil
}

// parseClass parses --class: K, or A-B with A <= B.
func parseClass(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.Atoi(a); err == nil {
		hi = lo
		if isRange {
			hi, err = strconv.Atoi(b)
		}
	}
	if err != nil || lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("--class %q: want a class K >= 0 or a range A-B with A <= B, e.g. 7 or 0-9", s)
	}
	return lo, hi, nil
}

// count is the number of images to draw: --n per class of --class, else --n. --class is
// checked against the model: an error for an unconditional one, or outside its classes.
func (o options) count(ckPath string, c pixelcnn.Config) (int, error) {
	if c.Classes == 0 {
		if o.class != "" {
			return 0, fmt.Errorf("--class %s: %s is an unconditional model (train one with --conditional)", o.class, ckPath)
		}
		return o.n, nil
	}
	if o.class == "" {
		return o.n, nil
	}
	lo, hi, _ := parseClass(o.class) // validated
	if hi >= c.Classes {
		return 0, fmt.Errorf("--class %s: the model has classes 0..%d", o.class, c.Classes-1)
	}
	if classes := hi - lo + 1; o.n > math.MaxInt32/classes {
		return 0, fmt.Errorf("--n %d images for each of %d classes: too many (sample fewer images at a time)", o.n, classes)
	}
	return o.n * (hi - lo + 1), nil
}

// labels returns the class of each of the n images (count) to draw: --class's classes, --n
// images each, or the classes in turn when --class is not given; nil for an unconditional
// model.
func (o options) labels(c pixelcnn.Config, n int) []int32 {
	if c.Classes == 0 {
		return nil
	}
	l := make([]int32, n)
	if o.class == "" {
		for i := range l {
			l[i] = int32(i % c.Classes)
		}
		return l
	}
	lo, _, _ := parseClass(o.class) // validated
	for i := range l {
		l[i] = int32(lo + i/o.n)
	}
	return l
}

// source reads the image to complete, h*w*c bytes HWC.
func (o options) source(c pixelcnn.Config) ([]uint8, error) {
	if o.complete != "" {
		return imageio.ReadImage(o.complete, c.Height, c.Width, c.Colors)
	}
	dataset, split, index, _ := parseSource(o.completeFrom) // validated
	ds, err := data.LoadSplit(dataset, o.dataDir, split)
	if err != nil {
		return nil, err
	}
	if err := c.CheckImages(dataset, ds.H, ds.W, ds.C); err != nil {
		return nil, fmt.Errorf("--complete-from %s: %w", o.completeFrom, err)
	}
	s := ds.Test
	if split == "train" {
		s = ds.Train
	}
	if index >= s.N {
		return nil, fmt.Errorf("--complete-from %s: index %d outside the %d images of %s %s", o.completeFrom, index, s.N, dataset, split)
	}
	size := c.Subpixels()
	return append([]uint8(nil), s.Pixels[index*size:(index+1)*size]...), nil
}

func sample(o options, p *progress.Printer) error {
	ckPath, err := pixelcnn.ResolveCheckpoint(o.ckPath)
	if err != nil {
		return err
	}
	if err := fileio.CheckOutput(o.out, o.ckPath, ckPath, o.complete); err != nil {
		return err
	}
	b, err := nn.Open(o.device)
	if err != nil {
		return err
	}
	if err := nn.SetBackendPrecision(b, nn.FP32); err != nil { // the naive sampler's convs too
		return err
	}
	ck, err := pixelcnn.Load(ckPath, b)
	if err != nil {
		return err
	}
	if ck.Notice != "" {
		p.Line("%s", ck.Notice)
	}
	c := ck.Config
	n, err := o.count(ckPath, c)
	if err != nil {
		return err
	}
	if err := pixelcnn.CheckMemory(fmt.Sprintf("sampling %d images", n), b, pixelcnn.SampleMemory(c, n, o.method == "naive")); err != nil {
		return fmt.Errorf("%w (sample fewer images at a time)", err)
	}
	so := pixelcnn.SampleOptions{N: n, Seed: o.seed, Temperature: o.temp, Labels: o.labels(c, n)}
	var original []uint8
	if o.complete != "" || o.completeFrom != "" {
		if o.keepRows > c.Height {
			return fmt.Errorf("--keep-rows %d: the model's images have %d rows", o.keepRows, c.Height)
		}
		if original, err = o.source(c); err != nil {
			return err
		}
		so.KeepRows = o.keepRows
		so.Known = []uint8(strings.Repeat(string(original), n)) // every image completes the same top
	}
	start := time.Now()
	so.Progress = func(done, total int) {
		el := time.Since(start)
		eta := time.Duration(float64(el) / float64(done) * float64(total-done)).Round(time.Second)
		const width = 30
		bar := strings.Repeat("#", done*width/total) + strings.Repeat(".", width-done*width/total)
		p.Update("[%s] %d/%d pixels  %s elapsed  ETA %s", bar, done, total, el.Round(time.Second), eta)
	}
	var imgs []uint8
	if o.method == "naive" {
		imgs, err = pixelcnn.SampleNaive(ck.Model, so)
	} else {
		imgs, err = pixelcnn.Sample(ck.Model, so)
	}
	if err != nil {
		return err
	}
	el := time.Since(start) // sampling only, not the write
	cols := 0
	if o.class != "" {
		cols = o.n // one row per class
	}
	if original != nil {
		err = imageio.WriteCompletionGrid(o.out, original, imgs, n, c.Height, c.Width, c.Colors, o.keepRows, 0, 0)
	} else {
		err = imageio.WriteGrid(o.out, imgs, n, c.Height, c.Width, c.Colors, cols, 0)
	}
	if err != nil {
		return err
	}
	p.Line("%d images (%s, %s) in %s, %.3g images/s -> %s", n, o.method, b.Name(), el.Round(time.Millisecond), float64(n)/el.Seconds(), o.out)
	return nil
}
