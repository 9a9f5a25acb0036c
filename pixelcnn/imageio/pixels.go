package imageio

import (
	"fmt"
	"image"
	"image/color"
)

// Pixels returns img as h*w*c bytes in HWC order (c = 1: grey, c = 3: RGB) when that loses
// nothing: img must be exactly w x h, every pixel opaque and 8-bit, and grey (R = G = B) when
// c = 1. Anything a conversion would change is an error naming the first such pixel, never a
// silent conversion: a model scores, completes and codes exactly the pixels it is given.
func Pixels(img image.Image, h, w, c int) ([]uint8, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("channel count %d must be 1 (grey) or 3 (RGB)", c)
	}
	r := img.Bounds()
	if r.Dx() != w || r.Dy() != h {
		return nil, fmt.Errorf("the image is %dx%d (width x height), want %dx%d", r.Dx(), r.Dy(), w, h)
	}
	px := make([]uint8, 0, h*w*c)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
			if v.A != 0xffff {
				return nil, fmt.Errorf("pixel (%d,%d) is not opaque (alpha %d/65535): only opaque images are taken", x-r.Min.X, y-r.Min.Y, v.A)
			}
			rgb := [3]uint16{v.R, v.G, v.B}
			for _, ch := range rgb {
				if ch%257 != 0 {
					return nil, fmt.Errorf("pixel (%d,%d) has a 16-bit value %d that is not an 8-bit one", x-r.Min.X, y-r.Min.Y, ch)
				}
			}
			if c == 1 {
				if rgb[0] != rgb[1] || rgb[1] != rgb[2] {
					return nil, fmt.Errorf("pixel (%d,%d) has colour (%d,%d,%d); the model is for greyscale images", x-r.Min.X, y-r.Min.Y, rgb[0]/257, rgb[1]/257, rgb[2]/257)
				}
				px = append(px, uint8(rgb[0]/257))
				continue
			}
			px = append(px, uint8(rgb[0]/257), uint8(rgb[1]/257), uint8(rgb[2]/257))
		}
	}
	return px, nil
}
