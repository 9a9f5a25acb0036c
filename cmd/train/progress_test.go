package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressOffTerminal: off a terminal, a run prints whole lines, a progress line at most
// every interval, and says when the final evaluation runs.
func TestProgressOffTerminal(t *testing.T) {
	defer func(d time.Duration) { offTerminalInterval = d }(offTerminalInterval)
	offTerminalInterval = time.Hour
	out := mustRun(t, with(t, "--steps", "30", "--run-dir", filepath.Join(t.TempDir(), "run"))...)
	if strings.Contains(out, "\r") {
		t.Errorf("carriage returns off a terminal:\n%q", out)
	}
	if n := strings.Count(out, "\nstep "); n != 1 {
		t.Errorf("%d progress lines for 30 steps, want 1 (the first; then one every %v):\n%s", n, offTerminalInterval, out)
	}
	if !strings.Contains(out, "Final evaluation on 8 test images") {
		t.Errorf("the final evaluation is not announced:\n%s", out)
	}

	// Every update shows when the interval has passed: the evaluation reports its progress.
	offTerminalInterval = 0
	out = mustRun(t, with(t, "--steps", "2", "--run-dir", filepath.Join(t.TempDir(), "run"))...)
	for _, want := range []string{"step 2  epoch", "final evaluation: 8/8 test images"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestProgressThrottle(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, interval: time.Hour}
	for i := range 100 {
		p.update("step %d", i)
	}
	p.line("done")
	if got := buf.String(); got != "step 0\ndone\n" {
		t.Errorf("off a terminal: %q, want the first update and the line", got)
	}
	buf.Reset()
	p = &progress{w: &buf, terminal: true}
	p.update("step %d", 1)
	p.update("step %d", 2)
	p.line("done")
	if got := buf.String(); got != "\rstep 1   \rstep 2   \ndone\n" {
		t.Errorf("on a terminal: %q", got)
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
