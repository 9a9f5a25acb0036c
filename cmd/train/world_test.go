package main

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/dist"
	"pixelcnn/pixelcnn/safetensors"
)

// runRanks runs train as every rank of an in-process world of n ranks (dist.NewLocal), rank r
// with args(r), and returns what each printed and returned.
func runRanks(t *testing.T, n int, args func(rank int) []string) ([]string, []error) {
	t.Helper()
	comms := dist.NewLocal(n)
	outs, errs := make([]string, n), make([]error, n)
	done := make(chan struct{})
	for r := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			f, fs, err := parseFlags(args(r))
			if err != nil {
				errs[r] = err
				return
			}
			var out bytes.Buffer
			errs[r] = runWorld(context.Background(), f, fs, &out, comms[r])
			outs[r] = out.String()
		}()
	}
	for range n {
		<-done
	}
	return outs, errs
}

// tensorDataSHA256 is the SHA-256 of a checkpoint's tensors (not its metadata, which names the
// run and the world).
func tensorDataSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return safetensors.DataSHA256(f.Tensors)
}

// TestWorldEqualsShardsRun: 2 ranks give the checkpoint of one process with --shards 2, rank 1
// prints nothing, and only the rank count decides (same flags on every rank).
func TestWorldEqualsShardsRun(t *testing.T) {
	dir := t.TempDir()
	single := filepath.Join(dir, "shards2")
	evalEvery := []string{"--eval-every", "2", "--eval-limit", "7"} // after with's --eval-every 0
	mustRun(t, append(with(t, "--steps", "3", "--batch", "8", "--shards", "2", "--run-dir", single), evalEvery...)...)
	world := filepath.Join(dir, "world2")
	args := append(with(t, "--steps", "3", "--batch", "8", "--run-dir", world), evalEvery...) // one data dir for all
	outs, errs := runRanks(t, 2, func(int) []string { return args })
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v\n%s", r, err, outs[r])
		}
	}
	if outs[1] != "" {
		t.Errorf("rank 1 printed %q", outs[1])
	}
	if !strings.Contains(outs[0], "data parallel: 2 ranks") {
		t.Errorf("rank 0 does not say it runs on 2 ranks:\n%s", outs[0])
	}
	got, want := tensorDataSHA256(t, filepath.Join(world, "checkpoint.safetensors")), tensorDataSHA256(t, filepath.Join(single, "checkpoint.safetensors"))
	if got != want {
		t.Fatalf("2 ranks: tensor data SHA-256 %s, --shards 2 in one process %s", got, want)
	}
	// The evaluations, split over the ranks (7 images: parts of 3 and 4), agree with one
	// process's but for the order of a float64 sum.
	got1, want1 := readMetricsFile(t, world), readMetricsFile(t, single)
	if len(got1) != len(want1) {
		t.Fatalf("%d metrics lines, one process %d", len(got1), len(want1))
	}
	evals := 0
	for i, m := range want1 {
		if m.TestBPD == nil {
			continue
		}
		evals++
		if g := got1[i].TestBPD; g == nil {
			t.Errorf("step %d: no test bits/dim, one process %v", m.Step, *m.TestBPD)
		} else if math.Abs(*g-*m.TestBPD) > 1e-12*math.Abs(*m.TestBPD) {
			t.Errorf("step %d: test bits/dim %v, one process %v", m.Step, *g, *m.TestBPD)
		}
	}
	if evals != 2 {
		t.Errorf("%d evaluations, want 2 (step 2 and the final one)", evals)
	}
	// The 2-shard run resumes on 1 rank exactly, and is refused on 3 with the counts that fit.
	_, errs = runRanks(t, 3, func(int) []string { return []string{"--resume", world, "--steps", "4"} })
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "resume it on 1, 2 rank(s)") {
			t.Errorf("rank %d: a 2-shard run resumed on 3 ranks: %v", r, err)
		}
	}
}

