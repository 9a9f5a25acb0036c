package pixelcnn

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/safetensors"
)

func randomSplit(r *rand.Rand, c Config, n int) data.Split {
	pix := make([]uint8, n*c.Subpixels())
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	return data.Split{N: n, Pixels: pix}
}

func paramsHost(t *testing.T, m *Model) [][]float32 {
	t.Helper()
	_, vars := m.Params()
	var out [][]float32
	for _, v := range vars {
		out = append(out, hostOf(t, m.B, v.Value))
	}
	return out
}

// TestResumeExact: N steps, checkpoint, load, M steps gives bit-identical losses and weights
// to N+M steps straight, for both optimisers and with clipping.
func TestResumeExact(t *testing.T) {
	for _, opt := range []string{"adam", "rmsprop"} {
		t.Run(opt, func(t *testing.T) {
			c := tinyConfig(3, 6, 5)
			r := rand.New(rand.NewPCG(4, 4))
			split := randomSplit(r, c, 11) // 11 images, batch 4: epochs end mid-run
			o := DefaultTrainOptions()
			o.Optimizer, o.Batch, o.Clip, o.Seed = opt, 4, 0.5, 3
			const n, extra = 4, 5

			straight := func() ([]float64, [][]float32) {
				m, err := NewModel(cpu.New(), c, 7)
				if err != nil {
					t.Fatal(err)
				}
				tr, err := NewTrainer(m, split, o)
				if err != nil {
					t.Fatal(err)
				}
				var losses []float64
				for i := 0; i < n+extra; i++ {
					l, err := tr.TrainStep()
					if err != nil {
						t.Fatal(err)
					}
					losses = append(losses, l)
				}
				return losses, paramsHost(t, m)
			}
			wantLoss, wantParams := straight()

			m, _ := NewModel(cpu.New(), c, 7)
			tr, _ := NewTrainer(m, split, o)
			var losses []float64
			for i := 0; i < n; i++ {
				l, err := tr.TrainStep()
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, l)
			}
			path := filepath.Join(t.TempDir(), "ck.safetensors")
			if err := Save(path, m, tr, "test"); err != nil {
				t.Fatal(err)
			}
			ck, err := Load(path, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			tr2, err := ck.Resume(split)
			if err != nil {
				t.Fatal(err)
			}
			if tr2.Step != n {
				t.Fatalf("resumed at step %d, want %d", tr2.Step, n)
			}
			for i := 0; i < extra; i++ {
				l, err := tr2.TrainStep()
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, l)
			}
			for i := range wantLoss {
				if losses[i] != wantLoss[i] {
					t.Errorf("step %d loss %v, straight run %v", i+1, losses[i], wantLoss[i])
				}
			}
			got := paramsHost(t, ck.Model)
			for i := range wantParams {
				for k := range wantParams[i] {
					if got[i][k] != wantParams[i][k] {
						t.Fatalf("param %d[%d] = %v, straight run %v", i, k, got[i][k], wantParams[i][k])
					}
				}
			}
		})
	}
}

func TestTrainingLowersLoss(t *testing.T) {
	c := tinyConfig(1, 8, 8)
	r := rand.New(rand.NewPCG(5, 5))
	// Structured data: a horizontal gradient with noise, so there is something to learn.
	split := data.Split{N: 32, Pixels: make([]uint8, 32*64)}
	for i := range split.Pixels {
		split.Pixels[i] = uint8(min(255, (i%8)*30+r.IntN(20)))
	}
	m, _ := NewModel(cpu.New(), c, 1)
	o := DefaultTrainOptions()
	o.Batch, o.LR = 8, 1e-2
	tr, _ := NewTrainer(m, split, o)
	first, _, _ := Evaluate(m, split, 0, 16)
	for i := 0; i < 60; i++ {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	last, _, _ := Evaluate(m, split, 0, 16)
	if !(last < first-1) {
		t.Errorf("bits/dim %v -> %v after 60 steps; want a drop of more than 1", first, last)
	}
}

func TestNonFiniteLossStops(t *testing.T) {
	c := tinyConfig(1, 4, 4)
	r := rand.New(rand.NewPCG(6, 6))
	split := randomSplit(r, c, 8)
	m, _ := NewModel(cpu.New(), c, 1)
	o := DefaultTrainOptions()
	o.Batch = 4
	tr, err := NewTrainer(m, split, o)
	if err != nil {
		t.Fatal(err)
	}
	before := paramsHost(t, m)
	m.Layers[len(m.Layers)-1].B.Value.Host[0] = float32(posInf())
	before[len(before)-1][0] = float32(posInf())
	_, err = tr.TrainStep()
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "step 1") {
		t.Fatalf("error %v, want ErrNonFinite naming step 1", err)
	}
	if tr.Step != 0 {
		t.Errorf("step advanced to %d", tr.Step)
	}
	after := paramsHost(t, m)
	for i := range before {
		for k := range before[i] {
			if after[i][k] != before[i][k] {
				t.Fatalf("param %d changed on a non-finite step", i)
			}
		}
	}
}

