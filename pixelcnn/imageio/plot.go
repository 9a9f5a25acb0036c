package imageio

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
)

// Series is one training curve: Y[i] (bits/dim) at X[i] (step). Non-finite points are
// skipped and break the line, so a diverged stretch shows as a gap.
type Series struct {
	Name string
	X, Y []float64
}

// Plot geometry: a fixed canvas with margins for the title, tick labels and axis labels.
const (
	PlotWidth  = 900
	PlotHeight = 500
	plotLeft   = 80
	plotRight  = 20
	plotTop    = 40
	plotBottom = 55
)

// PlotArea is the rectangle inside the axes of a PlotCurves image.
var PlotArea = image.Rect(plotLeft, plotTop, PlotWidth-plotRight, PlotHeight-plotBottom)

// seriesColours is matplotlib's tab10 cycle: distinct, and familiar from the seed's plots.
var seriesColours = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

var (
	plotBackground = color.RGBA{255, 255, 255, 255}
	axisColour     = color.RGBA{0, 0, 0, 255}
	gridColour     = color.RGBA{225, 225, 225, 255}
	textColour     = color.RGBA{0, 0, 0, 255}
)

// markerLimit: series with at most this many finite points get a marker on every point
// (sparse test evaluations stay visible); denser ones are drawn as lines only.
const markerLimit = 40

// PlotCurves draws the series as a PlotWidth x PlotHeight line chart (x axis "step",
// y axis "bits/dim", one colour per series, a legend) and writes it atomically as a PNG.
// Axis ranges come from the finite data with a little padding; empty series, single points
// and NaN/Inf values are all drawn sensibly rather than rejected. X and Y of a series must
// have the same length.
func PlotCurves(path string, title string, series []Series) error {
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("imageio: %s: series %d (%q) has %d x values and %d y values",
				path, i, s.Name, len(s.X), len(s.Y))
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, PlotWidth, PlotHeight))
	draw.Draw(img, img.Bounds(), image.NewUniform(plotBackground), image.Point{}, draw.Src)

	xr, yr := dataRange(series)
	yr, clipped := usefulYRange(series, xr, yr)
	xr = xr.padded(0.02)
	yr = yr.padded(0.05)
	area := PlotArea
	toPx := func(x, y float64) image.Point {
		px := float64(area.Min.X) + (x-xr.lo)/(xr.hi-xr.lo)*float64(area.Dx()-1)
		py := float64(area.Max.Y-1) - (y-yr.lo)/(yr.hi-yr.lo)*float64(area.Dy()-1)
		return image.Pt(int(math.Round(px)), int(math.Round(py)))
	}

	// Grid lines and tick labels.
	xt, xstep := ticks(xr, 7)
	for _, v := range xt {
		p := toPx(v, yr.lo)
		fillRect(img, image.Rect(p.X, area.Min.Y, p.X+1, area.Max.Y), gridColour)
		fillRect(img, image.Rect(p.X, area.Max.Y, p.X+1, area.Max.Y+5), axisColour)
		drawTextCentred(img, tickLabel(v, xstep), p.X, area.Max.Y+7, textColour)
	}
	yt, ystep := ticks(yr, 6)
	for _, v := range yt {
		p := toPx(xr.lo, v)
		fillRect(img, image.Rect(area.Min.X, p.Y, area.Max.X, p.Y+1), gridColour)
		fillRect(img, image.Rect(area.Min.X-5, p.Y, area.Min.X, p.Y+1), axisColour)
		s := tickLabel(v, ystep)
		drawText(img, s, area.Min.X-8-textWidth(s), p.Y-textHeight/2, textColour)
	}
	// Axes: the left and bottom edges of the plot area.
	fillRect(img, image.Rect(area.Min.X-1, area.Min.Y, area.Min.X, area.Max.Y+1), axisColour)
	fillRect(img, image.Rect(area.Min.X-1, area.Max.Y, area.Max.X, area.Max.Y+1), axisColour)

	for i, s := range series {
		drawSeries(img, s, seriesColours[i%len(seriesColours)], toPx)
	}
	if len(series) == 0 || xr.empty {
		drawTextCentred(img, "no data", (area.Min.X+area.Max.X)/2, (area.Min.Y+area.Max.Y)/2, textColour)
	}
	drawLegend(img, series)
	if clipped {
		drawText(img, "first steps off the top", area.Min.X+8, area.Min.Y+6, textColour)
	}

	drawTextCentred(img, title, PlotWidth/2, (plotTop-textHeight)/2, textColour)
	drawTextCentred(img, "step", (area.Min.X+area.Max.X)/2, area.Max.Y+7+textHeight+8, textColour)
	drawTextVertical(img, "bits/dim", 8, (area.Min.Y+area.Max.Y)/2, textColour)
	return WritePNG(path, img)
}

