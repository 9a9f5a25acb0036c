package imageio

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
)

// RooflinePoint is one measured op: its arithmetic intensity (FLOP per byte moved) and the
// rate it achieved (TFLOP/s).
type RooflinePoint struct {
	Label     string
	Intensity float64
	TFLOPs    float64
}

// RooflineCeiling is a compute roof: a peak rate in TFLOP/s.
type RooflineCeiling struct {
	Label  string
	TFLOPs float64
}

// Roofline is what PlotRoofline draws: the memory roof (BandwidthTBs, in TB/s, so that
// bandwidth x intensity is in TFLOP/s), the compute roofs and the points.
type Roofline struct {
	Title          string
	BandwidthLabel string
	BandwidthTBs   float64
	Compute        []RooflineCeiling
	Points         []RooflinePoint
}

// Roofline plot geometry.
const (
	RooflineWidth  = 1100
	RooflineHeight = 720
)

// RooflineArea is the rectangle inside the axes of a PlotRoofline image.
var RooflineArea = image.Rect(90, 40, RooflineWidth-30, RooflineHeight-70)

var (
	roofColour     = color.RGBA{60, 60, 60, 255}
	roofTextColour = color.RGBA{60, 60, 60, 255}
)

// PlotRoofline draws r as a log-log roofline chart (x: FLOP/byte, y: TFLOP/s) and writes it
// atomically as a PNG: the bandwidth roof up to the highest compute roof, each compute roof
// from its ridge point to the right edge, every roof labelled, and one labelled marker per
// point. Points with a non-positive or non-finite coordinate cannot sit on log axes: they
// are left out and counted under the plot. The bandwidth and every compute roof must be
// positive and finite.
func PlotRoofline(path string, r Roofline) error {
	if !(r.BandwidthTBs > 0) || math.IsInf(r.BandwidthTBs, 0) {
		return fmt.Errorf("imageio: %s: roofline bandwidth %v TB/s must be positive", path, r.BandwidthTBs)
	}
	if len(r.Compute) == 0 {
		return fmt.Errorf("imageio: %s: roofline needs at least one compute ceiling", path)
	}
	for _, c := range r.Compute {
		if !(c.TFLOPs > 0) || math.IsInf(c.TFLOPs, 0) {
			return fmt.Errorf("imageio: %s: compute ceiling %q: %v TFLOP/s must be positive", path, c.Label, c.TFLOPs)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, RooflineWidth, RooflineHeight))
	draw.Draw(img, img.Bounds(), image.NewUniform(plotBackground), image.Point{}, draw.Src)
	ax := newRooflineAxes(r)
	ax.drawGrid(img)
	top := 0.0
	for _, c := range r.Compute {
		top = max(top, c.TFLOPs)
	}
	area := RooflineArea
	// The bandwidth roof: y = bandwidth * x, from where it enters the plot (the left edge or
	// the bottom) to the highest ridge.
	x0 := max(math.Pow(10, ax.x.lo), math.Pow(10, ax.y.lo)/r.BandwidthTBs)
	drawLineIn(img, ax.toPx(x0, r.BandwidthTBs*x0), ax.toPx(top/r.BandwidthTBs, top), roofColour, area)
	var labels []image.Rectangle
	for i, c := range r.Compute {
		ridge := ax.toPx(c.TFLOPs/r.BandwidthTBs, c.TFLOPs)
		drawLineIn(img, ridge, image.Pt(area.Max.X-1, ridge.Y), roofColour, area)
		s := fmt.Sprintf("%s: %.4g TFLOP/s", c.Label, c.TFLOPs)
		// Above the roof at the right; the second roof's label alternates below if roofs crowd.
		rect := image.Rect(area.Max.X-8-textWidth(s), ridge.Y-textHeight-3, area.Max.X-8, ridge.Y-3)
		if i > 0 && overlapsAny(rect, labels) {
			rect = rect.Add(image.Pt(0, textHeight+6))
		}
		drawText(img, s, rect.Min.X, rect.Min.Y, roofTextColour)
		labels = append(labels, rect)
	}
	bw := fmt.Sprintf("%s: %.4g TB/s", r.BandwidthLabel, r.BandwidthTBs)
	// Above and left of the bandwidth roof, halfway from where it enters the plot to the
	// lowest ridge: the side no op can reach.
	lowest := math.Inf(1)
	for _, c := range r.Compute {
		lowest = min(lowest, c.TFLOPs)
	}
	lx := math.Pow(10, (math.Log10(x0)+math.Log10(lowest/r.BandwidthTBs))/2)
	at := ax.toPx(lx, r.BandwidthTBs*lx)
	bwRect := image.Rect(at.X-6-textWidth(bw), at.Y-textHeight-6, at.X-6, at.Y-6)
	drawText(img, bw, bwRect.Min.X, bwRect.Min.Y, roofTextColour)
	labels = append(labels, bwRect)

	skipped := 0
	for i, p := range r.Points {
		if !(p.Intensity > 0 && p.TFLOPs > 0) || math.IsInf(p.Intensity, 0) || math.IsInf(p.TFLOPs, 0) {
			skipped++
			continue
		}
		col := seriesColours[i%len(seriesColours)]
		c := ax.toPx(p.Intensity, p.TFLOPs)
		fillRect(img, image.Rect(c.X-3, c.Y-3, c.X+4, c.Y+4).Intersect(area), col)
		rect := placeLabel(p.Label, c, labels, area)
		drawText(img, p.Label, rect.Min.X, rect.Min.Y, darken(col))
		labels = append(labels, rect)
	}
	if skipped > 0 {
		drawText(img, fmt.Sprintf("%d op(s) not plotted: no FLOP, no bytes or no time", skipped), area.Min.X, RooflineHeight-textHeight-4, textColour)
	}
	drawTextCentred(img, r.Title, RooflineWidth/2, (area.Min.Y-textHeight)/2, textColour)
	drawTextCentred(img, "arithmetic intensity (FLOP/byte)", (area.Min.X+area.Max.X)/2, area.Max.Y+26, textColour)
	drawTextVertical(img, "TFLOP/s", 8, (area.Min.Y+area.Max.Y)/2, textColour)
	return WritePNG(path, img)
}

