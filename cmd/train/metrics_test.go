package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pixelcnn/pixelcnn/imageio"
)

func testLine(step int, bpd float64, images int) metric {
	return metric{Step: step, TrainBPD: bpd + 1, TestBPD: &bpd, TestImages: images}
}

func seriesNames(series []imageio.Series) []string {
	var names []string
	for _, s := range series {
		names = append(names, s.Name)
	}
	return names
}

// TestCurveSeries: evaluations on different numbers of test images are separate, labelled
// series; lines from before the test_images field form one series called "test".
func TestCurveSeries(t *testing.T) {
	train := metric{Step: 1, TrainBPD: 9}
	tests := []struct {
		name      string
		lines     []metric
		wantNames []string
		wantSteps [][]float64 // X of each series after train
	}{
		{"periodic subset and final full set",
			[]metric{train, testLine(2, 5, 8), testLine(4, 4, 8), testLine(4, 3.9, 32)},
			[]string{"train (smoothed)", "test (8 images)", "test (full set, 32 images)"},
			[][]float64{{2, 4}, {4}}},
		{"every evaluation on the full set",
			[]metric{testLine(2, 5, 32), train, testLine(4, 3.9, 32)},
			[]string{"train (smoothed)", "test (full set, 32 images)"},
			[][]float64{{2, 4}}},
		{"old file without test_images",
			[]metric{train, testLine(2, 5, 0), testLine(4, 3.9, 0)},
			[]string{"train (smoothed)", "test"},
			[][]float64{{2, 4}}},
		{"old lines, then resumed with the field",
			[]metric{testLine(2, 5, 0), testLine(4, 4, 8), testLine(4, 3.9, 32)},
			[]string{"train (smoothed)", "test", "test (8 images)", "test (full set, 32 images)"},
			[][]float64{{2}, {4}, {4}}},
		{"no evaluations", []metric{train}, []string{"train (smoothed)"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			series := curveSeries(tc.lines, 32)
			if got := seriesNames(series); !slices.Equal(got, tc.wantNames) {
				t.Fatalf("series %q, want %q", got, tc.wantNames)
			}
			if len(series[0].X) != len(tc.lines) {
				t.Errorf("train series has %d points, want one per line (%d)", len(series[0].X), len(tc.lines))
			}
			for i, want := range tc.wantSteps {
				s := series[i+1]
				if !slices.Equal(s.X, want) || len(s.Y) != len(s.X) {
					t.Errorf("%s: steps %v (%d values), want %v", s.Name, s.X, len(s.Y), want)
				}
			}
		})
	}
}

// TestMetricsRecordTestImages: each evaluation line says how many test images it used, the
// curve is drawn with the subset and the full set apart, and a resume keeps both.
func TestMetricsRecordTestImages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	args := []string{"--dataset", "fashion-mnist", "--data-dir", smallData(t), "--preset", "tiny", "--device", "cpu",
		"--eval-every", "2", "--eval-limit", "8", "--final-eval-limit", "0", "--samples", "0", "--run-dir", dir}
	mustRun(t, append(args, "--steps", "4")...)
	js, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(js), `"test_images":`); got != 3 {
		t.Errorf("metrics.jsonl has %d test_images fields, want 3 (steps 2, 4 and the final evaluation):\n%s", got, js)
	}
	check := func(when string, want []int) {
		t.Helper()
		var got []int
		for _, m := range readMetricsFile(t, dir) {
			if m.TestBPD != nil {
				got = append(got, m.TestImages)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: test_images %v, want %v", when, got, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "curve.png")); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	check("first run", []int{8, 8, 32})
	mustRun(t, "--steps", "6", "--resume", dir)
	check("after resume", []int{8, 8, 32, 8, 32})
	names := seriesNames(curveSeries(readMetricsFile(t, dir), 32))
	if want := []string{"train (smoothed)", "test (8 images)", "test (full set, 32 images)"}; !slices.Equal(names, want) {
		t.Errorf("curve series %q, want %q", names, want)
	}
}

// TestOldMetricsStillPlot: a metrics.jsonl written before the test_images field is read back
// on resume and plotted, its evaluations as a series called "test".
func TestOldMetricsStillPlot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.jsonl")
	old := `{"step":2,"epoch":0.1,"train_bpd":6,"lr":0.001,"test_bpd":5.5,"images_per_sec":100,"wall_s":1}
{"step":4,"epoch":0.2,"train_bpd":5,"lr":0.001,"images_per_sec":100,"wall_s":2}
{"step":6,"epoch":0.3,"train_bpd":4.5,"lr":0.001,"test_bpd":4.4,"images_per_sec":100,"wall_s":3}
`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := readMetrics(path, 6)
	if err != nil || len(h.lines) != 3 || h.dropped != 0 {
		t.Fatalf("readMetrics: %d lines, %d dropped, %v", len(h.lines), h.dropped, err)
	}
	l, err := openLog(path, h.lines, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if err := l.write(testLine(8, 4.2, 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "curve.png")); err != nil {
		t.Fatal(err)
	}
	series := curveSeries(l.lines, l.testSetSize)
	if names, want := seriesNames(series), []string{"train (smoothed)", "test", "test (8 images)"}; !slices.Equal(names, want) {
		t.Fatalf("series %q, want %q", names, want)
	}
	if s := series[1]; !slices.Equal(s.X, []float64{2, 6}) || !slices.Equal(s.Y, []float64{5.5, 4.4}) {
		t.Errorf("old test series %v %v, want steps [2 6] values [5.5 4.4]", s.X, s.Y)
	}
}
