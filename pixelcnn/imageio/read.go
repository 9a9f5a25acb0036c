package imageio

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // registered decoders: ReadImage accepts GIF and JPEG as well as PNG
	_ "image/jpeg"
	_ "image/png"

	"pixelcnn/pixelcnn/fileio"
)

// ReadImage reads an image file (PNG, JPEG or GIF) and returns it as h*w*c bytes in HWC
// order, checked by Pixels: exactly w x h, opaque, 8-bit, and grey for c = 1. A mismatch is
// an error naming the file, never a silent resize or conversion.
func ReadImage(path string, h, w, c int) ([]uint8, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("imageio: %s: channel count %d must be 1 (grey) or 3 (RGB)", path, c)
	}
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("imageio: %s: wanted size %dx%d must be positive", path, w, h)
	}
	b, err := fileio.ReadFile(path, MaxImageFileBytes(h, w))
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err) // fileio's errors name the path
	}
	// The header's size first: a few bytes can claim an image of gigabytes.
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: decoding: %w", path, err)
	}
	if cfg.Width != w || cfg.Height != h {
		return nil, fmt.Errorf("imageio: %s (%s): the image is %dx%d (width x height), want %dx%d", path, format, cfg.Width, cfg.Height, w, h)
	}
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: decoding: %w", path, err)
	}
	px, err := Pixels(img, h, w, c)
	if err != nil {
		return nil, fmt.Errorf("imageio: %s (%s): %w", path, format, err)
	}
	return px, nil
}

// MaxImageFileBytes bounds an image file that should hold h x w pixels: the largest
// pixel data such an image can carry (16-bit RGBA, a filter byte a row), twice over for a
// worst-case encoder (stored deflate blocks, tiny chunks), plus 16 MiB for metadata chunks
// (colour profiles, text, EXIF).
func MaxImageFileBytes(h, w int) int64 {
	return 16<<20 + 2*int64(h)*(1+8*int64(w))
}
