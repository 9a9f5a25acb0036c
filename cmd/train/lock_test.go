package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn"
)

// TestOneTrainerPerRunDir: while a trainer runs in a run directory, a second one into the same
// directory (resuming it, or starting over it with or without --overwrite) is refused naming
// the first one's PID, before it writes anything; the refusal's advice (kill -INT PID) stops
// the first, after which the run resumes. Resuming the live run into another directory works.
func TestOneTrainerPerRunDir(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command as a child process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := smallData(t)
	dir := filepath.Join(t.TempDir(), "run")
	p := startTrain(t, exe+" --dataset fashion-mnist --data-dir "+dataDir+" --preset tiny --device cpu --eval-every 0 --samples 0"+
		" --final-eval-limit 8 --checkpoint-every 1 --log-every 1 --steps 1000000 --run-dir "+dir)
	// Progress lines are throttled to about one a second: wait for the first, then for the
	// checkpoint of a finished step (written every step) to be there to resume from.
	p.waitFor(t, "step 1 ")
	waitForFile(t, filepath.Join(dir, pixelcnn.CheckpointFile), time.Minute)
	pid := strconv.Itoa(p.cmd.Process.Pid)
	var hint string
	for _, args := range [][]string{
		{"--resume", dir, "--steps", "2000000"},
		{"--resume", filepath.Join(dir, pixelcnn.CheckpointFile), "--steps", "2000000", "--run-dir", dir},
		with(t, "--steps", "1", "--run-dir", dir),
		with(t, "--steps", "1", "--run-dir", dir, "--overwrite"),
	} {
		out, err := runWithin(t, 30*time.Second, args...)
		if err == nil || !strings.Contains(err.Error(), "PID "+pid) {
			t.Errorf("second trainer %v: error %v, want one naming PID %s\n%s", args, err, pid, out)
			continue
		}
		_, hint, _ = strings.Cut(err.Error(), "stop it with ")
		hint, _, _ = strings.Cut(hint, " (")
	}
	// Branching the live run into a directory of its own is no conflict. (It checkpoints every
	// step, over a hundred a second: the branch's stop leaves room for the steps it makes
	// between the two reads of its checkpoint.)
	other := filepath.Join(t.TempDir(), "other")
	if out, err := runWithin(t, time.Minute, "--resume", dir, "--run-dir", other, "--steps", strconv.Itoa(trainState(t, dir).Step+200)); err != nil {
		t.Errorf("resume of the live run into %s: %v\n%s", other, err, out)
	}
	if hint != "kill -INT "+pid {
		t.Fatalf("refusal advises %q, want kill -INT %s", hint, pid)
	}
	if out, err := exec.Command("sh", "-c", hint).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", hint, err, out)
	}
	if code := p.wait(t); code != 130 {
		t.Errorf("first trainer after %s: exit %d, want 130\n%s", hint, code, p.out.String())
	}
	st := trainState(t, dir)
	mustRun(t, "--resume", dir, "--steps", strconv.Itoa(st.Step+1))
	var last int
	for _, m := range readMetricsFile(t, dir) {
		if m.Step < last {
			t.Errorf("metrics.jsonl goes back from step %d to %d: two trainers wrote it", last, m.Step)
		}
		last = m.Step
	}
}

