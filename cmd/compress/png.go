package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"

	"pixelcnn/pixelcnn/fileio"
	"pixelcnn/pixelcnn/imageio"
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
	return fileio.WriteFile(path, b)
}

// readPNGs reads images that must be exactly h x w with c colours, losslessly (the checks of
// imageio.Pixels, which cmd/sample's --complete shares): anything a conversion would change
// is an error naming the file, never silently converted.
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
	b, err := fileio.ReadFile(path, imageio.MaxImageFileBytes(h, w))
	if err != nil {
		return nil, err
	}
	// The header's size first: a few bytes can claim an image of gigabytes.
	if cfg, err := png.DecodeConfig(bytes.NewReader(b)); err == nil && (cfg.Width != w || cfg.Height != h) {
		return nil, fmt.Errorf("%s: the image is %dx%d (width x height), want %dx%d", path, cfg.Width, cfg.Height, w, h)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable PNG: %w", path, err)
	}
	px, err := imageio.Pixels(img, h, w, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return px, nil
}
