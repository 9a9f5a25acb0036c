package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot reads every file under dir.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files[path], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func checkUnchanged(t *testing.T, what string, before, after map[string][]byte) {
	t.Helper()
	for name, b := range before {
		if !bytes.Equal(b, after[name]) {
			t.Errorf("%s: %s changed", what, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s: %s appeared", what, name)
		}
	}
}

// TestRunDirNeverOverwritten: a directory that holds a run is refused unless --overwrite,
// which replaces the run entirely.
func TestRunDirNeverOverwritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	mustRun(t, with(t, "--steps", "3", "--run-dir", dir, "--log-every", "1")...)
	before := snapshot(t, dir)
	_, err := runArgs(t, with(t, "--steps", "1", "--run-dir", dir)...)
	if err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Fatalf("second run into %s: error %v, want 'already holds a run'", dir, err)
	}
	checkUnchanged(t, "refused run", before, snapshot(t, dir))
	// Nor does a resume of another run write into it.
	other := filepath.Join(t.TempDir(), "other")
	mustRun(t, with(t, "--steps", "1", "--run-dir", other)...)
	_, err = runArgs(t, "--resume", other, "--steps", "5", "--run-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Fatalf("resume of %s into %s: error %v, want 'already holds a run'", other, dir, err)
	}
	checkUnchanged(t, "refused resume", before, snapshot(t, dir))

	out := mustRun(t, with(t, "--steps", "1", "--run-dir", dir, "--overwrite", "--log-every", "1")...)
	if !strings.Contains(out, "--overwrite: removed the previous run's") {
		t.Errorf("--overwrite did not say what it removed:\n%s", out)
	}
	if ms := readMetricsFile(t, dir); len(ms) != 2 || ms[0].Step != 1 || ms[1].Step != 1 {
		t.Errorf("after --overwrite metrics.jsonl has %+v, want the new run's step-1 line and its final line", ms)
	}
	if st := trainState(t, dir); st.Step != 1 {
		t.Errorf("after --overwrite the checkpoint is at step %d, want 1", st.Step)
	}
}

// TestDefaultRunDirNeverCollides: the timestamped name gets a suffix when it exists.
func TestDefaultRunDirNeverCollides(t *testing.T) {
	base := filepath.Join(t.TempDir(), "runs", "mnist-tiny-20261128-024211")
	var got []string
	for range 3 {
		r := &trainingRun{defaultDir: base}
		if err := r.makeDir(); err != nil {
			t.Fatal(err)
		}
		got = append(got, r.dir)
	}
	want := []string{base, base + "-2", base + "-3"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("claim %d: %s, want %s", i, got[i], want[i])
		}
	}
}

// TestResumeChangesOptimizer: --lr, --lr-decay and --clip on --resume are applied, printed
// and noted in metrics.jsonl.
func TestResumeChangesOptimizer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	mustRun(t, with(t, "--steps", "2", "--run-dir", dir)...)
	lr := trainState(t, dir).LR
	out := mustRun(t, "--resume", dir, "--steps", "4", "--lr", "0.5", "--lr-decay", "0.5", "--clip", "3")
	for _, want := range []string{fmt.Sprintf("lr changed from %g to 0.5 at step 2", lr), "lr-decay changed from 0.999995 to 0.5 at step 2",
		"clip changed from 0 to 3 at step 2", "not an exact continuation"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	st := trainState(t, dir)
	if st.LR != 0.5*0.5*0.5 || st.Options.LRDecay != 0.5 || st.Options.Clip != 3 {
		t.Errorf("checkpoint after resume: lr %v decay %v clip %v, want 0.125 0.5 3", st.LR, st.Options.LRDecay, st.Options.Clip)
	}
	noted := 0
	for _, m := range readMetricsFile(t, dir) {
		if strings.Contains(m.Note, "lr changed from") && strings.Contains(m.Note, "not an exact continuation") {
			noted++
		}
	}
	if noted != 1 {
		t.Errorf("metrics.jsonl has %d lines noting the change, want 1", noted)
	}
}

