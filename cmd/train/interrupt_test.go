package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pixelcnn/pixelcnn/data"
)

// TestMain lets a test run this test binary as the train command (PIXELCNN_TRAIN_MAIN=1), to
// send it real signals.
func TestMain(m *testing.M) {
	if os.Getenv("PIXELCNN_TRAIN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	loadDataset = cachedLoad(loadDataset)
	os.Exit(m.Run())
}

// cachedLoad remembers each dataset loaded (the runs only read them): tests start many runs.
func cachedLoad(load func(name, dir string) (*data.Dataset, error)) func(name, dir string) (*data.Dataset, error) {
	var mu sync.Mutex
	cache := map[[2]string]*data.Dataset{}
	return func(name, dir string) (*data.Dataset, error) {
		mu.Lock()
		defer mu.Unlock()
		key := [2]string{name, dir}
		if ds, ok := cache[key]; ok {
			return ds, nil
		}
		ds, err := load(name, dir)
		if err == nil {
			cache[key] = ds
		}
		return ds, err
	}
}

// trainProcess is the train command running as a child process.
type trainProcess struct {
	cmd   *exec.Cmd
	lines chan string
	out   strings.Builder
}

func startTrain(t *testing.T, shellLine string) *trainProcess {
	t.Helper()
	p := &trainProcess{cmd: exec.Command("sh", "-c", "exec "+shellLine), lines: make(chan string, 1000)}
	p.cmd.Env = append(os.Environ(), "PIXELCNN_TRAIN_MAIN=1")
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// waitFor returns the first line containing want, failing after a timeout.
func (p *trainProcess) waitFor(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("train exited before printing %q:\n%s", want, p.out.String())
			}
			p.out.WriteString(line + "\n")
			if strings.Contains(line, want) {
				return line
			}
		case <-timeout:
			t.Fatalf("no %q after 60 s:\n%s", want, p.out.String())
		}
	}
}

// interrupt sends SIGINT and returns the exit status and how long the exit took.
func (p *trainProcess) interrupt(t *testing.T) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	return p.wait(t), time.Since(start)
}

// wait returns the exit status once the process has ended (by a signal: -1).
func (p *trainProcess) wait(t *testing.T) int {
	t.Helper()
	go func() {
		for line := range p.lines {
			p.out.WriteString(line + "\n")
		}
	}()
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestInterrupt: SIGINT during training or the final evaluation stops the run within a couple
// of seconds with exit status 130 and a complete checkpoint, and the printed hint resumes.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command as child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, args, waitFor, hint string
	}{
		{"training", "--steps 1000000", "step 1 ", "resume with: "},
		{"final evaluation", "--steps 1 --final-eval-limit 0", "Final evaluation on 10000", "./cmd/eval --checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			p := startTrain(t, exe+" --preset tiny --device cpu --eval-every 0 --samples 0 --run-dir "+dir+" "+tc.args)
			p.waitFor(t, tc.waitFor)
			code, took := p.interrupt(t)
			if code != 130 || took > 3*time.Second {
				t.Errorf("after SIGINT: exit %d after %v, want 130 within 3 s\n%s", code, took, p.out.String())
			}
			if !strings.Contains(p.out.String(), tc.hint) {
				t.Errorf("output lacks %q:\n%s", tc.hint, p.out.String())
			}
			st := trainState(t, dir)
			if st.Step < 1 {
				t.Errorf("checkpoint at step %d, want >= 1", st.Step)
			}
			if tc.name != "training" {
				return
			}
			// The interrupted step is logged, so a --minutes budget resumes with its wall time.
			if m := lastMetric(t, dir); m.Step != st.Step {
				t.Errorf("last metrics line at step %d, the checkpoint at %d", m.Step, st.Step)
			}
			// The hint, run verbatim by a shell, resumes the run where it stopped.
			_, hint, _ := strings.Cut(p.out.String(), "resume with: ")
			hint, _, _ = strings.Cut(hint, "\n")
			q := startTrain(t, hint)
			q.waitFor(t, "resuming from step "+strconv.Itoa(st.Step))
			q.waitFor(t, "step ")
			if code, _ := q.interrupt(t); code != 130 {
				t.Errorf("resumed run: exit %d after SIGINT, want 130\n%s", code, q.out.String())
			}
		})
	}
}

// TestInterruptBeforeStart: Ctrl-C while the data loads leaves no run directory behind.
func TestInterruptBeforeStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out strings.Builder
	if err := runWriting(t, ctx, &out, with(t, "--steps", "3", "--run-dir", dir)...); err != errInterrupted {
		t.Errorf("error %v, want errInterrupted", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("an interrupt before the start created %s", dir)
	}
}

// failingFile accepts half of every write and then fails, as a full disk does.
type failingFile struct {
	bytes.Buffer
	fail bool
}

func (f *failingFile) Write(p []byte) (int, error) {
	if !f.fail {
		return f.Buffer.Write(p)
	}
	n, _ := f.Buffer.Write(p[:len(p)/2])
	return n, syscall.ENOSPC
}

func (f *failingFile) Truncate(size int64) error { f.Buffer.Truncate(int(size)); return nil }
func (f *failingFile) Close() error              { return nil }

var _ io.WriteCloser = (*failingFile)(nil)

// TestMetricsFullDisk: a failed write leaves metrics.jsonl ending in a whole line.
func TestMetricsFullDisk(t *testing.T) {
	f := &failingFile{}
	l := newLog(filepath.Join(t.TempDir(), "metrics.jsonl"), f, 0)
	if err := l.write(metric{Step: 1, TrainBPD: 8}); err != nil {
		t.Fatal(err)
	}
	good := f.String()
	f.fail = true
	err := l.write(metric{Step: 2, TrainBPD: 7})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "metrics.jsonl") {
		t.Errorf("write on a full disk: error %v, want ENOSPC naming metrics.jsonl", err)
	}
	if f.String() != good {
		t.Errorf("after the failed write the file is %q, want %q", f.String(), good)
	}
	f.fail = false
	if err := l.write(metric{Step: 3, TrainBPD: 6}); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(f.String()), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], `{"step":3,`) {
		t.Errorf("after the disk has room again: %q", f.String())
	}
}
