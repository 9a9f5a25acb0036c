package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data/datatest"
)

// gatedArgs are the flags of a fast gated run on labelled noise.
func gatedArgs(t *testing.T, dataDir string, args ...string) []string {
	return append(args, "--dataset", "fashion-mnist", "--data-dir", dataDir, "--arch", "gated", "--hidden", "4",
		"--blocks", "2", "--device", "cpu", "--eval-every", "0", "--final-eval-limit", "8", "--samples", "2")
}

// TestTrainArchBadInput: every bad --arch, --dilations and --conditional is refused naming
// the flag and what it accepts, before the run dir exists.
func TestTrainArchBadInput(t *testing.T) {
	labelled := datatest.NoiseIDXLabels(t, 32, 16)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--arch", "resnet"}, `architecture "resnet": unknown (have [gated pixelcnn])`},
		{[]string{"--arch", "gated", "--preset", "mnist"}, "preset mnist is arch pixelcnn"},
		{[]string{"--arch", "gated", "--dilations", ""}, "--dilations is empty"},
		{[]string{"--arch", "gated", "--dilations", "1,0"}, `"0" is not a positive integer`},
		{[]string{"--arch", "gated", "--dilations", "1,-2"}, `"-2" is not a positive integer`},
		{[]string{"--arch", "gated", "--dilations", "1,x"}, `"x" is not a positive integer`},
		{[]string{"--arch", "gated", "--dilations", "1,2,4,8,1,2,4,8"}, "8 values for 7 gated layers"},
		{[]string{"--dilations", "1,2"}, "only the gated architecture has dilations"},
		{[]string{"--arch", "gated", "--out-dim", "8"}, "out_dim 8"},
		{[]string{"--arch", "gated", "--blocks", "0"}, "at least one gated layer"},
		{[]string{"--conditional", "--preset", "tiny", "--data-dir", smallData(t)}, "--conditional: dataset fashion-mnist has no labels"},
		{[]string{"--arch", "gated", "--conditional", "--data-dir", smallData(t)}, "--conditional: dataset fashion-mnist has no labels"},
	} {
		dir := filepath.Join(t.TempDir(), "run")
		args := append(tc.args, "--steps", "1", "--device", "cpu", "--run-dir", dir, "--dataset", "fashion-mnist")
		if !strings.Contains(strings.Join(tc.args, " "), "--data-dir") {
			args = append(args, "--data-dir", labelled)
		}
		_, err := runArgs(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if _, serr := os.Stat(dir); serr == nil {
			t.Errorf("train %v: the run dir was created", tc.args)
		}
	}
}

// TestTrainGatedResumeExact: a conditional gated run with an average of its weights (--ema)
// stopped at step 3 and resumed to step 6 ends with the checkpoint of a straight 6-step run,
// bit for bit; the checkpoint is format v2 and records the architecture, dilations, classes
// and the average's decay.
func TestTrainGatedResumeExact(t *testing.T) {
	labelled := datatest.NoiseIDXLabels(t, 48, 16)
	straight := filepath.Join(t.TempDir(), "straight")
	mustRun(t, gatedArgs(t, labelled, "--conditional", "--dilations", "1,2", "--ema", "0.9", "--steps", "6", "--run-dir", straight)...)
	parts := filepath.Join(t.TempDir(), "parts")
	mustRun(t, gatedArgs(t, labelled, "--conditional", "--dilations", "1,2", "--ema", "0.9", "--steps", "3", "--run-dir", parts)...)
	mustRun(t, "--resume", parts, "--steps", "6", "--device", "cpu")
	if diff := checkpointDiff(t, filepath.Join(straight, pixelcnn.CheckpointFile), filepath.Join(parts, pixelcnn.CheckpointFile)); diff != "" {
		t.Fatalf("resumed checkpoint differs from the straight run's: %s", diff)
	}
	ck, err := pixelcnn.Load(filepath.Join(parts, pixelcnn.CheckpointFile), cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	{
		c := ck.Config
		if c.ArchName() != pixelcnn.ArchGated || c.Classes != 10 || len(c.Dilations) != 2 || c.Dilations[1] != 2 {
			t.Errorf("checkpoint config %+v, want arch gated, 10 classes, dilations [1 2]", c)
		}
		if ck.Train.Options.EMA != 0.9 {
			t.Errorf("checkpoint's ema %v, want 0.9", ck.Train.Options.EMA)
		}
	}
	if _, err := os.Stat(filepath.Join(parts, "samples-0000006.png")); err != nil {
		t.Errorf("no sample grid of the conditional model: %v", err)
	}
}
