package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/pixelcnn/codec"
)

func decodeCmd(args []string) error {
	fs := pflag.NewFlagSet("decode", pflag.ContinueOnError)
	var c common
	c.register(fs)
	in := fs.String("in", "", "the file to decode (required)")
	outDir := fs.String("out-dir", "", "directory to create with 000000.png, ... (required; must not exist, or be empty)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parse(fs, args, &c); err != nil {
		return err
	}
	if *in == "" || *outDir == "" {
		return usagef("--in and --out-dir are required")
	}
	if err := checkOutDir(*outDir); err != nil {
		return err
	}
	file, err := os.ReadFile(*in)
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

// checkOutDir refuses an output directory that exists and is not empty, before any decoding.
func checkOutDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out-dir %s: %w", dir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("--out-dir %s exists and is not empty; name a new directory", dir)
	}
	return nil
}

// writeImageDir writes the images into a temporary directory beside dir and renames it to
// dir, so dir appears complete or not at all.
func writeImageDir(dir string, px []uint8, n, h, w, c int) error {
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp*")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		os.RemoveAll(tmp)
		return err
	}
	sub := h * w * c
	for i := 0; i < n; i++ {
		name := filepath.Join(tmp, fmt.Sprintf("%06d.png", i))
		if err := writePNG(name, px[i*sub:(i+1)*sub], h, w, c); err != nil {
			return fail(err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fail(err)
	}
	if err := checkOutDir(dir); err != nil { // it may have appeared while decoding
		return fail(err)
	}
	os.Remove(dir) // an empty directory the user named; Rename needs it gone
	if err := os.Rename(tmp, dir); err != nil {
		return fail(err)
	}
	return nil
}
