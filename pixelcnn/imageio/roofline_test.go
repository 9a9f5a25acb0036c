package imageio

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func h100Roofline(points ...RooflinePoint) Roofline {
	return Roofline{Title: "test roofline", BandwidthLabel: "HBM3", BandwidthTBs: 3.35,
		Compute: []RooflineCeiling{{"FP32 CUDA cores", 67}, {"TF32 tensor cores", 495}}, Points: points}
}

func TestRooflineAxes(t *testing.T) {
	ax := newRooflineAxes(h100Roofline(RooflinePoint{"relu", 0.125, 0.3}, RooflinePoint{"conv", 80, 20}))
	// Ridges at 67/3.35 = 20 and 495/3.35 = 147.8 FLOP/B: x spans [0.0625, 1478] -> decades
	// [-2, 4]; y spans [0.067 (67/1000), 990] -> [-2, 3].
	if ax.x.lo != -2 || ax.x.hi != 4 || ax.y.lo != -2 || ax.y.hi != 3 {
		t.Fatalf("axes x [%v, %v] y [%v, %v], want x [-2, 4] y [-2, 3]", ax.x.lo, ax.x.hi, ax.y.lo, ax.y.hi)
	}
	if got, want := ax.toPx(0.01, 0.01), image.Pt(RooflineArea.Min.X, RooflineArea.Max.Y-1); got != want {
		t.Errorf("bottom-left corner at %v, want %v", got, want)
	}
	if got, want := ax.toPx(1e4, 1e3), image.Pt(RooflineArea.Max.X-1, RooflineArea.Min.Y); got != want {
		t.Errorf("top-right corner at %v, want %v", got, want)
	}
	// On log axes a factor of 10 is the same distance everywhere.
	a, b, c := ax.toPx(0.1, 1), ax.toPx(1, 10), ax.toPx(10, 100)
	if abs(b.X-a.X-(c.X-b.X)) > 1 || abs(a.Y-b.Y-(b.Y-c.Y)) > 1 {
		t.Errorf("decades not evenly spaced: %v %v %v", a, b, c)
	}
}

func TestPlotRoofline(t *testing.T) {
	points := []RooflinePoint{
		{"conv fwd blocks.*.conv_mid", 60, 12}, {"relu", 0.125, 0.3}, {"adam", 0.43, 1.1},
		{"no flops", 0, 0}, {"inf", math.Inf(1), 1},
	}
	r := h100Roofline(points...)
	path := filepath.Join(t.TempDir(), "roofline.png")
	if err := PlotRoofline(path, r); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	if got := img.Bounds(); got != image.Rect(0, 0, RooflineWidth, RooflineHeight) {
		t.Fatalf("bounds %v", got)
	}
	ax := newRooflineAxes(r)
	isColour := func(p image.Point, want color.RGBA) bool {
		r, g, b, _ := img.At(p.X, p.Y).RGBA()
		return uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B
	}
	for i, p := range points[:3] {
		if c := ax.toPx(p.Intensity, p.TFLOPs); !isColour(c, seriesColours[i]) {
			t.Errorf("point %q: no marker at %v", p.Label, c)
		}
	}
	// The roofs: on the bandwidth line at intensity 1 (3.35 TFLOP/s), on the FP32 roof right
	// of its ridge (x = 100 > 20), on the TF32 roof at x = 1000 (> 147.8).
	for _, q := range []struct {
		name string
		x, y float64
	}{{"bandwidth", 1, 3.35}, {"fp32", 100, 67}, {"tf32", 1000, 495}} {
		c := ax.toPx(q.x, q.y)
		found := false
		for dy := -1; dy <= 1 && !found; dy++ {
			for dx := -1; dx <= 1 && !found; dx++ {
				found = isColour(c.Add(image.Pt(dx, dy)), roofColour)
			}
		}
		if !found {
			t.Errorf("%s roof missing at %v", q.name, c)
		}
	}
	// Below the FP32 roof far right of the ridge, and above every roof: background.
	for _, q := range [][2]float64{{500, 7}, {0.3, 300}} { // off the decade grid lines
		if c := ax.toPx(q[0], q[1]); !isColour(c, plotBackground) {
			t.Errorf("pixel at %v (x %v, y %v) is not background", c, q[0], q[1])
		}
	}
}

func TestPlotRooflineErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		r    Roofline
		want string
	}{
		{"no bandwidth", Roofline{Compute: []RooflineCeiling{{"fp32", 67}}}, "bandwidth"},
		{"NaN bandwidth", Roofline{BandwidthTBs: math.NaN(), Compute: []RooflineCeiling{{"fp32", 67}}}, "bandwidth"},
		{"no ceiling", Roofline{BandwidthTBs: 3}, "compute ceiling"},
		{"zero ceiling", Roofline{BandwidthTBs: 3, Compute: []RooflineCeiling{{"tf32", 0}}}, `"tf32"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "r.png")
			err := PlotRoofline(path, tt.r)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and the path", err, tt.want)
			}
		})
	}
	if err := PlotRoofline(filepath.Join(dir, "missing", "r.png"), h100Roofline()); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestPlaceLabelAvoidsOverlap(t *testing.T) {
	c := image.Pt(500, 300)
	first := placeLabel("conv fwd", c, nil, RooflineArea)
	second := placeLabel("conv dX", c, []image.Rectangle{first}, RooflineArea)
	if first.Overlaps(second) {
		t.Errorf("labels overlap: %v %v", first, second)
	}
	edge := placeLabel("at the right edge", image.Pt(RooflineArea.Max.X-3, 300), nil, RooflineArea)
	if !edge.In(RooflineArea) {
		t.Errorf("label %v leaves the plot area", edge)
	}
}