// TestResumeTakesRunSettings: a resumed run keeps its dataset, data dir, evaluation and
// sampling settings and stop target, and the hint printed on interrupt works verbatim.
func TestResumeTakesRunSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	var out strings.Builder
	// Interrupted once the run has started, before its first step.
	err := runWriting(t, ctx, &cancelOn{w: &out, text: "stops at", cancel: cancel}, "--dataset", "fashion-mnist", "--data-dir", smallData(t), "--preset", "tiny", "--device", "cpu",
		"--steps", "4", "--eval-every", "2", "--eval-limit", "8", "--final-eval-limit", "8", "--samples", "0", "--run-dir", dir)
	if err != errInterrupted {
		t.Fatalf("interrupted run: %v\n%s", err, out.String())
	}
	_, hint, ok := strings.Cut(out.String(), "resume with: ")
	if !ok {
		t.Fatalf("no resume hint:\n%s", out.String())
	}
	hint = strings.TrimSpace(hint)
	args, ok := strings.CutPrefix(hint, resumeCommand()+" ")
	if !ok {
		t.Fatalf("hint %q does not start with the command %q", hint, resumeCommand())
	}
	resumed := mustRun(t, strings.Fields(args)...)
	// The data dir shows in the split sizes: the default Fashion-MNIST has 60000 / 10000.
	for _, want := range []string{"resuming from step 0", "dataset fashion-mnist (64 train / 32 test", "stops at step 4"} {
		if !strings.Contains(resumed, want) {
			t.Errorf("resume by the hint: output lacks %q:\n%s", want, resumed)
		}
	}
	if st := trainState(t, dir); st.Step != 4 || st.Dataset != "fashion-mnist" {
		t.Errorf("after resume: step %d dataset %q, want 4 fashion-mnist", st.Step, st.Dataset)
	}
	var tested []int
	for _, m := range readMetricsFile(t, dir) {
		if m.TestBPD != nil {
			tested = append(tested, m.Step)
		}
	}
	if len(tested) != 3 || tested[0] != 2 || tested[1] != 4 || tested[2] != 4 {
		t.Errorf("test bits/dim at steps %v, want [2 4 4] (--eval-every 2 kept, then the final one)", tested)
	}
	if pngs, _ := filepath.Glob(filepath.Join(dir, "samples-*.png")); len(pngs) != 0 {
		t.Errorf("--samples 0 was not kept: %v", pngs)
	}
}

// TestResumePastTarget: a run already at or past the stop is refused and nothing is touched.
func TestResumePastTarget(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	mustRun(t, with(t, "--steps", "3", "--run-dir", dir, "--log-every", "1")...)
	stale := filepath.Join(dir, ".checkpoint.safetensors.tmp-123")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--resume", dir, "--steps", "2"}, "already at step 3"},
		{[]string{"--resume", dir}, "already at step 3"},                       // the run's own target
		{[]string{"--resume", dir, "--epochs", "0.0001"}, "already at step 3"}, // step 1
		{[]string{"--resume", dir, "--steps", "3", "--lr", "0.5"}, "already at step 3"},
		{[]string{"--resume", dir, "--minutes", "1e-6"}, "has already run for"},
	} {
		args := tc.args
		_, err := runArgs(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: error %v, want one containing %q", args, err, tc.want)
		}
		checkUnchanged(t, strings.Join(args, " "), before, snapshot(t, dir))
	}
}

// TestResumeCutsMetrics: after a kill between a metrics line and its checkpoint, the resumed
// run first cuts metrics.jsonl back to the checkpoint's step (and drops half lines), so no
// step is logged twice; stale temporary files are removed.
func TestResumeCutsMetrics(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	mustRun(t, with(t, "--steps", "3", "--run-dir", dir, "--log-every", "1")...)
	ck := filepath.Join(dir, "checkpoint.safetensors")
	step3, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "--resume", dir, "--steps", "6")
	// As if killed after logging step 6 with the checkpoint still at step 3, mid-way through
	// another metrics line and another checkpoint write.
	if err := os.WriteFile(ck, step3, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step":7,"epo`)
	f.Close()
	stale := filepath.Join(dir, ".checkpoint.safetensors.tmp-4242")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, "--resume", dir, "--steps", "5")
	if !strings.Contains(out, "cut back to the checkpoint's step 3") {
		t.Errorf("output does not say metrics.jsonl was cut back:\n%s", out)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("stale %s was not removed", stale)
	}
	var steps []int
	for _, m := range readMetricsFile(t, dir) {
		steps = append(steps, m.Step)
	}
	want := []int{1, 2, 3, 3, 4, 5, 5} // steps 1-3, the first run's final line, steps 4-5, the final line
	if len(steps) != len(want) {
		t.Fatalf("metrics steps %v, want %v", steps, want)
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Fatalf("metrics steps %v, want %v", steps, want)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

// cancelOn calls cancel once text has been written through it.
type cancelOn struct {
	w      io.Writer
	text   string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.text)) {
		c.cancel()
	}
	return c.w.Write(p)
}
