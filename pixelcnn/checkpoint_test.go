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