// rooflineAxes maps data to pixels: x and y hold the log10 range of each axis, whole decades.
type rooflineAxes struct{ x, y axisRange }

// newRooflineAxes spans every roof's ridge (with a decade either side) and every plottable
// point, rounded out to whole decades.
func newRooflineAxes(r Roofline) rooflineAxes {
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, c := range r.Compute {
		ridge := c.TFLOPs / r.BandwidthTBs
		xlo, xhi = min(xlo, ridge/10), max(xhi, ridge*10)
		ylo, yhi = min(ylo, c.TFLOPs/1000), max(yhi, c.TFLOPs*2)
	}
	for _, p := range r.Points {
		if p.Intensity > 0 && p.TFLOPs > 0 && !math.IsInf(p.Intensity, 0) && !math.IsInf(p.TFLOPs, 0) {
			xlo, xhi = min(xlo, p.Intensity/2), max(xhi, p.Intensity*2)
			ylo, yhi = min(ylo, p.TFLOPs/2), max(yhi, p.TFLOPs*2)
		}
	}
	return rooflineAxes{
		x: axisRange{lo: math.Floor(math.Log10(xlo)), hi: math.Ceil(math.Log10(xhi))},
		y: axisRange{lo: math.Floor(math.Log10(ylo)), hi: math.Ceil(math.Log10(yhi))},
	}
}

// toPx maps a data point (both coordinates positive) into RooflineArea's pixels.
func (a rooflineAxes) toPx(x, y float64) image.Point {
	area := RooflineArea
	px := float64(area.Min.X) + (math.Log10(x)-a.x.lo)/(a.x.hi-a.x.lo)*float64(area.Dx()-1)
	py := float64(area.Max.Y-1) - (math.Log10(y)-a.y.lo)/(a.y.hi-a.y.lo)*float64(area.Dy()-1)
	return image.Pt(int(math.Round(px)), int(math.Round(py)))
}

