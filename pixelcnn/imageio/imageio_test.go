package imageio

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"pixelcnn/nn"
)

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return img
}

// ramp returns n images of h x w x c bytes whose values encode (image, y, x, channel), so a
// pixel in the output can be traced back to exactly one source byte.
func ramp(n, h, w, c int) []uint8 {
	px := make([]uint8, n*h*w*c)
	for i := range px {
		px[i] = uint8(i*37 + 11)
	}
	return px
}

func TestGridLayout(t *testing.T) {
	tests := []struct {
		name                    string
		n, h, w, cols, scale    int
		wantCols, wantRows      int
		wantScale, wantW, wantH int
	}{
		{"auto cols 4", 4, 2, 3, 0, 1, 2, 2, 1, 2*(3+Border) + Border, 2*(2+Border) + Border},
		{"auto cols 5", 5, 2, 2, 0, 2, 3, 2, 2, 3*(4+Border) + Border, 2*(4+Border) + Border},
		{"one row", 3, 4, 4, 3, 1, 3, 1, 1, 3*(4+Border) + Border, 4 + 2*Border},
		{"cols capped at n", 2, 1, 1, 5, 1, 2, 1, 1, 2*(1+Border) + Border, 1 + 2*Border},
		{"auto scale mnist", 1, 28, 28, 0, 0, 1, 1, 4, 112 + 2*Border, 112 + 2*Border},
		{"auto scale cifar", 1, 32, 32, 0, 0, 1, 1, 3, 96 + 2*Border, 96 + 2*Border},
		{"auto scale large", 1, 200, 100, 1, 0, 1, 1, 1, 100 + 2*Border, 200 + 2*Border},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewGridLayout(tt.n, tt.h, tt.w, tt.cols, tt.scale)
			if err != nil {
				t.Fatal(err)
			}
			want := GridLayout{Cols: tt.wantCols, Rows: tt.wantRows, Scale: tt.wantScale, Width: tt.wantW, Height: tt.wantH}
			if diff := cmp.Diff(want, l); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteGridPixels(t *testing.T) {
	tests := []struct {
		name                    string
		n, h, w, c, cols, scale int
	}{
		{"grey 5 images scale 3", 5, 2, 3, 1, 0, 3},
		{"rgb 3 images 2 cols scale 2", 3, 3, 2, 3, 2, 2},
		{"grey 1 image scale 1", 1, 4, 4, 1, 0, 1},
		{"rgb auto scale", 2, 28, 28, 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px := ramp(tt.n, tt.h, tt.w, tt.c)
			path := filepath.Join(t.TempDir(), "grid.png")
			if err := WriteGrid(path, px, tt.n, tt.h, tt.w, tt.c, tt.cols, tt.scale); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, path)
			l, err := NewGridLayout(tt.n, tt.h, tt.w, tt.cols, tt.scale)
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds(); got != image.Rect(0, 0, l.Width, l.Height) {
				t.Fatalf("bounds %v, want %dx%d", got, l.Width, l.Height)
			}
			switch tt.c {
			case 1:
				if _, ok := img.(*image.Gray); !ok {
					t.Errorf("grey grid decoded as %T, want *image.Gray", img)
				}
			case 3:
				if _, ok := img.(*image.RGBA); !ok {
					t.Errorf("RGB grid decoded as %T, want *image.RGBA", img)
				}
			}
			rgb := func(x, y int) [3]uint8 {
				r, g, b, _ := img.At(x, y).RGBA()
				return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
			}
			// Every scaled pixel of every image equals its source byte(s).
			for i := 0; i < tt.n; i++ {
				cell := l.Cell(i, tt.h, tt.w)
				for y := cell.Min.Y; y < cell.Max.Y; y++ {
					for x := cell.Min.X; x < cell.Max.X; x++ {
						sy, sx := (y-cell.Min.Y)/l.Scale, (x-cell.Min.X)/l.Scale
						o := ((i*tt.h+sy)*tt.w + sx) * tt.c
						want := [3]uint8{px[o], px[o], px[o]}
						if tt.c == 3 {
							want = [3]uint8{px[o], px[o+1], px[o+2]}
						}
						if got := rgb(x, y); got != want {
							t.Fatalf("image %d pixel (%d,%d) at (%d,%d) = %v, want %v", i, sx, sy, x, y, got, want)
						}
					}
				}
			}
			// The frame: corners, the gap after the first cell, and the row after it.
			grey := [3]uint8{BorderGrey, BorderGrey, BorderGrey}
			first := l.Cell(0, tt.h, tt.w)
			for _, p := range []image.Point{
				{0, 0}, {l.Width - 1, l.Height - 1}, {Border - 1, first.Min.Y},
				{first.Max.X, first.Min.Y}, {first.Min.X, first.Max.Y}, {first.Min.X, Border - 1},
			} {
				if got := rgb(p.X, p.Y); got != grey {
					t.Errorf("border pixel %v = %v, want %v", p, got, grey)
				}
			}
			// Unused cells in the last row stay grey.
			for i := tt.n; i < l.Cols*l.Rows; i++ {
				c := l.Cell(i, tt.h, tt.w).Min
				if got := rgb(c.X, c.Y); got != grey {
					t.Errorf("empty cell %d = %v, want grey", i, got)
				}
			}
		})
	}
}

func TestWriteGridErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.png")
	tests := []struct {
		name                    string
		path                    string
		px                      []uint8
		n, h, w, c, cols, scale int
		want                    string
	}{
		{"short buffer", path, make([]uint8, 10), 1, 4, 4, 1, 0, 1, "want 16"},
		{"two channels", path, make([]uint8, 32), 1, 4, 4, 2, 0, 1, "channel count 2"},
		{"no images", path, nil, 0, 4, 4, 1, 0, 1, "image count 0"},
		{"negative cols", path, make([]uint8, 16), 1, 4, 4, 1, -1, 1, "column count -1"},
		{"huge scale", path, make([]uint8, 16), 1, 4, 4, 1, 0, 1 << 40, "too large"},
		{"missing dir", filepath.Join(dir, "nope", "g.png"), make([]uint8, 16), 1, 4, 4, 1, 0, 1, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteGrid(tt.path, tt.px, tt.n, tt.h, tt.w, tt.c, tt.cols, tt.scale)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, tt.path, tt.want)
			}
		})
	}
	// No temporary file may be left behind by a failed write.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("leftover files: %v", ents)
	}
}

func TestReadImageRoundTrip(t *testing.T) {
	for _, c := range []int{1, 3} {
		const h, w = 5, 7
		px := ramp(1, h, w, c)
		path := filepath.Join(t.TempDir(), "one.png")
		if err := WriteGrid(path, px, 1, h, w, c, 1, 1); err != nil {
			t.Fatal(err)
		}
		// The grid has a Border-pixel frame around the single cell.
		got, err := ReadImage(path, h+2*Border, w+2*Border, c)
		if err != nil {
			t.Fatal(err)
		}
		var inner []uint8
		for y := Border; y < Border+h; y++ {
			o := (y*(w+2*Border) + Border) * c
			inner = append(inner, got[o:o+w*c]...)
		}
		if diff := cmp.Diff(px, inner); diff != "" {
			t.Errorf("c=%d: round trip (-want +got):\n%s", c, diff)
		}
		if got[0] != BorderGrey {
			t.Errorf("c=%d: corner %d, want border grey", c, got[0])
		}
	}
}

