package pixelcnn

import (
	"fmt"
	"math"

	"pixelcnn/nn"
)

// Polyak averaging of the weights (TrainOptions.EMA): the trainer keeps an exponential
// moving average of every parameter, updated after each step, and that average is the model
// it evaluates, samples and saves under the parameters' own names; the weights the optimiser
// steps are saved under WeightsPrefix, beside its slots, for an exact resume. PixelCNN++
// evaluates this way (decay 0.9995): the last steps' noise is averaged out of the weights.

// WeightsPrefix names, in a checkpoint of a run with an average, the optimiser's own
// weights; the parameters' plain names hold the average.
const WeightsPrefix = "optim.weights."

// emaDecay is the decay of the update made after step (1-based): the configured decay, or
// less while few steps have been made ((1+step)/(10+step), TensorFlow's ExponentialMovingAverage
// with num_updates), so that an early average is not dominated by the initial weights.
func emaDecay(decay float64, step int) float64 {
	return min(decay, (1+float64(step))/(10+float64(step)))
}

// validateEMA checks an EMA decay: 0 (off) or in (0, 1).
func validateEMA(d float64) error {
	if d == 0 || (d > 0 && d < 1) {
		return nil
	}
	return fmt.Errorf("ema %v must be 0 (off) or in (0, 1)", d)
}

// initAverage starts the average at the model's current weights.
func (t *Trainer) initAverage() error {
	if t.Opt.EMA == 0 {
		return nil
	}
	b := t.Model.B
	_, params := t.Model.Params()
	t.avg = make([]*nn.Tensor, len(params))
	for i, p := range params {
		t.avg[i] = b.New(p.Value.Shape...)
		if err := b.Copy(t.avg[i], p.Value); err != nil {
			return err
		}
	}
	t.avgModel = t.Model.withValues(t.avg)
	return nil
}

// updateAverage moves the average towards the weights after step t.Step.
func (t *Trainer) updateAverage() error {
	if t.avg == nil {
		return nil
	}
	done := t.graph.Range("average")
	defer done()
	values, _ := t.paramLists()
	w := float32(1 - emaDecay(t.Opt.EMA, t.Step))
	if a, ok := t.Model.B.(nn.Averager); ok {
		return a.Lerp(t.avg, values, w)
	}
	return hostLerp(t.Model.B, t.avg, values, w)
}

// hostLerp is nn.Averager's Lerp through the host, for a backend without it.
func hostLerp(b nn.Backend, dst, src []*nn.Tensor, w float32) error {
	if err := nn.CheckLerp(dst, src, w); err != nil {
		return err
	}
	for i := range dst {
		d := make([]float32, dst[i].Len())
		s := make([]float32, src[i].Len())
		if err := b.ToHost(d, dst[i]); err != nil {
			return err
		}
		if err := b.ToHost(s, src[i]); err != nil {
			return err
		}
		nn.LerpHost(d, s, w)
		t, err := b.FromHost(d, dst[i].Shape...)
		if err != nil {
			return err
		}
		err = b.Copy(dst[i], t)
		b.Release(t)
		if err != nil {
			return err
		}
	}
	return nil
}

// EvalModel is the model to evaluate, sample and save: the average of the weights when the
// run keeps one (TrainOptions.EMA), else the model being trained. The average is a view that
// follows the trainer: it need not be released.
func (t *Trainer) EvalModel() *Model {
	if t.avgModel != nil {
		return t.avgModel
	}
	return t.Model
}

// releaseAverage frees the average's tensors.
func (t *Trainer) releaseAverage() {
	for _, a := range t.avg {
		t.Model.B.Release(a)
	}
	t.avg, t.avgModel = nil, nil
}

// withValues is a model with m's layers and tables whose values are vals (in Params order),
// without gradients: a view for evaluation and sampling.
func (m *Model) withValues(vals []*nn.Tensor) *Model {
	v := newEmptyModel(m.B, m.Config)
	i := 0
	for _, l := range m.Layers {
		nl := &Layer{Spec: l.Spec, W: nn.Constant(vals[i]), B: nn.Constant(vals[i+1])}
		i += 2
		v.Layers = append(v.Layers, nl)
		v.byName[l.Spec.Name] = nl
	}
	for _, tb := range m.Tables {
		v.Tables = append(v.Tables, &Table{Name: tb.Name, T: nn.Constant(vals[i])})
		i++
	}
	return v
}

// AverageSummary says in a few words what the evaluated model is: the weights' average
// (with its decay and the steps over which a step's weight in it halves) or the trained
// weights.
func (t *Trainer) AverageSummary() string {
	if t.Opt.EMA == 0 {
		return "evaluating the trained weights (no average)"
	}
	return fmt.Sprintf("evaluating the weights' average (ema %g, half-life %.0f steps)", t.Opt.EMA, math.Log(0.5)/math.Log(t.Opt.EMA))
}

// UseTrainedWeights replaces the checkpoint's model weights (the average, in a checkpoint of a
// run with one) by the weights the optimiser trained (WeightsPrefix), to see what the average
// is worth. A checkpoint without them is an error: its model is the trained weights.
func (ck *Checkpoint) UseTrainedWeights() error {
	m := ck.Model
	for _, p := range m.params() {
		t, ok := ck.optim[WeightsPrefix+p.name]
		if !ok {
			return fmt.Errorf("checkpoint has no %s* tensors (its run kept no average of the weights, so its model is the trained weights)", WeightsPrefix)
		}
		h := t.Data
		if p.conv != nil {
			h = fromTorch(h, *p.conv)
		}
		if len(h) != p.v.Value.Len() {
			return fmt.Errorf("checkpoint: tensor %s has %d values, its parameter %d", t.Name, len(h), p.v.Value.Len())
		}
		src, err := m.B.FromHost(h, p.v.Value.Shape...)
		if err != nil {
			return err
		}
		err = m.B.Copy(p.v.Value, src)
		m.B.Release(src)
		if err != nil {
			return err
		}
	}
	return nil
}
