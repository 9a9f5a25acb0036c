package imageio

import (
	"image/color"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionGrid: the original comes first in its own frame colour, the frame beside the
// kept rows of every cell is marked and the frame beside the generated rows is not, and the
// pixels are the images'.
func TestCompletionGrid(t *testing.T) {
	const h, w, c, n, keep, scale = 4, 3, 1, 2, 1, 2
	orig := []uint8{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}
	comps := make([]uint8, n*h*w)
	for i := range comps {
		comps[i] = 200
	}
	path := filepath.Join(t.TempDir(), "c.png")
	if err := WriteCompletionGrid(path, orig, comps, n, h, w, c, keep, 0, scale); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	l, _ := NewGridLayout(n+1, h, w, 0, scale)
	at := func(x, y int) color.RGBA { return color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) }
	grey := color.RGBA{BorderGrey, BorderGrey, BorderGrey, 255}
	o := l.Cell(0, h, w)
	for _, tc := range []struct {
		name string
		x, y int
		want color.RGBA
	}{
		{"original's frame, top", o.Min.X + 1, o.Min.Y - 1, OriginalMark},
		{"original's frame, bottom", o.Min.X + 1, o.Max.Y, OriginalMark},
		{"original's first pixel", o.Min.X, o.Min.Y, color.RGBA{10, 10, 10, 255}},
		{"original's last pixel", o.Max.X - 1, o.Max.Y - 1, color.RGBA{120, 120, 120, 255}},
		{"original's kept row mark", o.Min.X - 1, o.Min.Y, KeptMark},
		{"completion's kept row, left", l.Cell(1, h, w).Min.X - 1, l.Cell(1, h, w).Min.Y + keep*scale - 1, KeptMark},
		{"completion's kept row, right", l.Cell(2, h, w).Max.X, l.Cell(2, h, w).Min.Y, KeptMark},
		{"completion's generated row", l.Cell(2, h, w).Max.X, l.Cell(2, h, w).Min.Y + keep*scale, grey},
		{"completion pixel", l.Cell(2, h, w).Min.X, l.Cell(2, h, w).Max.Y - 1, color.RGBA{200, 200, 200, 255}},
	} {
		if got := at(tc.x, tc.y); got != tc.want {
			t.Errorf("%s at (%d,%d): %v, want %v", tc.name, tc.x, tc.y, got, tc.want)
		}
	}
	for _, bad := range []struct {
		orig []uint8
		keep int
		want string
	}{{orig[:5], 1, "original has 5 bytes"}, {orig, 5, "kept rows 5"}} {
		if err := WriteCompletionGrid(path, bad.orig, comps, n, h, w, c, bad.keep, 0, scale); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("error %v, want %q", err, bad.want)
		}
	}
}