func posInf() float64 { return math.Inf(1) }

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	c := tinyConfig(1, 4, 4)
	m, _ := NewModel(cpu.New(), c, 1)
	good := filepath.Join(dir, "good.safetensors")
	if err := Save(good, m, nil, ""); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)

	truncated := filepath.Join(dir, "truncated.safetensors")
	os.WriteFile(truncated, raw[:len(raw)-7], 0o644)
	garbage := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(garbage, []byte("not a checkpoint at all"), 0o644)

	// A non-zero masked entry: the centre of the input layer (mask A, one colour).
	bad, _ := NewModel(cpu.New(), c, 1)
	s := bad.Layers[0].Spec
	bad.Layers[0].W.Value.Host[(3*7+3)*s.In*s.Out] = 0.5
	masked := filepath.Join(dir, "masked.safetensors")
	if err := Save(masked, bad, nil, ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{truncated, "truncated.safetensors"},
		{garbage, "garbage.safetensors"},
		{filepath.Join(dir, "missing.safetensors"), "missing.safetensors"},
		{masked, "input_conv.weight has a non-zero masked entry"},
	} {
		_, err := Load(tc.path, cpu.New())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s): %v; want an error containing %q", filepath.Base(tc.path), err, tc.want)
		}
	}
	ck, err := Load(good, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ck.Resume(data.Split{N: 4, Pixels: make([]uint8, 64)}); err == nil {
		t.Errorf("resume from a weights-only checkpoint: no error")
	}
	if !nn.SameShape(ck.Model.Layers[0].W.Value.Shape, m.Layers[0].W.Value.Shape) {
		t.Errorf("reloaded shape differs")
	}
}

// trainedCheckpoint saves a model after one Adam step and returns its path and the split.
func trainedCheckpoint(t *testing.T, dir string) (string, data.Split) {
	t.Helper()
	c := tinyConfig(1, 4, 4)
	split := randomSplit(rand.New(rand.NewPCG(1, 2)), c, 4)
	m, _ := NewModel(cpu.New(), c, 1)
	o := DefaultTrainOptions()
	o.Batch = 2
	tr, err := NewTrainer(m, split, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "good.safetensors")
	if err := Save(path, m, tr, "test"); err != nil {
		t.Fatal(err)
	}
	return path, split
}

// rewriteCheckpoint writes a copy of src with edit applied to its tensors; the checksum is
// recomputed (so the file is consistent and only the edit is wrong) unless dropSum, which
// removes it as in files written before it existed.
func rewriteCheckpoint(t *testing.T, src, dst string, dropSum bool, edit func([]safetensors.Tensor) []safetensors.Tensor) {
	t.Helper()
	f, err := safetensors.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	ts := edit(f.Tensors)
	f.Metadata[MetaSHA256] = contentSHA256(ts, f.Metadata)
	if dropSum {
		delete(f.Metadata, MetaSHA256)
	}
	if err := safetensors.Write(dst, ts, f.Metadata); err != nil {
		t.Fatal(err)
	}
}

func setValue(name string, i int, v float32) func([]safetensors.Tensor) []safetensors.Tensor {
	return func(ts []safetensors.Tensor) []safetensors.Tensor {
		for _, t := range ts {
			if t.Name == name {
				t.Data[i] = v
			}
		}
		return ts
	}
}