// TestWorldRefusesDifferentRanks: ranks started with other flags, or a --shards the world
// cannot share, stop every rank with the reason.
func TestWorldRefusesDifferentRanks(t *testing.T) {
	dir := t.TempDir()
	args := with(t, "--steps", "2", "--batch", "8", "--run-dir", filepath.Join(dir, "mismatch"))
	_, errs := runRanks(t, 2, func(r int) []string { return append(args, "--seed", []string{"1", "2"}[r]) })
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "ranks [1] were started with other flags") {
			t.Errorf("rank %d: --seed differs on rank 1: %v", r, err)
		}
	}
	_, errs = runRanks(t, 2, func(int) []string {
		return with(t, "--steps", "2", "--batch", "9", "--run-dir", filepath.Join(dir, "odd"))
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "--batch 9 is the global batch and is not divisible by the world's 2 ranks") {
			t.Errorf("rank %d: --batch 9 on 2 ranks: %v", r, err)
		}
	}
	if _, err := runArgs(t, with(t, "--steps", "2", "--batch", "8", "--shards", "3")...); err == nil || !strings.Contains(err.Error(), "not divisible by --shards 3") {
		t.Errorf("--batch 8 --shards 3: %v", err)
	}
	if _, err := runArgs(t, with(t, "--steps", "2", "--reduce", "ring")...); err == nil || !strings.Contains(err.Error(), `--reduce: reduction "ring": want exact`) {
		t.Errorf("--reduce ring: %v", err)
	}
}

// TestRunDigestCoversTheDataset: ranks with the same flags but other dataset files (another
// machine's --data-dir) must not agree to start: one pixel or one label changes the digest.
func TestRunDigestCoversTheDataset(t *testing.T) {
	base := func() *data.Dataset {
		return &data.Dataset{Name: "mnist", H: 2, W: 2, C: 1, Classes: 10,
			Train: data.Split{N: 2, Pixels: []uint8{1, 2, 3, 4, 5, 6, 7, 8}, Labels: []uint8{3, 4}},
			Test:  data.Split{N: 1, Pixels: []uint8{9, 10, 11, 12}, Labels: []uint8{5}}}
	}
	_, fs, err := parseFlags(with(t, "--steps", "2"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := runDigest(fs, "", base())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(*data.Dataset)
		same   bool
	}{
		{"identical", func(*data.Dataset) {}, true},
		{"train pixel", func(d *data.Dataset) { d.Train.Pixels[5]++ }, false},
		{"train label", func(d *data.Dataset) { d.Train.Labels[1]++ }, false},
		{"test pixel", func(d *data.Dataset) { d.Test.Pixels[0]++ }, false},
		{"labels missing", func(d *data.Dataset) { d.Train.Labels, d.Test.Labels = nil, nil }, false},
		{"bytes moved between splits", func(d *data.Dataset) {
			d.Train.Pixels = append(d.Train.Pixels, d.Test.Pixels[0])
			d.Test.Pixels = d.Test.Pixels[1:]
		}, false},
	} {
		ds := base()
		c.change(ds)
		got, err := runDigest(fs, "", ds)
		if err != nil {
			t.Fatal(err)
		}
		if same := bytes.Equal(got, want); same != c.same {
			t.Errorf("%s: digest equal %v, want %v", c.name, same, c.same)
		}
	}
}

func TestLauncherPrefix(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OMPI_COMM_WORLD_SIZE": "4", "SLURM_PROCID": "1"}, "mpirun -np 4 "},
		{map[string]string{"PMI_RANK": "0"}, "mpirun -np 4 "},
		{map[string]string{"SLURM_PROCID": "3"}, "srun --ntasks 4 "},
		{map[string]string{"TORCHELASTIC_RUN_ID": "x", "RANK": "1", "WORLD_SIZE": "4"}, "torchrun --nproc-per-node 4 --no-python "},
		{map[string]string{"RANK": "1", "WORLD_SIZE": "4"}, "torchrun --nproc-per-node 4 --no-python "},
		{nil, "mpirun -np 4 "},
	} {
		if got := launcherPrefix(func(k string) string { return c.env[k] }, 4); got != c.want {
			t.Errorf("%v: %q, want %q", c.env, got, c.want)
		}
	}
}
