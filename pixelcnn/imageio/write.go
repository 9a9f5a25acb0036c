// Package imageio turns the model's 8-bit HWC images into PNG files and back: sample grids,
// image-completion inputs, training-curve plots and pictures of the PixelCNN masks.
//
// Every writer is atomic (temporary file in the target directory, fsync, rename), so a crash
// or a concurrent reader never sees a half-written PNG.
package imageio

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
)

// maxPixels bounds the images this package allocates, so that a bad argument (a huge scale,
// a column count in the millions) is an error instead of an out-of-memory crash.
const maxPixels = 1 << 28

// WritePNG encodes img as a PNG at path atomically: it writes a temporary file in the same
// directory, syncs it and renames it over path.
func WritePNG(path string, img image.Image) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("imageio: %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("imageio: %s: %w", path, err)
	}
	if err := png.Encode(f, img); err != nil {
		return fail(err)
	}
	// CreateTemp makes the file 0600; a PNG is ordinary output, readable like any other.
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("imageio: %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("imageio: %s: %w", path, err)
	}
	return nil
}

// checkSize reports an error when a w x h image would be unreasonably large.
func checkSize(path string, w, h int) error {
	if w <= 0 || h <= 0 || w > maxPixels/h {
		return fmt.Errorf("imageio: %s: output of %dx%d pixels is too large (limit %d pixels)", path, w, h, maxPixels)
	}
	return nil
}
