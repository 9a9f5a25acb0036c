package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"

	"pixelcnn/pixelcnn/imageio"
)

// metricsLog appends JSON lines to metrics.jsonl and keeps the curves for the plot; on resume
// it reads back the lines already there.
type metricsLog struct {
	f           *os.File
	train, test imageio.Series
}

func openLog(path string) (*metricsLog, error) {
	l := &metricsLog{train: imageio.Series{Name: "train (smoothed)"}, test: imageio.Series{Name: "test"}}
	if old, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(old)
		for sc.Scan() {
			var m metric
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				l.add(m)
			}
		}
		old.Close()
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

func (l *metricsLog) add(m metric) {
	l.train.X = append(l.train.X, float64(m.Step))
	l.train.Y = append(l.train.Y, m.TrainBPD)
	if m.TestBPD != nil {
		l.test.X = append(l.test.X, float64(m.Step))
		l.test.Y = append(l.test.Y, *m.TestBPD)
	}
}

// write appends m and, when it carries a test value, redraws curve.png.
func (l *metricsLog) write(m metric, dir string) error {
	l.add(m)
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(append(js, '\n')); err != nil {
		return err
	}
	if m.TestBPD == nil {
		return nil
	}
	return imageio.PlotCurves(filepath.Join(dir, "curve.png"), "PixelCNN training", []imageio.Series{l.train, l.test})
}

func (l *metricsLog) close() { l.f.Close() }