// drawGrid draws a grid line and a label at every decade, and the axes.
func (a rooflineAxes) drawGrid(img *image.RGBA) {
	area := RooflineArea
	for e := a.x.lo; e <= a.x.hi; e++ {
		p := a.toPx(math.Pow(10, e), math.Pow(10, a.y.lo))
		fillRect(img, image.Rect(p.X, area.Min.Y, p.X+1, area.Max.Y), gridColour)
		fillRect(img, image.Rect(p.X, area.Max.Y, p.X+1, area.Max.Y+5), axisColour)
		drawTextCentred(img, decadeLabel(e), p.X, area.Max.Y+7, textColour)
	}
	for e := a.y.lo; e <= a.y.hi; e++ {
		p := a.toPx(math.Pow(10, a.x.lo), math.Pow(10, e))
		fillRect(img, image.Rect(area.Min.X, p.Y, area.Max.X, p.Y+1), gridColour)
		fillRect(img, image.Rect(area.Min.X-5, p.Y, area.Min.X, p.Y+1), axisColour)
		s := decadeLabel(e)
		drawText(img, s, area.Min.X-8-textWidth(s), p.Y-textHeight/2, textColour)
	}
	fillRect(img, image.Rect(area.Min.X-1, area.Min.Y, area.Min.X, area.Max.Y+1), axisColour)
	fillRect(img, image.Rect(area.Min.X-1, area.Max.Y, area.Max.X, area.Max.Y+1), axisColour)
}

// decadeLabel writes 10^e plainly for moderate e (0.001 ... 10000) and as 1e<e> beyond.
func decadeLabel(e float64) string {
	if e >= -3 && e <= 4 {
		return fmt.Sprintf("%g", math.Pow(10, e))
	}
	return fmt.Sprintf("1e%d", int(e))
}

// placeLabel puts a label beside the marker at c: to the right, left, above or below, the
// first that stays inside area and overlaps no earlier label; to the right when none does.
func placeLabel(s string, c image.Point, taken []image.Rectangle, area image.Rectangle) image.Rectangle {
	w := textWidth(s)
	cands := []image.Point{
		{c.X + 7, c.Y - textHeight/2}, {c.X - 7 - w, c.Y - textHeight/2},
		{c.X - w/2, c.Y - 6 - textHeight}, {c.X - w/2, c.Y + 6},
		{c.X + 7, c.Y - 4 - textHeight}, {c.X + 7, c.Y + 4},
		{c.X - 7 - w, c.Y - 4 - textHeight}, {c.X - 7 - w, c.Y + 4},
	}
	for _, p := range cands {
		r := image.Rect(p.X, p.Y, p.X+w, p.Y+textHeight)
		if r.In(area) && !overlapsAny(r, taken) {
			return r
		}
	}
	return image.Rect(cands[0].X, cands[0].Y, cands[0].X+w, cands[0].Y+textHeight)
}

func overlapsAny(r image.Rectangle, rs []image.Rectangle) bool {
	for _, o := range rs {
		if r.Overlaps(o) {
			return true
		}
	}
	return false
}

// darken makes a label a little darker than its marker, for legibility on white.
func darken(c color.RGBA) color.RGBA {
	return color.RGBA{uint8(int(c.R) * 3 / 4), uint8(int(c.G) * 3 / 4), uint8(int(c.B) * 3 / 4), 255}
}

// drawLineIn draws a 2-px-wide Bresenham line from a to b, clipped to clip.
func drawLineIn(img *image.RGBA, a, b image.Point, col color.RGBA, clip image.Rectangle) {
	dx, dy := abs(b.X-a.X), -abs(b.Y-a.Y)
	sx, sy := sign(b.X-a.X), sign(b.Y-a.Y)
	e := dx + dy
	for p := a; ; {
		fillRect(img, image.Rect(p.X, p.Y, p.X+2, p.Y+2).Intersect(clip), col)
		if p == b {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			p.X += sx
		}
		if e2 <= dx {
			e += dx
			p.Y += sy
		}
	}
}
