package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// TestRunFilesRefuseSpecialFiles: a run directory whose metrics.jsonl or config.json is a
// FIFO or a device node is refused naming the file, without hanging (an open of a FIFO used
// to wait forever for a writer, or a reader).
func TestRunFilesRefuseSpecialFiles(t *testing.T) {
	for _, kind := range []struct {
		name string
		make func(testing.TB, string)
	}{{"FIFO", fileiotest.FIFO}, {"character device", fileiotest.CharDevice}} {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			metrics, config := filepath.Join(dir, "metrics.jsonl"), filepath.Join(dir, "config.json")
			kind.make(t, metrics)
			kind.make(t, config)
			for _, c := range []struct {
				what, path string
				f          func() error
			}{
				{"readMetrics", metrics, func() error { _, err := readMetrics(metrics, 10); return err }},
				{"openLog", metrics, func() error {
					l, err := openLog(metrics, nil, 1)
					if err == nil {
						l.f.Close()
					}
					return err
				}},
				{"readRunConfig", config, func() error { _, err := readRunConfig(dir); return err }},
			} {
				err := fileiotest.Within(t, 10*time.Second, c.what, c.f)
				if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("%s: %v, want an error naming %s as not a regular file", c.what, err, c.path)
				}
			}
		})
	}
}
