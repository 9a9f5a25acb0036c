//go:build mpi

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/safetensors"
)

// The MPI tests (make test-mpi) run the MPI build of train under Open MPI's mpirun on this
// machine: R ranks must give the tensors of one process with --shards R bit for bit, after 50
// steps and after a resume on another rank count; a signal to one rank stops all at the same
// step with its checkpoint; a killed rank ends the job (no hang) and leaves a loadable
// checkpoint. One thread per rank (GOMAXPROCS=1, the same in the one-process runs: the
// worker count changes the CPU backend's sums).

// mpiArgs are the flags of every run: the tiny preset on MNIST, no periodic evaluation.
var mpiArgs = []string{"--dataset", "mnist", "--preset", "tiny", "--device", "cpu",
	"--eval-every", "0", "--samples", "0", "--final-eval-limit", "16"}

type mpiEnv struct {
	t   *testing.T
	bin string
	dir string
}

func newMPIEnv(t *testing.T) *mpiEnv {
	if _, err := exec.LookPath("mpirun"); err != nil {
		t.Fatal("mpirun not found: install openmpi-bin (tools/install-deps.sh does)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "train")
	if out, err := exec.Command("go", "build", "-tags", "mpi", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags mpi: %v\n%s", err, out)
	}
	return &mpiEnv{t: t, bin: bin, dir: dir}
}

// command is train (ranks 0: one process, no mpirun) with args, GOMAXPROCS=1.
func (e *mpiEnv) command(ctx context.Context, ranks int, args ...string) *exec.Cmd {
	argv := append([]string{e.bin}, append(append([]string(nil), mpiArgs...), args...)...)
	if ranks > 0 {
		argv = append([]string{"mpirun", "--allow-run-as-root", "--oversubscribe", "-np", strconv.Itoa(ranks), "-x", "GOMAXPROCS"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs train and fails the test on an error or after 5 minutes.
func (e *mpiEnv) run(ranks int, args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := e.command(ctx, ranks, args...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("%d ranks, %v: %v\n%s", ranks, args, err, out)
	}
	return string(out)
}

func (e *mpiEnv) path(name string) string { return filepath.Join(e.dir, name) }

func (e *mpiEnv) sameTensors(what, got, want string) {
	e.t.Helper()
	g := tensorDataSHA256(e.t, filepath.Join(got, pixelcnn.CheckpointFile))
	w := tensorDataSHA256(e.t, filepath.Join(want, pixelcnn.CheckpointFile))
	if g != w {
		e.t.Fatalf("%s: tensor data SHA-256 %s, the one-process run's %s", what, g, w)
	}
	e.t.Logf("%s: tensor data SHA-256 %s, equal to the one-process run's", what, g)
}

func TestMPIRanksEqualShards(t *testing.T) {
	e := newMPIEnv(t)
	for _, r := range []int{2, 4} {
		world, single := e.path(fmt.Sprintf("np%d", r)), e.path(fmt.Sprintf("shards%d", r))
		e.run(r, "--steps", "50", "--run-dir", world)
		e.run(0, "--steps", "50", "--shards", strconv.Itoa(r), "--run-dir", single)
		e.sameTensors(fmt.Sprintf("mpirun -np %d, 50 steps", r), world, single)
	}
	// The 4-rank run resumed on 2 ranks goes on as --shards 4 straight to step 80 does.
	e.run(2, "--resume", e.path("np4"), "--steps", "80")
	e.run(0, "--steps", "80", "--shards", "4", "--run-dir", e.path("shards4-80"))
	e.sameTensors("mpirun -np 4 to step 50, resumed on -np 2 to step 80", e.path("np4"), e.path("shards4-80"))
	// ... and on 3 ranks it is refused with the counts that fit.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.command(ctx, 3, "--resume", e.path("np4"), "--steps", "90").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "resume it on 1, 2, 4 rank(s)") {
		t.Fatalf("a 4-shard run resumed on 3 ranks: %v\n%s", err, out)
	}
}

// startLong starts a 2-rank run that would take hours, and waits (at most a minute) until
// its checkpoint exists.
func (e *mpiEnv) startLong(ctx context.Context, dir string, out *bytes.Buffer, extra ...string) *exec.Cmd {
	e.t.Helper()
	args := append([]string{"--steps", "1000000", "--checkpoint-every", "20", "--log-every", "10", "--run-dir", dir}, extra...)
	cmd := e.command(ctx, 2, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	for start := time.Now(); !exists(filepath.Join(dir, pixelcnn.CheckpointFile)); time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			e.t.Fatalf("no checkpoint after a minute:\n%s", out)
		}
	}
	return cmd
}

// rankPID is the PID of this test's rank of the binary: found in /proc by its environment.
func (e *mpiEnv) rankPID(rank int) int {
	e.t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		exe, _ := os.Readlink(filepath.Join(p, "exe"))
		env, _ := os.ReadFile(filepath.Join(p, "environ"))
		if exe == e.bin && bytes.Contains(env, []byte("\x00OMPI_COMM_WORLD_RANK="+strconv.Itoa(rank)+"\x00")) {
			pid, _ := strconv.Atoi(filepath.Base(p))
			return pid
		}
	}
	e.t.Fatalf("rank %d of %s not found", rank, e.bin)
	return 0
}

// TestMPISignalOneRank: SIGTERM to rank 1 alone stops both ranks at the same step; rank 0
// writes that step's checkpoint and the resume command, and the checkpoint goes on exactly.
func TestMPISignalOneRank(t *testing.T) {
	e := newMPIEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	dir := e.path("signalled")
	cmd := e.startLong(ctx, dir, &out)
	if err := syscall.Kill(e.rankPID(1), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the ranks did not stop within the timeout:\n%s", out.String())
	}
	m := regexp.MustCompile(`interrupted at step (\d+): writing the checkpoint`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "resume with: mpirun -np 2 ") {
		t.Fatalf("(exit %v) rank 0 did not write the checkpoint of the step it stopped at:\n%s", err, out.String())
	}
	step, _ := strconv.Atoi(m[1])
	f, rerr := safetensors.Read(filepath.Join(dir, pixelcnn.CheckpointFile))
	if rerr != nil || f.Metadata["step"] != m[1] {
		t.Fatalf("checkpoint: step %q, %v; rank 0 said step %d", f.Metadata["step"], rerr, step)
	}
	// Resumed in one process (2 shards), it goes on as --shards 2 straight does.
	to := strconv.Itoa(step + 10)
	e.run(0, "--resume", dir, "--steps", to)
	e.run(0, "--shards", "2", "--steps", to, "--run-dir", e.path("straight"))
	e.sameTensors(fmt.Sprintf("SIGTERM to rank 1 at step %d, resumed in one process to step %s", step, to), dir, e.path("straight"))
}

// TestMPIDeadRank: a rank killed with SIGKILL ends the job (mpirun kills the other rank)
// within the timeout, and the last checkpoint rank 0 wrote loads.
func TestMPIDeadRank(t *testing.T) {
	e := newMPIEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	dir := e.path("killed")
	cmd := e.startLong(ctx, dir, &out)
	killed := time.Now()
	if err := syscall.Kill(e.rankPID(1), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("rank 0 was still running at the timeout after rank 1 was killed:\n%s", out.String())
	}
	if err == nil {
		t.Fatalf("mpirun exited 0 after a rank was killed:\n%s", out.String())
	}
	t.Logf("mpirun ended the job %v after the kill (%v)", time.Since(killed).Round(time.Millisecond), err)
	ck, lerr := pixelcnn.Load(filepath.Join(dir, pixelcnn.CheckpointFile), cpu.New())
	if lerr != nil {
		t.Fatalf("the last checkpoint does not load: %v", lerr)
	}
	t.Logf("the last checkpoint loads, at step %d", ck.Train.Step)
}

// TestMPIStoppedRank: a rank that stops taking part without dying (SIGSTOP) ends the job
// after --collective-timeout, saying why and how to resume, and the last checkpoint loads.
func TestMPIStoppedRank(t *testing.T) {
	e := newMPIEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	dir := e.path("stopped")
	cmd := e.startLong(ctx, dir, &out, "--collective-timeout", "3s")
	pid := e.rankPID(1)
	defer syscall.Kill(pid, syscall.SIGKILL) // whatever happens, no stopped rank is left behind
	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("rank 0 was still waiting at the timeout after rank 1 was stopped:\n%s", out.String())
	}
	if err == nil || !strings.Contains(out.String(), "rank 0: no answer from the other ranks for 3s") ||
		!strings.Contains(out.String(), "--resume "+dir) {
		t.Fatalf("(exit %v) no collective-timeout message naming the run directory:\n%s", err, out.String())
	}
	t.Logf("the job ended %v after rank 1 stopped", time.Since(stopped).Round(time.Millisecond))
	if _, err := pixelcnn.Load(filepath.Join(dir, pixelcnn.CheckpointFile), cpu.New()); err != nil {
		t.Fatalf("the last checkpoint does not load: %v", err)
	}
}
