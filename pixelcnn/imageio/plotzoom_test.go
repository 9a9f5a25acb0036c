package imageio

import (
	"image/color"
	"path/filepath"
	"testing"
)

// TestPlotZoomsOnUsefulRange: a curve whose first step is far above the rest still fills the
// plot's height past the first steps, instead of lying flat along the bottom.
func TestPlotZoomsOnUsefulRange(t *testing.T) {
	var s Series
	s.Name = "train"
	for x := 0; x <= 100; x++ {
		y := 1.0 + 0.2*float64(100-x)/100
		if x == 0 {
			y = 8
		}
		s.X, s.Y = append(s.X, float64(x)), append(s.Y, y)
	}
	x, y := dataRange([]Series{s})
	zoomed, clipped := usefulYRange([]Series{s}, x, y)
	if !clipped || zoomed.lo != 1 || zoomed.hi > 1.2 {
		t.Fatalf("range %+v clipped %v; want [1, <=1.2] clipped", zoomed, clipped)
	}
	path := filepath.Join(t.TempDir(), "curve.png")
	if err := PlotCurves(path, "t", []Series{s}); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	// Vertical extent of the series colour right of the first fifth of the plot area.
	top, bottom := PlotArea.Max.Y, PlotArea.Min.Y
	want := seriesColours[0]
	for py := PlotArea.Min.Y; py < PlotArea.Max.Y; py++ {
		for px := PlotArea.Min.X + PlotArea.Dx()/5; px < PlotArea.Max.X-200; px++ { // left of the legend
			if color.RGBAModel.Convert(img.At(px, py)).(color.RGBA) == want {
				top, bottom = min(top, py), max(bottom, py)
			}
		}
	}
	if span := bottom - top; span < PlotArea.Dy()/2 {
		t.Fatalf("the curve past the first steps spans %d of %d pixels: not zoomed", span, PlotArea.Dy())
	}
	// Without the outlier nothing is clipped.
	flat := Series{X: []float64{0, 1, 2}, Y: []float64{3, 2, 1}}
	x, y = dataRange([]Series{flat})
	if r, clipped := usefulYRange([]Series{flat}, x, y); clipped || r != y {
		t.Fatalf("a decreasing curve was clipped: %+v", r)
	}
}
