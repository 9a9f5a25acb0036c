package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/cmd/internal/progress"
)

// TestProgressOffTerminal: off a terminal, a run prints whole lines, a progress line at most
// every interval, and says when the final evaluation runs.
func TestProgressOffTerminal(t *testing.T) {
	defer func(d time.Duration) { progress.Interval = d }(progress.Interval)
	progress.Interval = time.Hour
	out := mustRun(t, with(t, "--steps", "30", "--run-dir", filepath.Join(t.TempDir(), "run"))...)
	if strings.Contains(out, "\r") {
		t.Errorf("carriage returns off a terminal:\n%q", out)
	}
	if n := strings.Count(out, "\nstep "); n != 1 {
		t.Errorf("%d progress lines for 30 steps, want 1 (the first; then one every %v):\n%s", n, progress.Interval, out)
	}
	if !strings.Contains(out, "Final evaluation on 8 test images") {
		t.Errorf("the final evaluation is not announced:\n%s", out)
	}

	// Every update shows when the interval has passed: the evaluation reports its progress.
	progress.Interval = 0
	out = mustRun(t, with(t, "--steps", "2", "--run-dir", filepath.Join(t.TempDir(), "run"))...)
	for _, want := range []string{"step 2  epoch", "final evaluation: 8/8 test images"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDeviceAutoNotesMissingCUDA: --device auto on a machine with an NVIDIA driver, in a
// binary without the CUDA backend, says how to get the GPU.
func TestDeviceAutoNotesMissingCUDA(t *testing.T) {
	driver := filepath.Join(t.TempDir(), "version")
	if err := os.WriteFile(driver, []byte("NVRM version: test"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(files []string) { nvidiaDriverFiles = files }(nvidiaDriverFiles)
	const note = "an NVIDIA GPU is present but this binary has no CUDA backend: build with -tags cuda (make train does)"
	for _, tc := range []struct {
		device string
		files  []string
		want   bool
	}{
		{"auto", []string{driver}, true},
		{"auto", []string{filepath.Join(t.TempDir(), "absent")}, false},
		{"cpu", []string{driver}, false},
	} {
		nvidiaDriverFiles = tc.files
		var out bytes.Buffer
		if _, err := openDevice(tc.device, &out); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), note); got != tc.want {
			t.Errorf("device %s, driver files %v: note printed %v, want %v (%q)", tc.device, tc.files, got, tc.want, out.String())
		}
	}
}
