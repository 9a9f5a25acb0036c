package pixelcnn

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/safetensors"
)

func TestEMADecay(t *testing.T) {
	for _, c := range []struct {
		decay float64
		step  int
		want  float64
	}{
		{0.9995, 1, 2.0 / 11}, {0.9995, 90, 91.0 / 100}, {0.9995, 100000, 0.9995}, {0.5, 1, 2.0 / 11}, {0.5, 20, 0.5},
	} {
		if got := emaDecay(c.decay, c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("emaDecay(%v, %d) = %v, want %v", c.decay, c.step, got, c.want)
		}
	}
	for _, bad := range []float64{1, -0.1, 1.5, math.NaN(), math.Inf(1)} {
		o := DefaultTrainOptions()
		o.EMA = bad
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "ema") {
			t.Errorf("ema %v: %v, want an error naming ema", bad, err)
		}
	}
}

// emaSplit is a small labelled split for a model of config c.
func emaSplit(c Config, n int) data.Split {
	s := randomSplit(rand.New(rand.NewPCG(5, 6)), c, n)
	if c.Classes > 0 {
		s.Labels = make([]uint8, n)
		for i := range s.Labels {
			s.Labels[i] = uint8(i % c.Classes)
		}
	}
	return s
}

// TestAverageFollowsTheWeights: after every step the average is the host's Polyak average of
// the trained weights (starting at the initial weights, emaDecay's warm-up), the trained
// weights are those of a run without an average, and EvalModel reads the average.
func TestAverageFollowsTheWeights(t *testing.T) {
	for _, c := range []Config{tinyConfig(3, 6, 5), gatedTestConfig(1, 6, 5, 3)} {
		t.Run(c.ArchName(), func(t *testing.T) {
			split := emaSplit(c, 9)
			o := DefaultTrainOptions()
			o.Batch = 3
			plain, _ := NewModel(cpu.New(), c, 7)
			trPlain, err := NewTrainer(plain, split, o)
			if err != nil {
				t.Fatal(err)
			}
			o.EMA = 0.9
			m, _ := NewModel(cpu.New(), c, 7)
			tr, err := NewTrainer(m, split, o)
			if err != nil {
				t.Fatal(err)
			}
			want := paramsHost(t, m)
			for step := 1; step <= 30; step++ {
				if _, err := tr.TrainStep(); err != nil {
					t.Fatal(err)
				}
				if _, err := trPlain.TrainStep(); err != nil {
					t.Fatal(err)
				}
				w := float32(1 - emaDecay(0.9, step))
				trained := paramsHost(t, m)
				for i := range want {
					for k := range want[i] {
						want[i][k] += float32(w * float32(trained[i][k]-want[i][k]))
					}
				}
				equalParams(t, "average", paramsHost(t, tr.EvalModel()), want)
				equalParams(t, "trained weights", trained, paramsHost(t, plain))
			}
			if tr.EvalModel() == tr.Model || trPlain.EvalModel() != trPlain.Model {
				t.Error("EvalModel: want the average's model with an average, the trained model without")
			}
		})
	}
}

func equalParams(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	for i := range want {
		for k := range want[i] {
			if math.Float32bits(got[i][k]) != math.Float32bits(want[i][k]) {
				t.Fatalf("%s: param %d[%d] = %v, want %v", what, i, k, got[i][k], want[i][k])
			}
		}
	}
}

// TestAverageCheckpoint: the checkpoint's plain names hold the average (the model Load
// builds, which evaluates as EvalModel does), WeightsPrefix the trained weights; a resume
// continues bit for bit (trained weights and average) as the straight run; UseTrainedWeights
// gives the trained weights; a file missing them is refused naming them.
func TestAverageCheckpoint(t *testing.T) {
	c := gatedTestConfig(1, 6, 5, 3)
	split := emaSplit(c, 9)
	o := DefaultTrainOptions()
	o.Batch, o.EMA = 3, 0.8
	const n, extra = 4, 5
	run := func(steps int) (*Model, *Trainer) {
		m, _ := NewModel(cpu.New(), c, 7)
		tr, err := NewTrainer(m, split, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < steps; i++ {
			if _, err := tr.TrainStep(); err != nil {
				t.Fatal(err)
			}
		}
		return m, tr
	}
	straight, trStraight := run(n + extra)

	m, tr := run(n)
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := Save(path, m, tr, "test"); err != nil {
		t.Fatal(err)
	}
	ck, err := Load(path, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	equalParams(t, "loaded model", paramsHost(t, ck.Model), paramsHost(t, tr.EvalModel()))
	bpdLoaded, _, err := Evaluate(ck.Model, split, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	bpdAvg, _, _ := Evaluate(tr.EvalModel(), split, 0, 4)
	bpdTrained, _, _ := Evaluate(m, split, 0, 4)
	if bpdLoaded != bpdAvg || bpdLoaded == bpdTrained {
		t.Errorf("loaded model %v bits/dim, average %v, trained weights %v: want the average's", bpdLoaded, bpdAvg, bpdTrained)
	}
	ckTrained, err := Load(path, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := ckTrained.UseTrainedWeights(); err != nil {
		t.Fatal(err)
	}
	equalParams(t, "trained weights of the file", paramsHost(t, ckTrained.Model), paramsHost(t, m))
	tr2, err := ck.Resume(split)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < extra; i++ {
		if _, err := tr2.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	equalParams(t, "resumed trained weights", paramsHost(t, ck.Model), paramsHost(t, straight))
	equalParams(t, "resumed average", paramsHost(t, tr2.EvalModel()), paramsHost(t, trStraight.EvalModel()))

	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []safetensors.Tensor
	for _, tn := range f.Tensors {
		if tn.Name != WeightsPrefix+"v_in.weight" {
			kept = append(kept, tn)
		}
	}
	meta := f.Metadata
	delete(meta, MetaSHA256)
	meta[MetaSHA256] = contentSHA256(kept, meta)
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := safetensors.Write(bad, kept, meta); err != nil {
		t.Fatal(err)
	}
	ckBad, err := Load(bad, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ckBad.Resume(split); err == nil || !strings.Contains(err.Error(), WeightsPrefix+"v_in.weight") {
		t.Errorf("resume without the trained weights: %v, want an error naming %sv_in.weight", err, WeightsPrefix)
	}
}

// TestHostLerp: the fallback for a backend without nn.Averager computes the backend's Lerp
// bits, and refuses what Lerp refuses.
func TestHostLerp(t *testing.T) {
	b := cpu.New()
	r := rand.New(rand.NewPCG(8, 9))
	mk := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	d0, s0 := mk(37), mk(37)
	viaHost, _ := b.FromHost(append([]float32(nil), d0...), 37)
	direct, _ := b.FromHost(append([]float32(nil), d0...), 37)
	src, _ := b.FromHost(s0, 37)
	if err := hostLerp(b, []*nn.Tensor{viaHost}, []*nn.Tensor{src}, 0.3); err != nil {
		t.Fatal(err)
	}
	if err := b.Lerp([]*nn.Tensor{direct}, []*nn.Tensor{src}, 0.3); err != nil {
		t.Fatal(err)
	}
	equalParams(t, "hostLerp", [][]float32{hostOf(t, b, viaHost)}, [][]float32{hostOf(t, b, direct)})
	if hostOf(t, b, viaHost)[0] == d0[0] {
		t.Error("hostLerp left dst unchanged")
	}
	if err := hostLerp(b, []*nn.Tensor{viaHost}, []*nn.Tensor{src}, 2); err == nil {
		t.Error("hostLerp accepted weight 2")
	}
}