// TestCheckpointDamage: a flipped data byte, non-finite weights or optimiser state, and
// optimiser tensors of the wrong shape or count give errors naming the file or the tensor
// (from Load, or from Resume for the optimiser's layout), never a panic; a file without
// the checksum still loads and resumes.
func TestCheckpointDamage(t *testing.T) {
	dir := t.TempDir()
	good, split := trainedCheckpoint(t, dir)
	raw, _ := os.ReadFile(good)
	flipped := append([]byte{}, raw...)
	flipped[len(flipped)-5] ^= 0x10 // inside the last tensor's data
	const w0, m0 = "input_conv.weight", "optim.m.input_conv.weight"
	reshape := func(name string, shape []int) func([]safetensors.Tensor) []safetensors.Tensor {
		return func(ts []safetensors.Tensor) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == name {
					ts[i].Shape, ts[i].Data = shape, make([]float32, nn.ShapeLen(shape))
				}
			}
			return ts
		}
	}
	drop := func(name string) func([]safetensors.Tensor) []safetensors.Tensor {
		return func(ts []safetensors.Tensor) []safetensors.Tensor {
			var out []safetensors.Tensor
			for _, t := range ts {
				if t.Name != name {
					out = append(out, t)
				}
			}
			return out
		}
	}
	extra := func(ts []safetensors.Tensor) []safetensors.Tensor {
		return append(ts, safetensors.Tensor{Name: "optim.momentum.input_conv.bias", Shape: []int{1}, Data: []float32{0}})
	}
	for _, tc := range []struct {
		name    string
		dropSum bool
		edit    func([]safetensors.Tensor) []safetensors.Tensor
		raw     []byte // instead of edit
		load    string // wanted in Load's error ("" = loads)
		resume  string // wanted in Resume's error ("" = resumes)
	}{
		{name: "flipped data byte", raw: flipped, load: "is corrupt: checksum mismatch"},
		{name: "NaN weight", edit: setValue(w0, 0, float32(math.NaN())), load: "tensor input_conv.weight holds a non-finite value"},
		{name: "Inf bias", edit: setValue("final_conv.bias", 3, float32(math.Inf(-1))), load: "tensor final_conv.bias holds a non-finite value (-Inf at element 3)"},
		{name: "NaN optimiser state", edit: setValue(m0, 0, float32(math.NaN())), load: "tensor " + m0 + " holds a non-finite"},
		{name: "optimiser tensor shape", edit: reshape(m0, []int{2, 3}), resume: m0 + " has shape [2 3]"},
		{name: "optimiser tensor same size, other shape", edit: reshape(m0, []int{1, 1, 7, 12 * 7}), resume: m0 + " has shape"},
		{name: "optimiser tensor missing", edit: drop(m0), resume: m0 + " missing"},
		{name: "extra optimiser tensor", edit: extra, resume: "optim.momentum.input_conv.bias is not part of adam's state"},
		{name: "no checksum (older file)", dropSum: true, edit: func(ts []safetensors.Tensor) []safetensors.Tensor { return ts }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".safetensors")
			if tc.raw != nil {
				os.WriteFile(path, tc.raw, 0o644)
			} else {
				rewriteCheckpoint(t, good, path, tc.dropSum, tc.edit)
			}
			ck, err := Load(path, cpu.New())
			if tc.load != "" {
				if err == nil || !strings.Contains(err.Error(), tc.load) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Load: %v; want an error naming the file and containing %q", err, tc.load)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			_, err = ck.Resume(split)
			if tc.resume == "" && err != nil {
				t.Fatalf("Resume: %v", err)
			}
			if tc.resume != "" && (err == nil || !strings.Contains(err.Error(), tc.resume)) {
				t.Fatalf("Resume: %v; want an error containing %q", err, tc.resume)
			}
		})
	}
	if _, err := Load(w0, cpu.New()); err == nil {
		t.Errorf("Load of a missing file: no error")
	}
}

