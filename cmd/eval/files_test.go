package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// TestRunConfigFIFO: a run directory whose config.json is a FIFO is refused naming it,
// without hanging.
func TestRunConfigFIFO(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.json")
	fileiotest.FIFO(t, config)
	err := fileiotest.Within(t, 10*time.Second, "runDataDir", func() error { _, err := runDataDir(dir, "mnist"); return err })
	if err == nil || !strings.Contains(err.Error(), config) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("runDataDir: %v, want an error naming %s as not a regular file", err, config)
	}
}
