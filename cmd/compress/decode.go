package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/pixelcnn/codec"
	"pixelcnn/pixelcnn/fileio"
)

// maxCodedFileBytes bounds the file decode reads: the coder spends at most 24 bits (3 bytes)
// on a subpixel (no frequency is below 1 of 2^24), so 4 GiB holds over a billion
// subpixels, more images than decoding could hold in memory.
const maxCodedFileBytes = 4 << 30

func decodeCmd(args []string) error {
	fs := pflag.NewFlagSet("decode", pflag.ContinueOnError)
	var c common
	c.register(fs)
	in := fs.String("in", "", "the file to decode (required)")
	outDir := fs.String("out-dir", "", "directory to create with 000000.png, ... (required; must not exist, or be empty)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parse(fs, decodeSynopsis, args, &c, cli.Parse); err != nil {
		return err
	}
	if *in == "" || *outDir == "" {
		return usagef("--in and --out-dir are required")
	}
	if err := checkOutDir(*outDir); err != nil {
		return err
	}
	file, err := fileio.ReadFile(*in, maxCodedFileBytes)
	if err != nil {
		return err
	}
	// The framing is checked before the checkpoint is even loaded.
	if _, _, err := codec.ParseHeader(file); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	m, err := c.load()
	if err != nil {
		return err
	}
	o := codec.Options{}
	if !*quiet {
		o.Progress = progress("decode")
	}
	start := time.Now()
	h, px, err := codec.Decode(m, file, o)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	took := time.Since(start)
	if err := writeImageDir(*outDir, px, h.Count, h.Height, h.Width, h.Colors); err != nil {
		return err
	}
	fmt.Printf("%s: %d images of %dx%dx%d verified (pixel SHA-256) and written to %s; %.1f images/s\n",
		*in, h.Count, h.Height, h.Width, h.Colors, *outDir, float64(h.Count)/took.Seconds())
	if h.Labels != nil {
		fmt.Printf("labels (image 0 first): %v\n", h.Labels)
	}
	return nil
}

// checkOutDir refuses, before any decoding, an output directory that exists and is not an
// empty directory (or a link to one).
func checkOutDir(dir string) error { return fileio.CheckOutputDir(dir) }

// writeImageDir writes the images into a temporary directory beside dir and renames it to
// dir (fileio.WriteDir), so dir appears complete or not at all.
func writeImageDir(dir string, px []uint8, n, h, w, c int) error {
	return fileio.WriteDir(dir, func(tmp string) error {
		sub := h * w * c
		for i := 0; i < n; i++ {
			if err := writePNG(filepath.Join(tmp, fmt.Sprintf("%06d.png", i)), px[i*sub:(i+1)*sub], h, w, c); err != nil {
				return err
			}
		}
		return nil
	})
}
