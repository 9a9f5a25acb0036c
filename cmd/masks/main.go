// Command masks draws the PixelCNN masked-convolution kernels as a PNG, like the seed
// tutorial's plot: one panel per (input colour, output colour) pair.
//
//	go run ./cmd/masks --k 7 --mode A --colors 3 --out masks.png
//	go run ./cmd/masks --k 3 --both --out masks-ab.png   # mask A and mask B side by side
//
// It says what it wrote on stderr. Bad flags exit with status 2, a failed write with status 1.
package main

import (
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/nn"
	"pixelcnn/pixelcnn/imageio"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const synopsis = `usage: masks [--k K] [--mode A|B | --both] [--colors 1|3] [--out FILE.png]

Draws the PixelCNN masked-convolution kernels as a PNG: one panel per (input colour, output
colour) pair.`

// run is main without the process exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("masks", pflag.ContinueOnError)
	k := fs.Int("k", 7, "kernel size (odd)")
	mode := fs.String("mode", "A", "mask mode: A (first layer) or B (later layers)")
	colors := fs.Int("colors", 3, "colour channels: 1 (grey) or 3 (RGB)")
	both := fs.Bool("both", false, "draw mask A and mask B side by side (instead of --mode)")
	out := fs.String("out", "masks.png", "output PNG path (.png)")
	usage := func(err error) int {
		fmt.Fprintf(stderr, "masks: %v\n", err)
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
	if err := cli.PNGOut("--out", *out); err != nil {
		return usage(err)
	}
	if *both {
		if err := cli.Unused(fs, "is not read with --both (which draws both masks)", "mode"); err != nil {
			return usage(err)
		}
	}

	modes := []nn.MaskMode{nn.MaskA, nn.MaskB}
	if !*both {
		m, err := parseMode(*mode)
		if err != nil {
			return usage(err)
		}
		modes = []nn.MaskMode{m}
	}
	var imgs []image.Image
	for _, m := range modes {
		img, err := imageio.MaskImage(*k, m, *colors)
		if err != nil {
			return usage(err)
		}
		imgs = append(imgs, img)
	}
	img := imageio.SideBySide(24, imgs...)
	if err := imageio.WritePNG(*out, img); err != nil {
		fmt.Fprintf(stderr, "masks: %v\n", err)
		return 1
	}
	var names []string
	for _, m := range modes {
		names = append(names, fmt.Sprintf("mask %v", m))
	}
	fmt.Fprintf(stderr, "wrote %s: %s, %dx%d, %d colour(s) (%dx%d pixels)\n",
		*out, strings.Join(names, " and "), *k, *k, *colors, img.Bounds().Dx(), img.Bounds().Dy())
	return 0
}

func parseMode(s string) (nn.MaskMode, error) {
	switch strings.ToUpper(s) {
	case "A":
		return nn.MaskA, nil
	case "B":
		return nn.MaskB, nil
	}
	return 0, fmt.Errorf("--mode %q: must be A or B", s)
}
