package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	"pixelcnn/pixelcnn/fileio"
	"pixelcnn/pixelcnn/imageio"
)

// metric is one line of metrics.jsonl. WallSec counts the whole run, resumes included (a
// resumed run starts from the wall time of the checkpoint's last metrics line).
type metric struct {
	Step     int      `json:"step"`
	Epoch    float64  `json:"epoch"`
	TrainBPD float64  `json:"train_bpd"`
	LR       float64  `json:"lr"`
	TestBPD  *float64 `json:"test_bpd,omitempty"`
	// TestImages is how many test images TestBPD was measured on: --eval-limit for the
	// periodic evaluations, --final-eval-limit for the final one. Files written before
	// it existed lack it (0).
	TestImages int     `json:"test_images,omitempty"`
	ImagesSec  float64 `json:"images_per_sec"`
	WallSec    float64 `json:"wall_s"`
	Precision  string  `json:"precision,omitempty"` // the conv precision (nn.Precision)
	Note       string  `json:"note,omitempty"`      // e.g. settings changed on resume
}

// metricsHistory is what readMetrics keeps of a metrics file.
type metricsHistory struct {
	lines   [][]byte // complete lines up to the step, newline included
	last    *metric  // the last of them
	dropped int      // lines after the step, or not JSON (half a line from a crash)
}

// maxMetricsBytes bounds the metrics.jsonl read on resume: a line is about 300 bytes, so
// this is over three million logged steps.
const maxMetricsBytes = 1 << 30

// readMetrics reads the lines of a metrics file up to step; a missing file has none.
func readMetrics(path string, step int) (metricsHistory, error) {
	var h metricsHistory
	js, err := fileio.ReadFile(path, maxMetricsBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	for _, line := range bytes.Split(js, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m metric
		if json.Unmarshal(line, &m) != nil || m.Step > step {
			h.dropped++
			continue
		}
		h.lines = append(h.lines, append(slices.Clip(line), '\n'))
		h.last = &m
	}
	return h, nil
}

// appendFile is what metricsLog writes to: an *os.File opened for appending.
type appendFile interface {
	io.WriteCloser
	Truncate(size int64) error
}

// metricsLog appends JSON lines to metrics.jsonl and keeps them for the plot.
type metricsLog struct {
	path        string
	f           appendFile
	size        int64    // bytes of complete lines in f
	testSetSize int      // images in the run's test set: evaluations on all of them are labelled so
	lines       []metric // what curve.png is drawn from
}

// openLog opens path for appending; history are its lines so far (for the plot), and
// testSetSize the number of images in the run's test set.
func openLog(path string, history [][]byte, testSetSize int) (*metricsLog, error) {
	f, err := fileio.OpenAppend(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	l := newLog(path, f, st.Size())
	l.testSetSize = testSetSize
	for _, line := range history {
		var m metric
		if json.Unmarshal(line, &m) == nil {
			l.lines = append(l.lines, m)
		}
	}
	return l, nil
}

func newLog(path string, f appendFile, size int64) *metricsLog {
	return &metricsLog{path: path, f: f, size: size}
}

// curveSeries is what curve.png draws: the smoothed training loss at every line, and one
// series of test values per number of test images, fewest first, so the periodic evaluations
// on --eval-limit images and the final one on the full test set are not joined into one line.
// Lines without a test_images field (older files) form a series called just "test".
func curveSeries(lines []metric, testSetSize int) []imageio.Series {
	train := imageio.Series{Name: "train (smoothed)"}
	tests := map[int]*imageio.Series{}
	for _, m := range lines {
		train.X = append(train.X, float64(m.Step))
		train.Y = append(train.Y, m.TrainBPD)
		if m.TestBPD == nil {
			continue
		}
		s := tests[m.TestImages]
		if s == nil {
			s = &imageio.Series{Name: testSeriesName(m.TestImages, testSetSize)}
			tests[m.TestImages] = s
		}
		s.X = append(s.X, float64(m.Step))
		s.Y = append(s.Y, *m.TestBPD)
	}
	series := []imageio.Series{train}
	for _, n := range slices.Sorted(maps.Keys(tests)) {
		series = append(series, *tests[n])
	}
	return series
}

// testSeriesName labels the test values measured on n images (0: not recorded).
func testSeriesName(n, testSetSize int) string {
	switch {
	case n == 0:
		return "test"
	case n == testSetSize:
		return "test (full set, " + strconv.Itoa(n) + " images)"
	}
	return "test (" + strconv.Itoa(n) + " images)"
}

// write appends m as one line and, when it carries a test value, redraws curve.png. The line
// goes out in one write; if that fails (a full disk), whatever part of it reached the file is
// cut off again, so the file never ends in half a line.
func (l *metricsLog) write(m metric) error {
	js, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: step %d: %w", l.path, m.Step, err)
	}
	line := append(js, '\n')
	if _, err := l.f.Write(line); err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			return fmt.Errorf("%s: %w (and removing the partial line failed: %v)", l.path, err, terr)
		}
		return fmt.Errorf("%s: %w", l.path, err)
	}
	l.size += int64(len(line))
	l.lines = append(l.lines, m)
	if m.TestBPD == nil {
		return nil
	}
	return imageio.PlotCurves(filepath.Join(filepath.Dir(l.path), "curve.png"), "PixelCNN training", curveSeries(l.lines, l.testSetSize))
}

func (l *metricsLog) close() { l.f.Close() }