// axisRange is a closed interval of data values; empty when no finite value was seen.
type axisRange struct {
	lo, hi float64
	empty  bool
}

// dataRange is the range of the finite points over all series; a point counts only when
// both its coordinates are finite.
func dataRange(series []Series) (x, y axisRange) {
	x = axisRange{lo: math.Inf(1), hi: math.Inf(-1), empty: true}
	y = x
	for _, s := range series {
		for i := range s.X {
			if !finite(s.X[i]) || !finite(s.Y[i]) {
				continue
			}
			x = axisRange{lo: min(x.lo, s.X[i]), hi: max(x.hi, s.X[i])}
			y = axisRange{lo: min(y.lo, s.Y[i]), hi: max(y.hi, s.Y[i])}
		}
	}
	return x, y
}

// earlyFraction is the share of the steps whose points may lie above the y axis.
const earlyFraction = 0.1

// usefulYRange zooms the y axis on the useful range: from the lowest point to the highest one
// past the first earlyFraction of the steps. The first steps' loss is several times the
// final one and would squash the rest of the curve into a flat line at the bottom. It zooms
// only when those early points would take more than half of the axis; clipped reports that
// it did (some early points lie above the range).
func usefulYRange(series []Series, x, y axisRange) (axisRange, bool) {
	if x.empty || x.hi == x.lo {
		return y, false
	}
	cut := x.lo + earlyFraction*(x.hi-x.lo)
	hi := math.Inf(-1)
	for _, s := range series {
		for i := range s.X {
			if finite(s.X[i]) && finite(s.Y[i]) && s.X[i] >= cut {
				hi = max(hi, s.Y[i])
			}
		}
	}
	// Zoom only when the early points would take more than half of the axis.
	if math.IsInf(hi, -1) || y.hi-hi <= hi-y.lo {
		return y, false
	}
	return axisRange{lo: y.lo, hi: hi}, true
}

