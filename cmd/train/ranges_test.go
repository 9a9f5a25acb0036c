package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
)

// runWithin is runArgs bounded in time: a run that should stop at once but does not (a
// stop condition that never comes) is interrupted after d and reported.
func runWithin(t *testing.T, d time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out strings.Builder
	err := runWriting(t, ctx, &out, args...)
	if ctx.Err() != nil {
		t.Errorf("train %v: still running after %v", args, d)
	}
	return out.String(), err
}

// copyRun copies the files of run directory src into a new directory and returns it.
func copyRun(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "run")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// editConfig rewrites dir/config.json with edit applied to its JSON object.
func editConfig(t *testing.T, dir string, edit func(cfg map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	if js, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editCheckpoint rewrites the checkpoint at path (of a run on dataset fashion-mnist in
// dataDir) after edit changed its trainer: a consistent file whose training state is edit's.
func editCheckpoint(t *testing.T, path, dataDir string, edit func(*pixelcnn.Trainer)) {
	t.Helper()
	ck, err := pixelcnn.Load(path, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Load("fashion-mnist", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ck.Resume(ds.Train)
	if err != nil {
		t.Fatal(err)
	}
	edit(tr)
	if err := pixelcnn.Save(path, ck.Model, tr, ck.Dataset); err != nil {
		t.Fatal(err)
	}
}

// TestStopFlagRanges: a --minutes below one step trains exactly one step; durations and
// counts too large to convert are refused with the largest accepted value, before the run
// dir exists.
func TestStopFlagRanges(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if _, err := runWithin(t, time.Minute, with(t, "--minutes", "1e-12", "--run-dir", dir)...); err != nil {
		t.Fatalf("--minutes 1e-12: %v", err)
	}
	if st := trainState(t, dir); st.Step != 1 {
		t.Errorf("--minutes 1e-12 trained %d steps, want 1", st.Step)
	}
	// 64 training images in batches of 16: 4 steps an epoch.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--minutes", "1e300"}, "--minutes 1e+300: the largest accepted is 153722867"},
		{[]string{"--minutes", "153722868"}, "the largest accepted is 153722867"},
		{[]string{"--minutes", "1e400"}, "--minutes 1e400: out of range (the largest accepted is 153722867)"},
		{[]string{"--steps", "1", "--minutes", "1e300"}, "the largest accepted is 153722867"},
		{[]string{"--epochs", "1e300"}, "the largest --epochs is 2251799813685248"},
		{[]string{"--epochs", "2251799813685249"}, "the largest --epochs is 2251799813685248"},
		{[]string{"--steps", "9007199254740993"}, "--steps 9007199254740993: the largest accepted is 9007199254740992"},
		{[]string{"--steps", "1", "--eval-every", "99999999999999999999"}, "--eval-every 99999999999999999999: out of range (the largest accepted is 9223372036854775807)"},
		{[]string{"--steps", "99999999999999999999"}, "--steps 99999999999999999999: out of range"},
	} {
		dir := filepath.Join(t.TempDir(), "run")
		_, err := runWithin(t, time.Minute, with(t, append(tc.args, "--run-dir", dir)...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("train %v: created the run dir before refusing", tc.args)
		}
	}
	// The largest values are accepted: the run starts (and is interrupted at once).
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--epochs", "2251799813685248"}, "stops at step 9007199254740992"},
		{[]string{"--steps", "9007199254740992"}, "stops at step 9007199254740992"},
		{[]string{"--minutes", "153722867"}, "stops after 2562047h47m0s"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var out strings.Builder
		err := runWriting(t, ctx, &cancelOn{w: &out, text: "stops ", cancel: cancel},
			with(t, append(tc.args, "--run-dir", filepath.Join(t.TempDir(), "run"))...)...)
		cancel()
		if err != errInterrupted || !strings.Contains(out.String(), tc.says) {
			t.Errorf("train %v: %v, want a run that %s:\n%s", tc.args, err, tc.says, out.String())
		}
	}
}

// TestResumeSettingRanges: config.json's run settings pass the flags' checks on --resume, and
// a refusal names config.json and the key (a flag given on the command line replaces the
// saved value, so it is not checked); nothing in the run dir changes.
func TestResumeSettingRanges(t *testing.T) {
	base := filepath.Join(t.TempDir(), "run")
	mustRun(t, with(t, "--steps", "2", "--run-dir", base)...)
	for _, tc := range []struct {
		key   string
		value any
		args  []string
		want  string // "": resumes
	}{
		{"steps", -5, nil, "run.steps -5"},
		{"steps", 1e17, nil, "run.steps 100000000000000000"},
		{"minutes", -1, nil, "run.minutes -1"},
		{"minutes", 1e300, nil, "run.minutes 1e+300"},
		{"eval_every", -5, []string{"--steps", "3"}, "run.eval_every -5"},
		{"checkpoint_every", -1, []string{"--steps", "3"}, "run.checkpoint_every -1"},
		{"log_every", -7, []string{"--steps", "3"}, "run.log_every -7"},
		{"samples", -3, []string{"--steps", "3"}, "run.samples -3"},
		{"sample_every", -1, []string{"--steps", "3"}, "run.sample_every -1"},
		{"eval_limit", -2, []string{"--steps", "3"}, "run.eval_limit -2"},
		{"final_eval_limit", -2, []string{"--steps", "3"}, "run.final_eval_limit -2"},
		{"eval_every", -5, []string{"--steps", "3", "--eval-every", "0"}, ""},
		{"steps", -5, []string{"--steps", "3"}, ""},
	} {
		dir := copyRun(t, base)
		editConfig(t, dir, func(cfg map[string]any) { cfg["run"].(map[string]any)[tc.key] = tc.value })
		before := snapshot(t, dir)
		args := append([]string{"--resume", dir}, tc.args...)
		out, err := runWithin(t, time.Minute, args...)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %v, train %v: %v\n%s", tc.key, tc.value, tc.args, err, out)
			}
			continue
		}
		cfgPath := filepath.Join(dir, "config.json")
		if err == nil || !strings.Contains(err.Error(), cfgPath) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config.json %s %v: error %v, want one naming %s and %q", tc.key, tc.value, err, cfgPath, tc.want)
		}
		checkUnchanged(t, fmt.Sprintf("config.json %s %v", tc.key, tc.value), before, snapshot(t, dir))
	}
}

// TestResumeTrainStateRanges: a checkpoint whose training state could not have been written
// by a trainer is refused on --resume naming the file, before anything is written.
func TestResumeTrainStateRanges(t *testing.T) {
	dataDir := smallData(t)
	base := filepath.Join(t.TempDir(), "run")
	mustRun(t, "--dataset", "fashion-mnist", "--data-dir", dataDir, "--preset", "tiny", "--device", "cpu",
		"--eval-every", "0", "--final-eval-limit", "8", "--samples", "0", "--steps", "2", "--run-dir", base)
	for _, tc := range []struct {
		name string
		edit func(*pixelcnn.Trainer)
		want string
	}{
		{"lr -1", func(tr *pixelcnn.Trainer) { tr.LR = -1 }, "lr -1"},
		{"step -5", func(tr *pixelcnn.Trainer) { tr.Step = -5 }, "step -5"},
		{"beta1 1.5", func(tr *pixelcnn.Trainer) { tr.Opt.Beta1 = 1.5 }, "beta1 1.5"},
		{"eps -1", func(tr *pixelcnn.Trainer) { tr.Opt.Eps = -1 }, "eps -1"},
		{"lr decay 0", func(tr *pixelcnn.Trainer) { tr.Opt.LRDecay = 0 }, "lr decay 0"},
	} {
		dir := copyRun(t, base)
		ck := filepath.Join(dir, pixelcnn.CheckpointFile)
		editCheckpoint(t, ck, dataDir, tc.edit)
		before := snapshot(t, dir)
		_, err := runWithin(t, time.Minute, "--resume", dir, "--steps", "4")
		if err == nil || !strings.Contains(err.Error(), ck) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkpoint with %s: error %v, want one naming %s and %q", tc.name, err, ck, tc.want)
		}
		checkUnchanged(t, tc.name, before, snapshot(t, dir))
	}
}
