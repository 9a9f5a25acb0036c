package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
)

// hwcImage wraps HWC bytes as a Gray (c = 1) or opaque NRGBA (c = 3) image.
func hwcImage(px []uint8, h, w, c int) image.Image {
	if c == 1 {
		return &image.Gray{Pix: px, Stride: w, Rect: image.Rect(0, 0, w, h)}
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < h*w; i++ {
		copy(img.Pix[4*i:4*i+3], px[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	return img
}

// encodePNG returns the PNG of an HWC image at the given compression level.
func encodePNG(px []uint8, h, w, c int, level png.CompressionLevel) ([]byte, error) {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: level}
	if err := enc.Encode(&b, hwcImage(px, h, w, c)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writePNG(path string, px []uint8, h, w, c int) error {
	b, err := encodePNG(px, h, w, c, png.DefaultCompression)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

// readPNGs reads images that must be exactly h x w with c colours, losslessly: every pixel
// opaque, 8-bit, and grey (R = G = B) when c = 1. Anything a conversion would change is an
// error naming the file, never silently converted.
func readPNGs(paths []string, h, w, c int) ([]uint8, error) {
	out := make([]uint8, 0, len(paths)*h*w*c)
	for _, p := range paths {
		px, err := readPNG(p, h, w, c)
		if err != nil {
			return nil, err
		}
		out = append(out, px...)
	}
	return out, nil
}

func readPNG(path string, h, w, c int) ([]uint8, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable PNG: %w", path, err)
	}
	r := img.Bounds()
	if r.Dx() != w || r.Dy() != h {
		return nil, fmt.Errorf("%s: the image is %dx%d (width x height), the model codes %dx%d", path, r.Dx(), r.Dy(), w, h)
	}
	px := make([]uint8, 0, h*w*c)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
			if v.A != 0xffff {
				return nil, fmt.Errorf("%s: pixel (%d,%d) is not opaque (alpha %d/65535): the codec stores opaque images only", path, x, y, v.A)
			}
			rgb := [3]uint16{v.R, v.G, v.B}
			for _, ch := range rgb {
				if ch%257 != 0 {
					return nil, fmt.Errorf("%s: pixel (%d,%d) has a 16-bit value %d that is not an 8-bit one", path, x, y, ch)
				}
			}
			if c == 1 {
				if rgb[0] != rgb[1] || rgb[1] != rgb[2] {
					return nil, fmt.Errorf("%s: pixel (%d,%d) has colour (%d,%d,%d); the model is for greyscale images", path, x, y, rgb[0]/257, rgb[1]/257, rgb[2]/257)
				}
				px = append(px, uint8(rgb[0]/257))
				continue
			}
			px = append(px, uint8(rgb[0]/257), uint8(rgb[1]/257), uint8(rgb[2]/257))
		}
	}
	return px, nil
}