// TestCommittedCheckpointLoads: the checkpoint of a committed run (written before checkpoints
// carried a checksum) still loads.
func TestCommittedCheckpointLoads(t *testing.T) {
	path := "../bench/results/2026-11-27-cpu-mnist-30min-run2/checkpoint.safetensors"
	ck, err := Load(path, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if ck.Train == nil || ck.Train.Step == 0 {
		t.Fatalf("the committed checkpoint has no training state")
	}
}

// TestCheckpointDatasetAndRunDir: the dataset is recorded with or without a trainer, and a
// run directory resolves to its checkpoint.
func TestCheckpointDatasetAndRunDir(t *testing.T) {
	dir := t.TempDir()
	m, _ := NewModel(cpu.New(), tinyConfig(1, 4, 4), 1)
	path := filepath.Join(dir, CheckpointFile)
	if err := Save(path, m, nil, "fashion-mnist"); err != nil {
		t.Fatal(err)
	}
	got, err := ResolveCheckpoint(dir)
	if err != nil || got != path {
		t.Fatalf("ResolveCheckpoint(run dir) = %q, %v; want %q", got, err, path)
	}
	if got, err := ResolveCheckpoint(path); err != nil || got != path {
		t.Fatalf("ResolveCheckpoint(file) = %q, %v", got, err)
	}
	ck, err := Load(path, cpu.New())
	if err != nil || ck.Dataset != "fashion-mnist" {
		t.Fatalf("dataset %q, %v; want fashion-mnist", ck.Dataset, err)
	}
	trained, _ := trainedCheckpoint(t, dir)
	if ck, err := Load(trained, cpu.New()); err != nil || ck.Dataset != "test" {
		t.Fatalf("trained checkpoint: dataset %q, %v; want test", ck.Dataset, err)
	}
	for _, bad := range []string{t.TempDir(), filepath.Join(dir, "none")} {
		if _, err := ResolveCheckpoint(bad); err == nil {
			t.Errorf("ResolveCheckpoint(%s): no error", bad)
		}
	}
}

// TestCheckpointPrecision: a checkpoint records the precision of the backend that saved it
// (the package safetensors writes F32 only).
func TestCheckpointPrecision(t *testing.T) {
	dir := t.TempDir()
	for _, p := range nn.Precisions {
		b := cpu.New()
		if err := b.SetPrecision(p); err != nil {
			t.Fatal(err)
		}
		m, _ := NewModel(b, tinyConfig(1, 4, 4), 1)
		path := filepath.Join(dir, string(p)+".safetensors")
		if err := Save(path, m, nil, ""); err != nil {
			t.Fatal(err)
		}
		ck, err := Load(path, cpu.New())
		if err != nil || ck.Precision != p {
			t.Errorf("saved at %s: loaded precision %q, %v", p, ck.Precision, err)
		}
	}
}

// TestLoadChecksTrainState: a checkpoint whose training state holds a number no trainer could
// have written (a negative step, a non-positive lr, optimiser settings out of range) is refused
// on load, naming the file and the value; consistent files still load.
func TestLoadChecksTrainState(t *testing.T) {
	c := tinyConfig(1, 4, 4)
	split := randomSplit(rand.New(rand.NewPCG(1, 2)), c, 4)
	tests := []struct {
		name string
		edit func(tr *Trainer)
		want string // "" : loads
	}{
		{"consistent", func(tr *Trainer) {}, ""},
		{"step -5", func(tr *Trainer) { tr.Step = -5 }, "step -5"},
		{"lr -1", func(tr *Trainer) { tr.LR = -1 }, "lr -1"},
		{"lr 0", func(tr *Trainer) { tr.LR = 0 }, "lr 0"},
		{"initial lr -3", func(tr *Trainer) { tr.Opt.LR = -3 }, "lr -3"},
		{"lr decay 2", func(tr *Trainer) { tr.Opt.LRDecay = 2 }, "lr decay 2"},
		{"clip -1", func(tr *Trainer) { tr.Opt.Clip = -1 }, "clip -1"},
		{"beta1 1", func(tr *Trainer) { tr.Opt.Beta1 = 1 }, "beta1 1"},
		{"beta2 -0.5", func(tr *Trainer) { tr.Opt.Beta2 = -0.5 }, "beta2 -0.5"},
		{"eps 0", func(tr *Trainer) { tr.Opt.Eps = 0 }, "eps 0"},
		{"rms decay 1.5", func(tr *Trainer) { tr.Opt.RMSDecay = 1.5 }, "rms decay 1.5"},
		{"optimizer sgd", func(tr *Trainer) { tr.Opt.Optimizer = "sgd" }, `optimizer "sgd"`},
		{"batch 3 of 2", func(tr *Trainer) { tr.Opt.Batch = 3 }, "batches of 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := NewModel(cpu.New(), c, 1)
			o := DefaultTrainOptions()
			o.Batch = 2
			tr, err := NewTrainer(m, split, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.TrainStep(); err != nil {
				t.Fatal(err)
			}
			tc.edit(tr)
			path := filepath.Join(t.TempDir(), "ck.safetensors")
			if err := Save(path, m, tr, "test"); err != nil {
				t.Fatal(err)
			}
			_, err = Load(path, cpu.New())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("consistent checkpoint: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("load: error %v, want one naming %s and %q", err, path, tc.want)
			}
		})
	}
}
