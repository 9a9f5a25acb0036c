// Package imageio turns the model's 8-bit HWC images into PNG files and back: sample grids,
// image-completion inputs, training-curve plots and pictures of the PixelCNN masks.
//
// Every writer is atomic (temporary file in the target directory, fsync, rename: package
// fileio), so a crash or a concurrent reader never sees a half-written PNG, and never
// replaces a device, a FIFO or a link.
package imageio

import (
	"fmt"
	"image"
	"image/png"
	"io"

	"pixelcnn/pixelcnn/fileio"
)

// maxPixels bounds the images this package allocates, so that a bad argument (a huge scale,
// a column count in the millions) is an error instead of an out-of-memory crash.
const maxPixels = 1 << 28

// WritePNG encodes img as a PNG at path atomically (fileio.Write: a temporary file in the
// target's directory, fsync, rename). A path that exists and is not a regular file (or a
// link to one) is refused.
func WritePNG(path string, img image.Image) error {
	if err := fileio.Write(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("imageio: %w", err) // fileio's errors name the path
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
