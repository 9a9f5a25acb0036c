package imageio

import (
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // registered decoders: ReadImage accepts GIF and JPEG as well as PNG
	_ "image/jpeg"
	_ "image/png"
	"os"
)

// ReadImage reads an image file (PNG, JPEG or GIF) that must be exactly w x h pixels and
// returns it as h*w*c bytes in HWC order: c = 1 converts to grey with the standard luma
// (0.299 R + 0.587 G + 0.114 B, Go's color.GrayModel), c = 3 gives RGB. Transparent pixels
// are composited over black (premultiplied colour), which is what both models do.
// A size mismatch is an error, never a silent resize.
func ReadImage(path string, h, w, c int) ([]uint8, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("imageio: %s: channel count %d must be 1 (grey) or 3 (RGB)", path, c)
	}
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("imageio: %s: wanted size %dx%d must be positive", path, w, h)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err) // *PathError already names the path
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: decoding: %w", path, err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return nil, fmt.Errorf("imageio: %s: %s image is %dx%d (width x height), want %dx%d",
			path, format, b.Dx(), b.Dy(), w, h)
	}
	out := make([]uint8, 0, h*w*c)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			px := img.At(x, y)
			if c == 1 {
				out = append(out, color.GrayModel.Convert(px).(color.Gray).Y)
				continue
			}
			rgba := color.RGBAModel.Convert(px).(color.RGBA)
			out = append(out, rgba.R, rgba.G, rgba.B)
		}
	}
	return out, nil
}