// TestCheckpointBelongsToRun: a run directory's checkpoint must be the run's own; one copied
// in from another run (another run of the same model, or, in files from before runs were
// named, another model) is refused and nothing changes. The run's own earlier checkpoint,
// put back, resumes.
func TestCheckpointBelongsToRun(t *testing.T) {
	dataDir := smallData(t)
	args := func(dir string, more ...string) []string {
		return append([]string{"--dataset", "fashion-mnist", "--data-dir", dataDir, "--preset", "tiny", "--device", "cpu",
			"--eval-every", "0", "--final-eval-limit", "8", "--samples", "0", "--log-every", "1", "--run-dir", dir}, more...)
	}
	ckOf := func(dir string) string { return filepath.Join(dir, pixelcnn.CheckpointFile) }
	run := filepath.Join(t.TempDir(), "run")
	mustRun(t, args(run, "--steps", "2")...)
	own, err := os.ReadFile(ckOf(run))
	if err != nil {
		t.Fatal(err)
	}
	twin := filepath.Join(t.TempDir(), "twin") // the same command in another directory
	mustRun(t, args(twin, "--steps", "3")...)
	wider := filepath.Join(t.TempDir(), "wider")
	mustRun(t, args(wider, "--steps", "1", "--hidden", "9")...)
	unnamed := func(dir string) { // as written before runs were named
		editCheckpoint(t, ckOf(dir), dataDir, func(tr *pixelcnn.Trainer) { tr.RunID = "" })
		editConfig(t, dir, func(cfg map[string]any) { delete(cfg, "run_id") })
	}
	for _, tc := range []struct {
		name    string
		prepare func(dir string)
		want    string // "": resumes
	}{
		{"another run's", func(dir string) { copyFile(t, ckOf(twin), ckOf(dir)) }, "it was written by run"},
		{"another model's, unnamed", func(dir string) {
			unnamed(dir)
			w := copyRun(t, wider)
			unnamed(w)
			copyFile(t, ckOf(w), ckOf(dir))
		}, `"hidden":9`},
		{"the run's own, unnamed", unnamed, ""},
		{"the run's own, put back", func(dir string) {
			mustRun(t, "--resume", dir, "--steps", "3")
			if err := os.WriteFile(ckOf(dir), own, 0o644); err != nil {
				t.Fatal(err)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyRun(t, run)
			tc.prepare(dir)
			before := snapshot(t, dir)
			out, err := runWithin(t, time.Minute, "--resume", dir, "--steps", "4")
			if tc.want == "" {
				if err != nil {
					t.Errorf("resume: %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "not this run directory's") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("resume: error %v, want one saying the checkpoint is not the run's (%q)", err, tc.want)
			}
			checkUnchanged(t, tc.name, before, snapshot(t, dir))
		})
	}
}

// TestResumeOutsideRunDir: --resume of a checkpoint that is not a run directory's (another
// name, or no config.json beside it) starts a new run directory and never writes over the
// file or into its directory.
func TestResumeOutsideRunDir(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	mustRun(t, with(t, "--steps", "2", "--run-dir", run)...)
	ck, err := os.ReadFile(filepath.Join(run, pixelcnn.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // the default run dir is ./runs/...
	named := filepath.Join(t.TempDir(), "my.safetensors")
	bare := t.TempDir() // a checkpoint.safetensors with no config.json
	for _, path := range []string{named, filepath.Join(bare, pixelcnn.CheckpointFile)} {
		if err := os.WriteFile(path, ck, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	newDir := filepath.Join(t.TempDir(), "new")
	for _, tc := range []struct {
		name         string
		args         []string
		file, runDir string // runDir "": under ./runs
		want         string // an error
	}{
		{"named file", []string{"--resume", named}, named, "", ""},
		{"bare directory", []string{"--resume", bare}, filepath.Join(bare, pixelcnn.CheckpointFile), "", ""},
		{"--run-dir", []string{"--resume", named, "--run-dir", newDir}, named, newDir, ""},
		{"--run-dir over the file", []string{"--resume", bare, "--run-dir", bare}, filepath.Join(bare, pixelcnn.CheckpointFile), "", "would write its checkpoint over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll("runs")
			before := snapshot(t, filepath.Dir(tc.file))
			out, err := runWithin(t, time.Minute, with(t, append(tc.args, "--steps", "4")...)...)
			checkUnchanged(t, tc.name, before, snapshot(t, filepath.Dir(tc.file)))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			dir := tc.runDir
			if dir == "" {
				dirs, _ := filepath.Glob("runs/fashion-mnist-tiny-*")
				if len(dirs) != 1 {
					t.Fatalf("run dirs %v, want one under runs/\n%s", dirs, out)
				}
				dir = dirs[0]
			}
			if st := trainState(t, dir); st.Step != 4 {
				t.Errorf("%s: checkpoint at step %d, want 4", dir, st.Step)
			}
			if ms := readMetricsFile(t, dir); len(ms) == 0 || ms[0].Step <= 2 {
				t.Errorf("%s: metrics %+v, want this run's steps only", dir, ms)
			}
			if !strings.Contains(out, "resuming from step 2 ("+tc.file+")") {
				t.Errorf("output does not say it resumes from %s:\n%s", tc.file, out)
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var _ = bytes.Equal

// waitForFile fails the test when path does not exist within limit.
func waitForFile(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s not written within %v", path, limit)
}
