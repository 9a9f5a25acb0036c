package pixelcnn

import (
	"fmt"
	"slices"

	"pixelcnn/nn"
)

// deviceStep is the training step on a backend that keeps the step's scalars on the device
// (nn.StepRecorder): the batch is uploaded into the same tensor every step, the update's
// per-step constants are written beside the loss, and the whole step (zeroing the gradients,
// forward, loss, backward, clipping, update) is queued with no read to the host and recorded
// once (a CUDA graph), then replayed every step. The host reads the loss, the sum of squares
// and the skip flag once per step, at its end: it needs them to report the loss and to stop
// at a non-finite one before the next step runs, and a read of 32 bytes after the replay
// costs one wait for the GPU, not a launch per op.
//
// The first step runs the ops plainly: it makes every buffer and multi-tensor table the step
// uses, so the capture at the second step only queues launches. The values are those of
// hostTrainStep bit for bit (the same kernels, and the host's float64 arithmetic done on the
// device in the same order; TestDeviceStepMatchesHostStep, cuda's TestRecordedTrainStep).
type deviceStep struct {
	rec    nn.StepRecorder
	b      nn.Backend
	s      *nn.StepScalars
	x      *nn.Tensor // the batch [Batch,H,W,C]
	g      *nn.Graph
	replay nn.Replayer  // nil until the second step
	key    []*nn.Tensor // the tensors, and
	opt    TrainOptions // the settings (clip, betas, decay) the recorded launches hold
	ran    bool         // the step ran plainly once
}

// deviceTrainStep runs one step with the scalars on the device; t.host holds the batch.
func (t *Trainer) deviceTrainStep(rec nn.StepRecorder) (float64, error) {
	if err := t.prepareDeviceStep(rec); err != nil {
		return 0, err
	}
	d := t.device
	if err := rec.Upload(d.x, t.host); err != nil {
		return 0, err
	}
	lr, eps := t.stepConstants()
	if err := rec.SetStepConstants(d.s, lr, eps); err != nil {
		return 0, err
	}
	var err error
	switch {
	case d.replay != nil:
		err = d.replay.Replay()
	case d.ran:
		if d.replay, err = rec.Record(func() error { return t.queueStep(d) }); err == nil {
			err = d.replay.Replay()
		}
	default:
		err = t.queueStep(d)
		d.ran = err == nil
	}
	if err != nil {
		return 0, err
	}
	rep, err := rec.ReadStep(d.s)
	if err != nil {
		return 0, err
	}
	if rep.Skipped {
		return t.nonFinite(rep.Nats, rep.SumSquares, d.x.Len())
	}
	return BitsPerDim(rep.Nats, d.x.Len()), nil
}

// prepareDeviceStep makes t.device, or makes it again when what a recorded step holds changed
// (a parameter or optimiser tensor replaced, an option changed).
func (t *Trainer) prepareDeviceStep(rec nn.StepRecorder) error {
	values, grads := t.paramLists()
	key := slices.Concat(values, grads, t.OptimizerState())
	if d := t.device; d != nil && d.rec == rec && slices.Equal(d.key, key) && d.opt == t.Opt {
		return nil
	}
	t.device.release()
	t.device = nil
	c := t.Model.Config
	s, err := rec.NewStepScalars()
	if err != nil {
		return err
	}
	b := t.Model.B
	x := b.New(t.Opt.Batch, c.Height, c.Width, c.Colors)
	t.device = &deviceStep{rec: rec, b: b, s: s, x: x, g: nn.NewGraph(b), key: key, opt: t.Opt}
	return nil
}

// queueStep queues the whole step: the function recorded into the graph. It releases its
// temporaries at the end (a recording backend keeps them with the graph) and at the start
// (after a failed capture, the next plain call finds them).
func (t *Trainer) queueStep(d *deviceStep) error {
	m, g := t.Model, d.g
	g.Release()
	defer g.Release()
	if err := m.ZeroGrad(); err != nil {
		return err
	}
	x := nn.Constant(d.x)
	logits, err := m.Forward(g, x, nil) // only unconditional models step on the device
	if err != nil {
		return err
	}
	if err := g.SoftmaxXentTo(d.rec, d.s, logits, x, float32(1/float64(d.x.Len()))); err != nil {
		return err
	}
	if err := g.Backward(); err != nil {
		return err
	}
	defer g.Range("optimizer")()
	values, grads := t.paramLists()
	if t.Opt.Clip > 0 {
		if err := d.rec.ClipTo(d.s, grads, t.Opt.Clip); err != nil {
			return err
		}
	}
	if t.Opt.Optimizer == "rmsprop" {
		return d.rec.RMSPropStepFrom(d.s, values, grads, t.state[0], float32(t.Opt.RMSDecay))
	}
	return d.rec.AdamStepFrom(d.s, values, grads, t.state[0], t.state[1], float32(t.Opt.Beta1), float32(t.Opt.Beta2))
}

// StepMode says how TrainStep runs its steps: "host ops", or on the device "recorded"
// (a CUDA graph) or "plain launches" (recording off or failed; the backend said why).
func (t *Trainer) StepMode() string {
	if t.shard != nil {
		return fmt.Sprintf("host ops, %d shards (%d on this rank)", t.shard.shards, len(t.shard.local))
	}
	switch d := t.device; {
	case t.HostStep || d == nil:
		if _, ok := t.Model.B.(nn.StepRecorder); ok && !t.HostStep {
			return "device scalars (no step run yet)"
		}
		return "host ops"
	case d.replay == nil:
		return "device scalars, plain launches"
	default:
		if g, ok := d.replay.(interface{ Graph() bool }); ok && g.Graph() {
			return "device scalars, recorded graph"
		}
		return "device scalars, plain launches"
	}
}

func (d *deviceStep) release() {
	if d == nil {
		return
	}
	if d.replay != nil {
		d.replay.Release()
	}
	d.g.Release()
	d.b.Release(d.x)
	d.rec.ReleaseStepScalars(d.s)
}
