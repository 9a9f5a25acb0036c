package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"pixelcnn/pixelcnn/imageio"
)

// metric is one line of metrics.jsonl. WallSec counts the whole run, resumes included (a
// resumed run starts from the wall time of the checkpoint's last metrics line).
type metric struct {
	Step      int      `json:"step"`
	Epoch     float64  `json:"epoch"`
	TrainBPD  float64  `json:"train_bpd"`
	LR        float64  `json:"lr"`
	TestBPD   *float64 `json:"test_bpd,omitempty"`
	ImagesSec float64  `json:"images_per_sec"`
	WallSec   float64  `json:"wall_s"`
	Precision string   `json:"precision,omitempty"` // the conv precision (nn.Precision)
	Note      string   `json:"note,omitempty"`      // e.g. settings changed on resume
}

// metricsHistory is what readMetrics keeps of a metrics file.
type metricsHistory struct {
	lines   [][]byte // complete lines up to the step, newline included
	last    *metric  // the last of them
	dropped int      // lines after the step, or not JSON (half a line from a crash)
}

// readMetrics reads the lines of a metrics file up to step; a missing file has none.
func readMetrics(path string, step int) (metricsHistory, error) {
	var h metricsHistory
	js, err := os.ReadFile(path)
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

// metricsLog appends JSON lines to metrics.jsonl and keeps the curves for the plot.
type metricsLog struct {
	path        string
	f           appendFile
	size        int64 // bytes of complete lines in f
	train, test imageio.Series
}

// openLog opens path for appending; history are its lines so far (for the plot).
func openLog(path string, history [][]byte) (*metricsLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	l := newLog(path, f, st.Size())
	for _, line := range history {
		var m metric
		if json.Unmarshal(line, &m) == nil {
			l.add(m)
		}
	}
	return l, nil
}

func newLog(path string, f appendFile, size int64) *metricsLog {
	return &metricsLog{path: path, f: f, size: size,
		train: imageio.Series{Name: "train (smoothed)"}, test: imageio.Series{Name: "test"}}
}

func (l *metricsLog) add(m metric) {
	l.train.X = append(l.train.X, float64(m.Step))
	l.train.Y = append(l.train.Y, m.TrainBPD)
	if m.TestBPD != nil {
		l.test.X = append(l.test.X, float64(m.Step))
		l.test.Y = append(l.test.Y, *m.TestBPD)
	}
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
	l.add(m)
	if m.TestBPD == nil {
		return nil
	}
	return imageio.PlotCurves(filepath.Join(filepath.Dir(l.path), "curve.png"), "PixelCNN training", []imageio.Series{l.train, l.test})
}

func (l *metricsLog) close() { l.f.Close() }
