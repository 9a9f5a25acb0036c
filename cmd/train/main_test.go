package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runArgs(t *testing.T, args ...string) error {
	t.Helper()
	f, fs, err := parseFlags(args)
	if err != nil {
		t.Fatalf("flags %v: %v", args, err)
	}
	return run(f, fs)
}

func lastMetric(t *testing.T, dir string) metric {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var m metric
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics.jsonl: %v", err)
		}
	}
	return m
}

// TestTrainResumeEndToEnd trains the tiny preset on real MNIST (the Go module), checks the
// run directory, then resumes it for more steps.
func TestTrainResumeEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	common := []string{"--preset", "tiny", "--device", "cpu", "--eval-every", "4", "--eval-limit", "8",
		"--final-eval-limit", "16", "--samples", "2", "--sample-every", "0", "--checkpoint-every", "3", "--log-every", "2"}
	if err := runArgs(t, append([]string{"--steps", "4", "--run-dir", dir}, common...)...); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config.json", "metrics.jsonl", "checkpoint.safetensors", "curve.png", "samples-0000004.png"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("run dir: %v", err)
		}
	}
	if m := lastMetric(t, dir); m.Step != 4 || m.TestBPD == nil || !(*m.TestBPD > 0) {
		t.Errorf("last metric %+v, want step 4 with a test bits/dim", m)
	}
	if err := runArgs(t, append([]string{"--steps", "7", "--resume", dir}, common[2:]...)...); err != nil {
		t.Fatal(err)
	}
	if m := lastMetric(t, dir); m.Step != 7 {
		t.Errorf("after resume: last metric at step %d, want 7", m.Step)
	}
}

func TestTrainBadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := runArgs(t, "--preset", "tiny", "--steps", "1", "--device", "cpu", "--run-dir", dir,
		"--eval-every", "0", "--final-eval-limit", "4", "--samples", "0"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--device", "cuda", "--steps", "1"}, "no CUDA backend"},
		{[]string{"--device", "tpu", "--steps", "1"}, `device "tpu"`},
		{[]string{"--dataset", "cifar10", "--steps", "1", "--device", "cpu"}, "cifar10"},
		{[]string{"--dataset", "cifar10", "--data-dir", t.TempDir(), "--steps", "1", "--device", "cpu"}, "data_batch_1"},
		{[]string{"--preset", "huge", "--steps", "1", "--device", "cpu"}, `preset "huge"`},
		{[]string{"--resume", dir, "--preset", "mnist", "--steps", "2", "--device", "cpu"}, `checkpoint is preset "tiny"`},
		{[]string{"--resume", dir, "--batch", "8", "--steps", "2", "--device", "cpu"}, "--batch cannot change"},
		{[]string{"--resume", filepath.Join(dir, "nope.safetensors"), "--steps", "2", "--device", "cpu"}, "nope.safetensors"},
		{[]string{"--preset", "tiny", "--device", "cpu", "--run-dir", t.TempDir()}, "--steps, --epochs or --minutes"},
		{[]string{"--preset", "tiny", "--optimizer", "sgd", "--steps", "1", "--device", "cpu", "--run-dir", t.TempDir()}, `optimizer "sgd"`},
	}
	for _, tc := range tests {
		err := runArgs(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
