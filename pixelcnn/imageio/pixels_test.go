package imageio

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPixels: an image becomes the model's bytes only when nothing would be lost: the wanted
// size, opaque, 8-bit, and grey (R = G = B) for a one-colour model. Every other image is an
// error naming the pixel, and ReadImage refuses it the same way.
func TestPixels(t *testing.T) {
	grey := image.NewGray(image.Rect(0, 0, 2, 1))
	grey.Pix = []uint8{7, 200}
	rgb := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	copy(rgb.Pix, []uint8{255, 0, 0, 255, 10, 200, 30, 255})
	greyRGB := image.NewNRGBA(image.Rect(0, 0, 2, 1)) // colour type RGB, grey values
	copy(greyRGB.Pix, []uint8{7, 7, 7, 255, 200, 200, 200, 255})
	transparent := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	copy(transparent.Pix, []uint8{7, 7, 7, 255, 200, 200, 200, 128})
	deep := image.NewGray16(image.Rect(0, 0, 2, 1))
	deep.SetGray16(1, 0, color.Gray16{Y: 1000})
	exact16 := image.NewGray16(image.Rect(0, 0, 2, 1)) // 16-bit storage of 8-bit values
	exact16.SetGray16(0, 0, color.Gray16{Y: 7 * 257})
	exact16.SetGray16(1, 0, color.Gray16{Y: 200 * 257})
	for _, tc := range []struct {
		name string
		img  image.Image
		h, w int
		c    int
		want []uint8
		err  string
	}{
		{"grey", grey, 1, 2, 1, []uint8{7, 200}, ""},
		{"grey to rgb", grey, 1, 2, 3, []uint8{7, 7, 7, 200, 200, 200}, ""},
		{"rgb", rgb, 1, 2, 3, []uint8{255, 0, 0, 10, 200, 30}, ""},
		{"grey values in rgb", greyRGB, 1, 2, 1, []uint8{7, 200}, ""},
		{"16-bit holding 8-bit values", exact16, 1, 2, 1, []uint8{7, 200}, ""},
		{"colour for grey", rgb, 1, 2, 1, nil, "pixel (0,0) has colour (255,0,0); the model is for greyscale images"},
		{"transparent", transparent, 1, 2, 3, nil, "pixel (1,0) is not opaque (alpha"},
		{"16-bit", deep, 1, 2, 1, nil, "pixel (1,0) has a 16-bit value 1000"},
		{"size", grey, 2, 2, 1, nil, "the image is 2x1 (width x height), want 2x2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pixels(tc.img, tc.h, tc.w, tc.c)
			path := writeFile(t, "x.png", tc.img, func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) })
			read, rerr := ReadImage(path, tc.h, tc.w, tc.c)
			if tc.err == "" {
				if err != nil || rerr != nil {
					t.Fatalf("Pixels: %v; ReadImage: %v", err, rerr)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Pixels (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want, read); diff != "" {
					t.Errorf("ReadImage (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Pixels: %v, want an error containing %q", err, tc.err)
			}
			if rerr == nil || !strings.Contains(rerr.Error(), tc.err) || !strings.Contains(rerr.Error(), path) {
				t.Errorf("ReadImage: %v, want an error naming %s and containing %q", rerr, path, tc.err)
			}
		})
	}
}
