package imageio

import (
	"math"
	"testing"
)

// TestLegendSample: the legend shows a one-point series (the final evaluation on the full
// test set) as a marker alone, sparse series as a line with a marker, dense ones as a line.
func TestLegendSample(t *testing.T) {
	points := func(n int) Series {
		var s Series
		for i := range n {
			s.X, s.Y = append(s.X, float64(i)), append(s.Y, 1)
		}
		return s
	}
	nan := math.NaN()
	tests := []struct {
		name         string
		s            Series
		line, marker bool
		radius       int
	}{
		{"empty", Series{}, true, false, 2},
		{"one point", points(1), false, true, 4},
		{"one finite point among NaNs", Series{X: []float64{1, 2, 3}, Y: []float64{nan, 4, nan}}, false, true, 4},
		{"sparse", points(2), true, true, 2},
		{"at the marker limit", points(markerLimit), true, true, 2},
		{"dense", points(markerLimit + 1), true, false, 2},
	}
	for _, tc := range tests {
		line, marker := legendSample(tc.s)
		radius := markerRadius(finitePoints(tc.s))
		if line != tc.line || marker != tc.marker || radius != tc.radius {
			t.Errorf("%s: line %v marker %v radius %d, want %v %v %d", tc.name, line, marker, radius, tc.line, tc.marker, tc.radius)
		}
	}
}