// padded widens r by frac of its span on each side. A single value gets a window of
// +-10% of its magnitude (or +-1 at zero); no data at all gives [0, 1].
func (r axisRange) padded(frac float64) axisRange {
	switch {
	case r.empty:
		return axisRange{lo: 0, hi: 1, empty: true}
	case r.hi == r.lo:
		d := 0.1 * math.Abs(r.lo)
		if d == 0 {
			d = 1
		}
		return axisRange{lo: r.lo - d, hi: r.hi + d}
	}
	d := frac * (r.hi - r.lo)
	return axisRange{lo: r.lo - d, hi: r.hi + d}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// ticks returns round tick values (1, 2 or 5 times a power of ten apart) inside r, about
// target of them, and the step between them.
func ticks(r axisRange, target int) ([]float64, float64) {
	raw := (r.hi - r.lo) / float64(target)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	var out []float64
	// Integer multiples of step, so labels never pick up accumulated rounding error.
	// The length cap only matters for ranges near the float64 limits.
	for k := math.Ceil(r.lo / step); k*step <= r.hi && len(out) < 4*target; k++ {
		out = append(out, k*step)
	}
	return out, step
}

// tickLabel formats v with as many decimals as the tick step needs.
func tickLabel(v, step float64) string {
	if v == 0 {
		v = 0 // a tick at -0 (from ceil of a small negative) would print as "-0"
	}
	if math.Abs(v) >= 1e7 {
		return fmt.Sprintf("%.3g", v)
	}
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	return fmt.Sprintf("%.*f", dec, v)
}

// drawSeries joins consecutive finite points with 2-px lines and marks points that have
// no finite neighbour (or every point, for sparse series).
func drawSeries(img *image.RGBA, s Series, col color.RGBA, toPx func(x, y float64) image.Point) {
	ok := func(i int) bool { return i >= 0 && i < len(s.X) && finite(s.X[i]) && finite(s.Y[i]) }
	n := finitePoints(s)
	for i := range s.X {
		if !ok(i) {
			continue
		}
		p := toPx(s.X[i], s.Y[i])
		if ok(i - 1) {
			drawLine(img, toPx(s.X[i-1], s.Y[i-1]), p, col)
		}
		if n <= markerLimit || (!ok(i-1) && !ok(i+1)) {
			drawMarker(img, p, markerRadius(n), col, PlotArea)
		}
	}
}

func finitePoints(s Series) int {
	n := 0
	for i := range s.X {
		if finite(s.X[i]) && finite(s.Y[i]) {
			n++
		}
	}
	return n
}

// markerRadius: a series of one point (such as the final evaluation on the full test set)
// is nothing but its marker, so that marker is drawn larger to be found at a glance.
func markerRadius(points int) int {
	if points == 1 {
		return 4
	}
	return 2
}

// drawMarker fills the square of the given radius around p, clipped to clip.
func drawMarker(img *image.RGBA, p image.Point, radius int, col color.RGBA, clip image.Rectangle) {
	fillRect(img, image.Rect(p.X-radius, p.Y-radius, p.X+radius+1, p.Y+radius+1).Intersect(clip), col)
}

// legendSample says how the legend shows a series: as a line unless it has a single point,
// with a marker when its points carry markers.
func legendSample(s Series) (line, marker bool) {
	n := finitePoints(s)
	return n != 1, n >= 1 && n <= markerLimit
}

// drawLine draws a 2-px-wide Bresenham line from a to b, clipped to the plot area.
func drawLine(img *image.RGBA, a, b image.Point, col color.RGBA) {
	drawLineIn(img, a, b, col, PlotArea)
}

// drawLegend lists the series in a framed box in the top-right corner of the plot area.
func drawLegend(img *image.RGBA, series []Series) {
	if len(series) == 0 {
		return
	}
	const pad, sample, gap, line = 6, 22, 6, textHeight + 4
	w := 0
	for i, s := range series {
		w = max(w, textWidth(legendName(s, i)))
	}
	w += 2*pad + sample + gap
	h := len(series)*line + 2*pad - 4
	box := image.Rect(PlotArea.Max.X-10-w, PlotArea.Min.Y+10, PlotArea.Max.X-10, PlotArea.Min.Y+10+h)
	fillRect(img, box.Inset(-1), color.RGBA{160, 160, 160, 255})
	fillRect(img, box, plotBackground)
	for i, s := range series {
		y := box.Min.Y + pad + i*line
		col := seriesColours[i%len(seriesColours)]
		line, marker := legendSample(s)
		if line {
			fillRect(img, image.Rect(box.Min.X+pad, y+textHeight/2-1, box.Min.X+pad+sample, y+textHeight/2+1), col)
		}
		if marker {
			drawMarker(img, image.Pt(box.Min.X+pad+sample/2, y+textHeight/2), markerRadius(finitePoints(s)), col, box)
		}
		drawText(img, legendName(s, i), box.Min.X+pad+sample+gap, y, textColour)
	}
}

func legendName(s Series, i int) string {
	if s.Name == "" {
		return fmt.Sprintf("series %d", i+1)
	}
	return s.Name
}

func fillRect(img draw.Image, r image.Rectangle, col color.Color) {
	draw.Draw(img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