// writeFile encodes img with enc into a temporary file and returns its path.
func writeFile(t *testing.T, name string, img image.Image, enc func(*bytes.Buffer, image.Image) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadImageConversions(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	src.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 255})
	src.SetNRGBA(1, 0, color.NRGBA{10, 200, 30, 255})
	pngPath := writeFile(t, "c.png", src, func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) })

	grey := image.NewGray(image.Rect(0, 0, 2, 1))
	grey.Pix = []uint8{0, 200}
	// A paletted source, so the GIF encoder keeps the exact greys instead of quantising.
	pal := image.NewPaletted(grey.Rect, color.Palette{color.Gray{0}, color.Gray{200}})
	pal.Pix = []uint8{0, 1}
	gifPath := writeFile(t, "g.gif", pal, func(b *bytes.Buffer, m image.Image) error { return gif.Encode(b, m, nil) })
	jpgPath := writeFile(t, "g.jpg", grey, func(b *bytes.Buffer, m image.Image) error {
		return jpeg.Encode(b, m, &jpeg.Options{Quality: 100})
	})

	tests := []struct {
		name string
		path string
		c    int
		want []uint8
	}{
		{"png rgb", pngPath, 3, []uint8{255, 0, 0, 10, 200, 30}},
		{"gif grey", gifPath, 1, []uint8{0, 200}},
		{"gif to rgb", gifPath, 3, []uint8{0, 0, 0, 200, 200, 200}},
		{"jpeg grey", jpgPath, 1, []uint8{0, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadImage(tt.path, 1, 2, tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadImageErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	if err := WriteGrid(good, make([]uint8, 16), 1, 4, 4, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.png")
	if err := os.WriteFile(corrupt, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.png")
	tests := []struct {
		name    string
		path    string
		h, w, c int
		want    []string
	}{
		{"size mismatch", good, 28, 28, 1, []string{good, "is 8x8", "want 28x28"}},
		{"width mismatch", good, 8, 9, 3, []string{good, "is 8x8", "want 9x8"}},
		{"missing", missing, 8, 8, 1, []string{missing, "no such file"}},
		{"corrupt", corrupt, 8, 8, 1, []string{corrupt, "decoding"}},
		{"bad channels", good, 8, 8, 4, []string{good, "channel count 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadImage(tt.path, tt.h, tt.w, tt.c)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPlotCurves(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		series []Series
		lines  bool // expect series-coloured pixels in the plot area
	}{
		{"train and test", []Series{
			{Name: "train bits/dim", X: []float64{0, 100, 200, 300, 400}, Y: []float64{8, 5, 4.2, 3.9, 3.7}},
			{Name: "test bits/dim", X: []float64{0, 200, 400}, Y: []float64{7.5, 4.4, 3.8}},
		}, true},
		{"single point", []Series{{Name: "train", X: []float64{10}, Y: []float64{3.2}}}, true},
		{"with NaN", []Series{{Name: "train", X: []float64{0, 1, 2, 3}, Y: []float64{4, nan, math.Inf(1), 3}}}, true},
		{"all NaN", []Series{{Name: "train", X: []float64{0, 1}, Y: []float64{nan, nan}}}, false},
		{"empty series", []Series{{Name: "train"}, {Name: "test"}}, false},
		{"no series", nil, false},
		{"long series", []Series{longSeries(5000)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "curves.png")
			if err := PlotCurves(path, "tiny: "+tt.name, tt.series); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, path)
			if got := img.Bounds(); got != image.Rect(0, 0, PlotWidth, PlotHeight) {
				t.Fatalf("bounds %v, want %dx%d", got, PlotWidth, PlotHeight)
			}
			coloured, nonWhite := 0, 0
			for y := PlotArea.Min.Y; y < PlotArea.Max.Y; y++ {
				for x := PlotArea.Min.X; x < PlotArea.Max.X; x++ {
					r, g, b, _ := img.At(x, y).RGBA()
					if r != g || g != b {
						coloured++
					}
					if r != 0xffff || g != 0xffff || b != 0xffff {
						nonWhite++
					}
				}
			}
			if nonWhite == 0 {
				t.Error("plot area is blank")
			}
			if tt.lines && coloured == 0 {
				t.Error("no series pixels in the plot area")
			}
			if !tt.lines && coloured != 0 && len(tt.series) == 0 {
				t.Errorf("%d coloured pixels with no series", coloured)
			}
		})
	}
}

func longSeries(n int) Series {
	s := Series{Name: "train bits/dim"}
	for i := 0; i < n; i++ {
		s.X = append(s.X, float64(i*10))
		s.Y = append(s.Y, 3+5*math.Exp(-float64(i)/500)+0.1*math.Sin(float64(i)))
	}
	return s
}

func TestPlotCurvesLengthMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	err := PlotCurves(path, "t", []Series{{Name: "train", X: []float64{1, 2}, Y: []float64{1}}})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "train") {
		t.Fatalf("error %v, want one naming the path and the series", err)
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi   float64
		target   int
		want     []float64
		wantStep float64
		labels   []string
	}{
		{0, 10, 5, []float64{0, 2, 4, 6, 8, 10}, 2, []string{"0", "2", "4", "6", "8", "10"}},
		{3.1, 3.9, 4, []float64{3.2, 3.4, 3.6, 3.8}, 0.2, []string{"3.2", "3.4", "3.6", "3.8"}},
		{-0.12, 0.12, 5, []float64{-0.1, -0.05, 0, 0.05, 0.1}, 0.05, []string{"-0.10", "-0.05", "0.00", "0.05", "0.10"}},
		{-0.4, 2, 3, []float64{0, 1, 2}, 1, []string{"0", "1", "2"}},
		{0, 70000, 7, []float64{0, 10000, 20000, 30000, 40000, 50000, 60000, 70000}, 10000, nil},
	}
	for _, tt := range tests {
		got, step := ticks(axisRange{lo: tt.lo, hi: tt.hi}, tt.target)
		approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
		if diff := cmp.Diff(tt.want, got, approx); diff != "" || math.Abs(step-tt.wantStep) > 1e-12 {
			t.Errorf("ticks(%v, %v) step %v, want %v; (-want +got):\n%s", tt.lo, tt.hi, step, tt.wantStep, diff)
		}
		for i, l := range tt.labels {
			if s := tickLabel(got[i], step); s != l {
				t.Errorf("label of %v = %q, want %q", got[i], s, l)
			}
		}
	}
}

func TestMaskImage(t *testing.T) {
	grey := func(img image.Image, r image.Rectangle) uint8 {
		c := color.GrayModel.Convert(img.At((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)).(color.Gray)
		return c.Y
	}
	tests := []struct {
		name   string
		k      int
		mode   nn.MaskMode
		colors int
		title  string
		// centre[i][j] is the centre cell's grey for input colour i, output colour j.
		centre [][]uint8
	}{
		{"k3 A grey", 3, nn.MaskA, 1, "Mask A, 3x3, 1 colour", [][]uint8{{maskCentreOff}}},
		{"k3 B grey", 3, nn.MaskB, 1, "Mask B, 3x3, 1 colour", [][]uint8{{maskCentreOn}}},
		{"k7 A rgb", 7, nn.MaskA, 3, "Mask A, 7x7, 3 colours", [][]uint8{
			{maskCentreOff, maskCentreOn, maskCentreOn},
			{maskCentreOff, maskCentreOff, maskCentreOn},
			{maskCentreOff, maskCentreOff, maskCentreOff},
		}},
		{"k5 B rgb", 5, nn.MaskB, 3, "Mask B, 5x5, 3 colours", [][]uint8{
			{maskCentreOn, maskCentreOn, maskCentreOn},
			{maskCentreOff, maskCentreOn, maskCentreOn},
			{maskCentreOff, maskCentreOff, maskCentreOn},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := MaskImage(tt.k, tt.mode, tt.colors)
			if err != nil {
				t.Fatal(err)
			}
			if got := maskTitle(tt.k, tt.mode, tt.colors); got != tt.title {
				t.Errorf("title %q, want %q", got, tt.title)
			}
			l := newMaskLayout(tt.k, tt.colors, tt.title)
			if img.Bounds() != image.Rect(0, 0, l.width, l.height) {
				t.Fatalf("bounds %v, want %dx%d", img.Bounds(), l.width, l.height)
			}
			for n, e := range maskLegend { // the legend shows each shade
				if got := grey(img, l.legendSwatch(n)); got != e.grey {
					t.Errorf("legend %q swatch = %d, want %d", e.label, got, e.grey)
				}
			}
			c := tt.k / 2
			for i := 0; i < tt.colors; i++ {
				for j := 0; j < tt.colors; j++ {
					if got := grey(img, l.cellRect(i, j, c, c)); got != tt.centre[i][j] {
						t.Errorf("panel (%d,%d) centre = %d, want %d", i, j, got, tt.centre[i][j])
					}
					checks := []struct {
						ky, kx int
						want   uint8
					}{
						{0, 0, maskOn}, {c, c - 1, maskOn}, {0, tt.k - 1, maskOn},
						{c, c + 1, maskOff}, {c + 1, 0, maskOff}, {tt.k - 1, tt.k - 1, maskOff},
					}
					for _, ch := range checks {
						if got := grey(img, l.cellRect(i, j, ch.ky, ch.kx)); got != ch.want {
							t.Errorf("panel (%d,%d) cell (%d,%d) = %d, want %d", i, j, ch.ky, ch.kx, got, ch.want)
						}
					}
					// The grid line left of each cell row.
					o := l.panelOrigin(i, j)
					if got := color.GrayModel.Convert(img.At(o.X, o.Y+l.cell/2)).(color.Gray).Y; got != maskGridGrey {
						t.Errorf("panel (%d,%d) grid line = %d, want %d", i, j, got, maskGridGrey)
					}
				}
			}
		})
	}
}

func TestMaskImageErrors(t *testing.T) {
	tests := []struct {
		name      string
		k, colors int
		mode      nn.MaskMode
		want      string
	}{
		{"even k", 4, 3, nn.MaskA, "odd"},
		{"zero k", 0, 3, nn.MaskA, "odd"},
		{"huge k", MaxMaskKernel + 2, 3, nn.MaskA, "too large"},
		{"two colours", 3, 2, nn.MaskA, "colour count 2"},
		{"bad mode", 3, 3, nn.MaskMode(7), "mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MaskImage(tt.k, tt.mode, tt.colors)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSideBySide(t *testing.T) {
	a := image.NewGray(image.Rect(0, 0, 3, 2))
	b := image.NewGray(image.Rect(5, 5, 9, 9)) // a non-zero origin must not matter
	out := SideBySide(2, a, b)
	if out.Bounds() != image.Rect(0, 0, 3+2+4, 4) {
		t.Fatalf("bounds %v", out.Bounds())
	}
	for _, p := range []struct {
		x, y int
		want uint8
	}{{0, 0, 0}, {3, 0, 255}, {5, 3, 0}, {0, 3, 255}} {
		if got := color.GrayModel.Convert(out.At(p.x, p.y)).(color.Gray).Y; got != p.want {
			t.Errorf("(%d,%d) = %d, want %d", p.x, p.y, got, p.want)
		}
	}
}
