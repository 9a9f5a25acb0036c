package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data/datatest"
)

// smallData is a dataset of 64 train and 32 test random 28x28 images.
func smallData(t *testing.T) string { return datatest.NoiseIDX(t, 64, 32) }

// with returns args and the flags of a fast run: the tiny preset on smallData, no periodic
// evaluation or sampling.
func with(t *testing.T, args ...string) []string {
	return append(args, "--dataset", "fashion-mnist", "--data-dir", smallData(t), "--preset", "tiny", "--device", "cpu",
		"--eval-every", "0", "--final-eval-limit", "8", "--samples", "0")
}

// runArgs runs train in-process with args and returns what it printed.
func runArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runWriting(t, context.Background(), &out, args...)
	return out.String(), err
}

func runWriting(t *testing.T, ctx context.Context, out io.Writer, args ...string) error {
	t.Helper()
	f, fs, err := parseFlags(args)
	if err != nil {
		return err
	}
	return run(ctx, f, fs, out)
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runArgs(t, args...)
	if err != nil {
		t.Fatalf("train %v: %v\n%s", args, err, out)
	}
	return out
}

func readMetricsFile(t *testing.T, dir string) []metric {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var ms []metric
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var m metric
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics.jsonl: %q: %v", sc.Text(), err)
		}
		ms = append(ms, m)
	}
	return ms
}

func lastMetric(t *testing.T, dir string) metric {
	t.Helper()
	ms := readMetricsFile(t, dir)
	if len(ms) == 0 {
		t.Fatalf("%s: no metrics", dir)
	}
	return ms[len(ms)-1]
}

func trainState(t *testing.T, dir string) *pixelcnn.TrainState {
	t.Helper()
	b, err := nn.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	ck, err := pixelcnn.Load(filepath.Join(dir, "checkpoint.safetensors"), b)
	if err != nil {
		t.Fatal(err)
	}
	return ck.Train
}

// TestTrainResumeEndToEnd trains the tiny preset on real MNIST (the Go module), checks the
// run directory, then resumes it for more steps.
func TestTrainResumeEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	common := []string{"--preset", "tiny", "--device", "cpu", "--eval-every", "4", "--eval-limit", "8",
		"--final-eval-limit", "16", "--samples", "2", "--sample-every", "0", "--checkpoint-every", "3", "--log-every", "2"}
	mustRun(t, append([]string{"--steps", "4", "--run-dir", dir}, common...)...)
	for _, name := range []string{"config.json", "metrics.jsonl", "checkpoint.safetensors", "curve.png", "samples-0000004.png"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("run dir: %v", err)
		}
	}
	if m := lastMetric(t, dir); m.Step != 4 || m.TestBPD == nil || !(*m.TestBPD > 0) {
		t.Errorf("last metric %+v, want step 4 with a test bits/dim", m)
	}
	out := mustRun(t, "--steps", "7", "--resume", dir)
	for _, want := range []string{"resuming from step 4", "train step: device scalars, plain launches"} {
		if !strings.Contains(out, want) {
			t.Errorf("resume output lacks %q:\n%s", want, out)
		}
	}
	if m := lastMetric(t, dir); m.Step != 7 {
		t.Errorf("after resume: last metric at step %d, want 7", m.Step)
	}
	if _, err := os.Stat(filepath.Join(dir, "samples-0000007.png")); err != nil {
		t.Errorf("the resumed run did not keep --samples 2: %v", err)
	}
}

func TestTrainBadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	mustRun(t, with(t, "--steps", "1", "--run-dir", dir)...)
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
		{[]string{"--resume", dir, "--ema", "0.99", "--steps", "2", "--device", "cpu"}, "--ema cannot change"},
		{[]string{"--resume", filepath.Join(dir, "nope.safetensors"), "--steps", "2", "--device", "cpu"}, "nope.safetensors"},
		{[]string{"--resume", dir, "--dataset", "mnist", "--steps", "2", "--device", "cpu"}, "trained on fashion-mnist"},
		{[]string{"--preset", "tiny", "--device", "cpu"}, "--steps, --epochs or --minutes"},
		{[]string{"--preset", "tiny", "--optimizer", "sgd", "--steps", "1", "--device", "cpu"}, `optimizer "sgd"`},
		{[]string{"--preset", "tiny", "--hidden", "4", "--steps", "1", "--dataset", "cifar10", "--data-dir", t.TempDir()}, "data_batch_1"},
		{[]string{"--steps", "1", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		_, err := runArgs(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestTrainNumericFlags: every impossible number is refused before the run dir exists.
func TestTrainNumericFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--steps", "-5"}, "--steps -5"},
		{[]string{"--steps", "3", "--epochs", "1"}, "give one"},
		{[]string{"--steps", "1", "--hidden", "0"}, "--hidden 0"},
		{[]string{"--steps", "1", "--hidden", "-3"}, "--hidden -3"},
		{[]string{"--steps", "1", "--out-dim", "-1"}, "--out-dim -1"},
		{[]string{"--steps", "1", "--blocks", "-2"}, "--blocks -2"},
		{[]string{"--minutes", "-1"}, "--minutes -1"},
		{[]string{"--minutes", "NaN"}, "--minutes NaN"},
		{[]string{"--minutes", "Inf"}, "--minutes +Inf"},
		{[]string{"--epochs", "-1"}, "--epochs -1"},
		{[]string{"--steps", "1", "--batch", "0"}, "--batch 0"},
		{[]string{"--steps", "1", "--lr", "0"}, "--lr 0"},
		{[]string{"--steps", "1", "--lr", "NaN"}, "--lr NaN"},
		{[]string{"--steps", "1", "--lr-decay", "1.5"}, "--lr-decay 1.5"},
		{[]string{"--steps", "1", "--lr-decay", "0"}, "--lr-decay 0"},
		{[]string{"--steps", "1", "--ema", "1"}, "--ema 1: must be 0 (off) or in (0, 1)"},
		{[]string{"--steps", "1", "--ema", "-0.5"}, "--ema -0.5"},
		{[]string{"--steps", "1", "--ema", "NaN"}, "--ema NaN"},
		{[]string{"--steps", "1", "--collective-timeout", "-5s"}, "--collective-timeout -5s: must be >= 0"},
		{[]string{"--steps", "1", "--clip", "-1"}, "--clip -1"},
		{[]string{"--steps", "1", "--clip", "Inf"}, "--clip +Inf"},
		{[]string{"--steps", "1", "--eval-every", "-1"}, "--eval-every -1"},
		{[]string{"--steps", "1", "--eval-limit", "-1"}, "--eval-limit -1"},
		{[]string{"--steps", "1", "--final-eval-limit", "-1"}, "--final-eval-limit -1"},
		{[]string{"--steps", "1", "--sample-every", "-1"}, "--sample-every -1"},
		{[]string{"--steps", "1", "--samples", "-1"}, "--samples -1"},
		{[]string{"--steps", "1", "--checkpoint-every", "-1"}, "--checkpoint-every -1"},
		{[]string{"--steps", "1", "--log-every", "-1"}, "--log-every -1"},
		{[]string{"--steps", "1", "--resume", "x", "--overwrite"}, "give one"},
		{[]string{"--steps", "1", "--precision", "fp16"}, `"fp16": unknown (choose one of [tf32 fp32 bf16])`},
		{[]string{"--steps", "1", "--precision", ""}, "choose one of [tf32 fp32 bf16]"},
	}
	for _, tc := range tests {
		dir := filepath.Join(t.TempDir(), "run")
		_, err := runArgs(t, append(tc.args, "--device", "cpu", "--preset", "tiny", "--run-dir", dir)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("train %v: created the run dir before refusing", tc.args)
		}
	}
}

// TestTrainPrecision: the precision (the device's default, or --precision) is printed and
// recorded in config.json, every metrics line and the checkpoint; a resume keeps the
// checkpoint's unless --precision changes it, and then says so.
func TestTrainPrecision(t *testing.T) {
	check := func(dir string, out string, want nn.Precision, lines int) {
		t.Helper()
		if !strings.Contains(out, "precision "+string(want)) {
			t.Errorf("output does not say precision %s:\n%s", want, out)
		}
		cfg, err := readRunConfig(dir)
		if err != nil || cfg.Precision != string(want) {
			t.Errorf("config.json: precision %q, %v; want %s", cfg.Precision, err, want)
		}
		ms := readMetricsFile(t, dir)
		for _, m := range ms[len(ms)-lines:] {
			if m.Precision != string(want) {
				t.Errorf("metrics line at step %d: precision %q, want %s", m.Step, m.Precision, want)
			}
		}
		b, _ := nn.Open("cpu")
		ck, err := pixelcnn.Load(filepath.Join(dir, "checkpoint.safetensors"), b)
		if err != nil || ck.Precision != want {
			t.Errorf("checkpoint: precision %q, %v; want %s", ck.Precision, err, want)
		}
	}
	def := filepath.Join(t.TempDir(), "run")
	check(def, mustRun(t, with(t, "--steps", "1", "--run-dir", def)...), nn.FP32, 1)

	dir := filepath.Join(t.TempDir(), "run")
	out := mustRun(t, with(t, "--steps", "2", "--log-every", "1", "--run-dir", dir, "--precision", "tf32")...)
	check(dir, out, nn.TF32, 2)
	out = mustRun(t, "--resume", dir, "--steps", "3")
	check(dir, out, nn.TF32, 3)
	if strings.Contains(out, "checkpoint's was") {
		t.Errorf("a resume that keeps the precision says it changed:\n%s", out)
	}
	out = mustRun(t, "--resume", dir, "--steps", "4", "--precision", "fp32")
	check(dir, out, nn.FP32, 1)
	if want := "precision fp32 (the checkpoint's was tf32)"; !strings.Contains(out, want) {
		t.Errorf("resume at fp32 does not say %q:\n%s", want, out)
	}
	noted := false
	for _, m := range readMetricsFile(t, dir) {
		noted = noted || m.Step == 4 && strings.Contains(m.Note, "precision fp32")
	}
	if !noted {
		t.Errorf("no metrics line at step 4 notes the change:\n%+v", readMetricsFile(t, dir))
	}
}
