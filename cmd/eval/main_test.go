package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data/datatest"
	"pixelcnn/pixelcnn/imageio"
)

// smallData is a dataset of 64 train and 32 test random 28x28 images.
func smallData(t *testing.T) string { return datatest.NoiseIDX(t, 64, 32) }

// runDir saves a small 28x28 model as a run directory's checkpoint, recording dataset.
func runDir(t *testing.T, dataset string) string {
	t.Helper()
	dir := t.TempDir()
	m, err := pixelcnn.NewModel(cpu.New(), pixelcnn.Config{Colors: 1, Height: 28, Width: 28, Hidden: 4, Blocks: 1, OutDim: 8}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := pixelcnn.Save(filepath.Join(dir, pixelcnn.CheckpointFile), m, nil, dataset); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runEval(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	code = run(append(args, "--device", "cpu"), &out, &errs)
	return code, out.String(), errs.String()
}

func TestEvalCommand(t *testing.T) {
	data := smallData(t)
	fashion := runDir(t, "fashion-mnist")
	unknown := runDir(t, "")
	text := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(text, []byte("step,loss\n1,5.5\n2,5.4\n3,5.3\n4,5.2\n"), 0o644)
	png := filepath.Join(t.TempDir(), "digit.png")
	if err := imageio.WritePNG(png, image.NewGray(image.Rect(0, 0, 28, 28))); err != nil {
		t.Fatal(err)
	}

	// The dataset comes from the checkpoint; a run directory stands for its checkpoint.
	code, out, errs := runEval("--checkpoint", fashion, "--data-dir", data, "--json", "--limit", "5", "--batch", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		BPD       float64 `json:"bits_per_dim"`
		Dataset   string  `json:"dataset"`
		Images    int     `json:"images"`
		Precision string  `json:"precision"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if res.Dataset != "fashion-mnist" || res.Images != 5 || !(res.BPD > 0) || math.IsInf(res.BPD, 0) {
		t.Fatalf("result %+v, want fashion-mnist, 5 images, finite bits/dim", res)
	}
	if !strings.Contains(errs, "evaluating") {
		t.Errorf("stderr %q does not say the evaluation is running", errs)
	}
	if res.Precision != "fp32" {
		t.Errorf("precision %q on the cpu by default, want fp32", res.Precision)
	}
	// --precision tf32 on the cpu: the emulation, said in the output; the result stays close.
	code, out, errs = runEval("--checkpoint", fashion, "--data-dir", data, "--limit", "5", "--batch", "2", "--precision", "tf32")
	if code != 0 || !strings.Contains(out, "precision tf32") {
		t.Fatalf("--precision tf32: exit %d, output %q %s", code, out, errs)
	}
	// Without --data-dir, a run's recorded data dir (config.json, as cmd/train writes it) is used
	// for the run's own dataset; another dataset does not take it.
	cfg := fmt.Sprintf(`{"dataset": "fashion-mnist", "run": {"data_dir": %q}}`, data)
	if err := os.WriteFile(filepath.Join(fashion, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runEval("--checkpoint", fashion, "--limit", "5", "--batch", "2")
	if code != 0 || !strings.Contains(errs, "data dir "+data) {
		t.Fatalf("run's data dir: exit %d, output %q %s", code, out, errs)
	}
	if got, err := runDataDir(fashion, "mnist"); err != nil || got != "" {
		t.Errorf("runDataDir for another dataset = %q, %v; want none", got, err)
	}
	// --dataset overrides; text output.
	code, out, errs = runEval("--checkpoint", filepath.Join(fashion, pixelcnn.CheckpointFile), "--dataset", "mnist", "--data-dir", data, "--split", "train", "--limit", "3")
	if code != 0 || !strings.Contains(out, "on mnist train, 3 images") {
		t.Fatalf("exit %d, output %q %s", code, out, errs)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no checkpoint", nil, 2, "--checkpoint is required"},
		{"extra argument", []string{"--checkpoint", fashion, "extra"}, 2, `unexpected arguments ["extra"]`},
		{"bad split", []string{"--checkpoint", fashion, "--split", "valid"}, 2, `--split "valid"`},
		{"bad batch", []string{"--checkpoint", fashion, "--batch", "0"}, 2, "--batch 0"},
		{"negative limit", []string{"--checkpoint", fashion, "--limit", "-1"}, 2, "--limit -1"},
		{"bad precision", []string{"--checkpoint", fashion, "--precision", "fp16"}, 2, `"fp16": unknown (choose one of [tf32 fp32 bf16])`},
		{"text file", []string{"--checkpoint", text}, 1, "not a safetensors file"},
		{"png", []string{"--checkpoint", png}, 1, "not a safetensors file"},
		{"empty dir", []string{"--checkpoint", t.TempDir()}, 1, "without a checkpoint.safetensors"},
		{"no dataset recorded", []string{"--checkpoint", unknown, "--data-dir", data}, 1, "give --dataset"},
		{"trained weights without an average", []string{"--checkpoint", fashion, "--data-dir", data, "--trained-weights"}, 1, "--trained-weights: " + filepath.Join(fashion, pixelcnn.CheckpointFile) + ": checkpoint has no optim.weights.* tensors"},
		{"batch too large", []string{"--checkpoint", fashion, "--data-dir", data, "--batch", "2000000000"}, 1, "lower --batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runEval(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errs, tc.code, tc.want)
			}
			if strings.Contains(errs, "goroutine") {
				t.Fatalf("stack trace: %s", errs)
			}
		})
	}
}

// TestEvalOneSplit: only the evaluated split's files are read, so a directory with the test
// files alone evaluates --split test, and --split train names the missing file.
func TestEvalOneSplit(t *testing.T) {
	data := smallData(t)
	if err := os.Remove(filepath.Join(data, "train-images-idx3-ubyte")); err != nil {
		t.Fatal(err)
	}
	ck := runDir(t, "mnist")
	for _, tc := range []struct {
		split string
		code  int
		want  string // in stdout for exit 0, in stderr otherwise
	}{
		{"test", 0, "on mnist test, 3 images"},
		{"train", 1, "no train-images idx file"},
	} {
		code, out, errs := runEval("--checkpoint", ck, "--data-dir", data, "--split", tc.split, "--limit", "3")
		got := out
		if tc.code != 0 {
			got = errs
		}
		if code != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("--split %s: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.split, code, out, errs, tc.code, tc.want)
		}
	}
}

// TestHelp: -h and --help print the usage and the flags on stdout and exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"--checkpoint", "x", "--help"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, code, stderr.String())
		}
		for _, want := range []string{"usage: eval", "--checkpoint string", "--classify"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%q: stdout %q lacks %q", args, stdout.String(), want)
			}
		}
	}
}
