package pixelcnn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
)

// TestDeviceStepMatchesHostStep: the step with its scalars kept in the backend
// (nn.StepRecorder, recorded from the second step) gives the host-side step's losses,
// weights and optimiser state bit for bit, for both optimisers, with and without clipping.
func TestDeviceStepMatchesHostStep(t *testing.T) {
	c := tinyConfig(3, 5, 5)
	split := randomSplit(rand.New(rand.NewPCG(8, 8)), c, 24)
	for _, tc := range []struct {
		name      string
		optimizer string
		clip      float64
	}{{"adam", "adam", 0}, {"adam clipped", "adam", 1e-3}, {"rmsprop clipped", "rmsprop", 1e-3}, {"rmsprop", "rmsprop", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultTrainOptions()
			o.Batch, o.Optimizer, o.Clip = 4, tc.optimizer, tc.clip
			var trainers [2]*Trainer
			for i := range trainers {
				m, err := NewModel(cpu.New(), c, 3)
				if err != nil {
					t.Fatal(err)
				}
				if trainers[i], err = NewTrainer(m, split, o); err != nil {
					t.Fatal(err)
				}
			}
			host, dev := trainers[0], trainers[1]
			host.HostStep = true
			for step := 1; step <= 8; step++ {
				want, err := host.TrainStep()
				if err != nil {
					t.Fatal(err)
				}
				got, err := dev.TrainStep()
				if err != nil {
					t.Fatal(err)
				}
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("step %d: %v bits/dim, host step %v", step, got, want)
				}
			}
			if mode := dev.StepMode(); mode != "device scalars, plain launches" {
				t.Errorf("step mode %q", mode)
			}
			sameTensors(t, "weights", paramsHost(t, dev.Model), paramsHost(t, host.Model))
			for s := range host.state {
				for i := range host.state[s] {
					sameTensors(t, "optimiser state", [][]float32{hostOf(t, dev.Model.B, dev.state[s][i])},
						[][]float32{hostOf(t, host.Model.B, host.state[s][i])})
				}
			}
		})
	}
}

func sameTensors(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	for i := range want {
		for k := range want[i] {
			if math.Float32bits(got[i][k]) != math.Float32bits(want[i][k]) {
				t.Fatalf("%s: tensor %d element %d = %v, want %v bit for bit", what, i, k, got[i][k], want[i][k])
			}
		}
	}
}

// countingRecorder is the CPU backend counting what the trainer records and replays, and
// refusing, inside a replay, every op that reads a result back to the host or takes its
// constants from the host: a CUDA graph capture cannot contain them (the recorded step would
// fall back to plain launches, with only a notice to show for it).
type countingRecorder struct {
	*cpu.Backend
	records, replays int
	inReplay         bool
	hostOps          []string
}

func (c *countingRecorder) hostOp(name string) error {
	if c.inReplay {
		c.hostOps = append(c.hostOps, name)
		return fmt.Errorf("%s inside a recorded step", name)
	}
	return nil
}

func (c *countingRecorder) SoftmaxXent(logits, x, dlogits *nn.Tensor, scale float32) (float64, error) {
	if err := c.hostOp("SoftmaxXent"); err != nil {
		return 0, err
	}
	return c.Backend.SoftmaxXent(logits, x, dlogits, scale)
}

func (c *countingRecorder) SumSquares(ts []*nn.Tensor) (float64, error) {
	if err := c.hostOp("SumSquares"); err != nil {
		return 0, err
	}
	return c.Backend.SumSquares(ts)
}

func (c *countingRecorder) ToHost(dst []float32, t *nn.Tensor) error {
	if err := c.hostOp("ToHost"); err != nil {
		return err
	}
	return c.Backend.ToHost(dst, t)
}

func (c *countingRecorder) FromHost(data []float32, shape ...int) (*nn.Tensor, error) {
	if err := c.hostOp("FromHost"); err != nil {
		return nil, err
	}
	return c.Backend.FromHost(data, shape...)
}

func (c *countingRecorder) AdamStep(params, grads, m, v []*nn.Tensor, h nn.AdamStep) error {
	if err := c.hostOp("AdamStep"); err != nil {
		return err
	}
	return c.Backend.AdamStep(params, grads, m, v, h)
}

func (c *countingRecorder) ReadStep(s *nn.StepScalars) (nn.StepReport, error) {
	if err := c.hostOp("ReadStep"); err != nil {
		return nn.StepReport{}, err
	}
	return c.Backend.ReadStep(s)
}

type recordedCall struct {
	r  *countingRecorder
	fn func() error
}

func (c *countingRecorder) Record(fn func() error) (nn.Replayer, error) {
	c.records++
	return recordedCall{c, fn}, nil
}

func (r recordedCall) Replay() error {
	r.r.replays++
	r.r.inReplay = true
	defer func() { r.r.inReplay = false }()
	return r.fn()
}
func (recordedCall) Release() {}

// TestDeviceStepRecordsOnce: the first step runs plainly (it makes every buffer), the second
// records the step and every later one replays it; replacing a parameter tensor (whose
// address a recorded graph holds) or changing an option it holds (the clip) makes the
// trainer start again.
func TestDeviceStepRecordsOnce(t *testing.T) {
	c := tinyConfig(1, 4, 4)
	b := &countingRecorder{Backend: cpu.New()}
	m, err := NewModel(b, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultTrainOptions()
	o.Batch = 2
	tr, err := NewTrainer(m, randomSplit(rand.New(rand.NewPCG(2, 2)), c, 8), o)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Release()
	steps := func(n int) {
		t.Helper()
		for range n {
			if _, err := tr.TrainStep(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name             string
		steps            int
		replaceParam     bool
		changeClip       bool
		records, replays int
	}{
		{"first step: plain", 1, false, false, 0, 0},
		{"second: recorded and replayed", 1, false, false, 1, 1},
		{"then replayed", 3, false, false, 1, 4},
		{"a parameter replaced: plain again", 1, true, false, 1, 4},
		{"then recorded again", 2, false, false, 2, 6},
		{"--clip changed: plain again", 1, false, true, 2, 6},
		{"then recorded again", 1, false, false, 3, 7},
	} {
		if tc.changeClip {
			tr.Opt.Clip = 0.5
		}
		if tc.replaceParam {
			w := m.Layers[0].W
			old := w.Value
			if w.Value, err = b.FromHost(hostOf(t, b, old), old.Shape...); err != nil {
				t.Fatal(err)
			}
			b.Release(old)
		}
		steps(tc.steps)
		if b.records != tc.records || b.replays != tc.replays {
			t.Errorf("%s: %d records, %d replays; want %d, %d", tc.name, b.records, b.replays, tc.records, tc.replays)
		}
	}
	if len(b.hostOps) > 0 {
		t.Errorf("host ops inside the recorded step: %v", b.hostOps)
	}
}
