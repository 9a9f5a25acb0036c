package pixelcnn

import (
	"context"
	"errors"
	"fmt"
	"math"

	"pixelcnn/nn"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/dist"
)

// TrainOptions are the optimiser settings. Adam with lr 1e-3, betas 0.9/0.999, eps 1e-8 and
// the lr multiplied by 0.999995 after every step is the default (PixelCNN++ and the seed);
// RMSProp is the paper's choice.
type TrainOptions struct {
	Optimizer string  `json:"optimizer"` // "adam" or "rmsprop"
	LR        float64 `json:"lr"`
	LRDecay   float64 `json:"lr_decay"` // multiplied into the lr after every step
	Clip      float64 `json:"clip"`     // global gradient-norm clip; 0 disables
	Batch     int     `json:"batch"`
	Seed      uint64  `json:"seed"` // data order (and, for a new model, the initial weights)
	Beta1     float64 `json:"beta1"`
	Beta2     float64 `json:"beta2"`
	Eps       float64 `json:"eps"`
	RMSDecay  float64 `json:"rms_decay"`
	// Shards splits every batch into this many contiguous shards whose gradients are summed
	// in shard order (shards.go); 0 or 1 is the plain step. It changes the float32 sums, so it
	// is part of what a run is, like the batch.
	Shards int `json:"shards,omitempty"`
	// Reduce is how the shards of many processes are summed: "" or "exact" (in shard order,
	// bit-reproducible), "fast" (the native allreduce; dist.Fast).
	Reduce string `json:"reduce,omitempty"`
	// EMA is the decay of the Polyak average of the weights (average.go), the model that is
	// evaluated, sampled and saved; 0: none, the trained weights are the model.
	EMA float64 `json:"ema,omitempty"`
}

// DefaultTrainOptions returns the defaults described on TrainOptions, batch 16 (the paper's).
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Optimizer: "adam", LR: 1e-3, LRDecay: 0.999995, Batch: 16, Seed: 1,
		Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, RMSDecay: 0.95}
}

// Validate reports a clear error for impossible settings.
func (o TrainOptions) Validate() error {
	switch {
	case o.Optimizer != "adam" && o.Optimizer != "rmsprop":
		return fmt.Errorf("optimizer %q: want adam or rmsprop", o.Optimizer)
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return fmt.Errorf("lr %v must be positive", o.LR)
	case !(o.LRDecay > 0 && o.LRDecay <= 1):
		return fmt.Errorf("lr decay %v must be in (0, 1]", o.LRDecay)
	case !(o.Clip >= 0) || math.IsInf(o.Clip, 0):
		return fmt.Errorf("clip %v must be a finite number >= 0", o.Clip)
	case o.Batch < 1:
		return fmt.Errorf("batch %d must be >= 1", o.Batch)
	case !(o.Beta1 >= 0 && o.Beta1 < 1):
		return fmt.Errorf("beta1 %v must be in [0, 1)", o.Beta1)
	case !(o.Beta2 >= 0 && o.Beta2 < 1):
		return fmt.Errorf("beta2 %v must be in [0, 1)", o.Beta2)
	case !(o.Eps > 0) || math.IsInf(o.Eps, 0):
		return fmt.Errorf("eps %v must be a finite number > 0", o.Eps)
	case !(o.RMSDecay >= 0 && o.RMSDecay < 1):
		return fmt.Errorf("rms decay %v must be in [0, 1)", o.RMSDecay)
	}
	if err := validateEMA(o.EMA); err != nil {
		return err
	}
	return o.validateShards()
}

// ErrNonFinite is returned (wrapped) when a step's loss, or with clipping its gradients' sum of
// squares, is NaN or Inf; the weights are left as they were before that step.
var ErrNonFinite = errors.New("not finite")

// Trainer owns the optimiser state and the data order; Step is the number of completed
// steps and LR the rate the next step uses. Everything needed to continue exactly is saved in
// a checkpoint.
type Trainer struct {
	Model *Model
	Opt   TrainOptions
	Step  int
	LR    float64

	// RunID names the run that writes this trainer's checkpoints (cmd/train's run directory);
	// it is saved with the training state so that a checkpoint copied between runs is told apart.
	RunID string

	// HostStep makes every step read its loss and gradient norm back to the host between its
	// ops (the reference path), even on a backend that keeps them on the device and records
	// the step (nn.StepRecorder, trainstep.go). Both give the same values bit for bit.
	HostStep bool

	split   data.Split
	batcher *data.Batcher
	shard   *shardStep     // the sharded step (Opt.Shards > 1, or a world of many); nil: the plain one
	state   [][]*nn.Tensor // adam: m, v; rmsprop: ms (one tensor per parameter)
	graph   *nn.Graph
	host    []float32
	labels  []int32     // the batch's labels (conditional models), else nil
	device  *deviceStep // the step on the device, made at the first step that uses it
	// avg is the Polyak average of the weights (Opt.EMA > 0; Params order) and avgModel the
	// model that reads it; both nil without an average.
	avg      []*nn.Tensor
	avgModel *Model
}

// NewTrainer starts training m on split with fresh optimiser state.
func NewTrainer(m *Model, split data.Split, opt TrainOptions) (*Trainer, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if m.Conditional() && split.Labels == nil {
		return nil, fmt.Errorf("train split: a class-conditional model needs the dataset's labels, and this split has none")
	}
	bt, err := data.NewBatcher(split.N, opt.Batch, opt.Seed)
	if err != nil {
		return nil, fmt.Errorf("train split: %w", err)
	}
	t := &Trainer{Model: m, Opt: opt, LR: opt.LR, split: split, batcher: bt, graph: nn.NewGraph(m.B)}
	slots := 2
	if opt.Optimizer == "rmsprop" {
		slots = 1
	}
	_, params := m.Params()
	t.state = make([][]*nn.Tensor, slots)
	for s := range t.state {
		for _, p := range params {
			t.state[s] = append(t.state[s], m.B.New(p.Value.Shape...))
		}
	}
	t.host = make([]float32, opt.Batch*m.Config.Subpixels())
	if m.Conditional() {
		t.labels = make([]int32, opt.Batch)
	}
	if opt.Shards > 1 {
		if err := t.SetWorld(dist.Single{}); err != nil {
			return nil, err
		}
	}
	if err := t.initAverage(); err != nil {
		return nil, err
	}
	return t, nil
}

// StateNames are the checkpoint name prefixes of the optimiser slots.
func (t *Trainer) StateNames() []string {
	if t.Opt.Optimizer == "rmsprop" {
		return []string{"optim.ms."}
	}
	return []string{"optim.m.", "optim.v."}
}

// checkpointPrefixes are the checkpoint name prefixes of the optimiser's tensors: its slots
// (StateNames) and, for a run with an average, then the trained weights (WeightsPrefix).
func (t *Trainer) checkpointPrefixes() []string {
	if t.avg == nil {
		return t.StateNames()
	}
	return append(t.StateNames(), WeightsPrefix)
}

// OptimizerState returns the optimiser's tensors, slot by slot (StateNames order), each slot
// in Params order.
func (t *Trainer) OptimizerState() []*nn.Tensor {
	var ts []*nn.Tensor
	for _, slot := range t.state {
		ts = append(ts, slot...)
	}
	return ts
}

// Epoch is the number of completed passes over the training split.
func (t *Trainer) Epoch() float64 {
	return float64(t.Step) / float64(t.batcher.BatchesPerEpoch())
}

// TrainStep runs one step on the next batch and returns its loss in bits/dim. On a non-finite
// loss (or, with clipping, gradient norm) it returns ErrNonFinite and leaves the weights,
// optimiser state, step and data position unchanged, so a retry (e.g. after lowering the lr)
// sees the same batch. On a backend that can keep the step's scalars on the device
// (nn.StepRecorder) the step is queued whole and recorded (trainstep.go), unless HostStep.
func (t *Trainer) TrainStep() (float64, error) {
	state := t.batcher.State()
	idx := t.batcher.Next()
	var bpd float64
	var err error
	if t.shard != nil {
		bpd, err = t.shardTrainStep(idx)
	} else {
		bpd, err = t.plainTrainStep(idx)
	}
	if errors.Is(err, ErrNonFinite) {
		_ = t.batcher.Restore(state)
	}
	if err != nil {
		return bpd, err
	}
	t.Step++
	t.LR *= t.Opt.LRDecay
	return bpd, t.updateAverage()
}

// plainTrainStep is the step of one process on the whole batch idx.
func (t *Trainer) plainTrainStep(idx []int) (float64, error) {
	c := t.Model.Config
	t.split.Fill(t.host, idx, c.Height, c.Width, c.Colors)
	if t.labels != nil {
		t.split.FillLabels(t.labels, idx)
	}
	// A recorded step holds its launches' arguments, and the labels are host values that
	// change every step: a conditional model steps with host ops.
	if rec, ok := t.Model.B.(nn.StepRecorder); ok && !t.HostStep && t.labels == nil {
		return t.deviceTrainStep(rec)
	}
	return t.hostTrainStep()
}

// nonFinite is the error of a step whose loss (nats) or gradients' sum of squares (ss) is
// not finite.
func (t *Trainer) nonFinite(nats, ss float64, subpixels int) (float64, error) {
	bpd := BitsPerDim(nats, subpixels)
	if !finite(nats) {
		return bpd, fmt.Errorf("step %d: loss %w (%v bits/dim)", t.Step+1, ErrNonFinite, bpd)
	}
	return bpd, fmt.Errorf("step %d: gradient norm %w (sum of squares %v; loss %v bits/dim)", t.Step+1, ErrNonFinite, ss, bpd)
}

// hostTrainStep is the step with its scalars read to the host between ops: the loss before
// the backward pass, the sum of squares before clipping.
func (t *Trainer) hostTrainStep() (float64, error) {
	m, b := t.Model, t.Model.B
	c := m.Config
	xt, err := b.FromHost(t.host, t.Opt.Batch, c.Height, c.Width, c.Colors)
	if err != nil {
		return 0, err
	}
	g := t.graph
	defer func() { g.Release(); b.Release(xt) }()
	if err := m.ZeroGrad(); err != nil {
		return 0, err
	}
	nats, err := m.Loss(g, nn.Constant(xt), t.labels)
	if err != nil {
		return 0, err
	}
	if !finite(nats) {
		return t.nonFinite(nats, 0, xt.Len())
	}
	if err := g.Backward(); err != nil {
		return 0, err
	}
	return t.update(nats, xt.Len())
}

// update clips the gradients (the parameters' Grad tensors, of the mean loss over the batch's
// subpixels, whose summed NLL is nats) and applies the optimiser step.
func (t *Trainer) update(nats float64, subpixels int) (float64, error) {
	b := t.Model.B
	done := t.graph.Range("optimizer")
	defer done()
	values, grads := t.paramLists()
	if t.Opt.Clip > 0 {
		ss, err := b.SumSquares(grads)
		if err != nil {
			return 0, err
		}
		if !finite(ss) {
			return t.nonFinite(nats, ss, subpixels)
		}
		if norm := math.Sqrt(ss); norm > t.Opt.Clip {
			if err := b.Scale(grads, float32(t.Opt.Clip/norm)); err != nil {
				return 0, err
			}
		}
	}
	var err error
	if t.Opt.Optimizer == "rmsprop" {
		lr, eps := t.stepConstants()
		err = b.RMSPropStep(values, grads, t.state[0], nn.RMSPropStep{LR: lr, Decay: float32(t.Opt.RMSDecay), Eps: eps})
	} else {
		err = b.AdamStep(values, grads, t.state[0], t.state[1], t.adamStep())
	}
	if err != nil {
		return 0, err
	}
	return BitsPerDim(nats, subpixels), nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// paramLists returns every parameter's value and gradient tensor, in Params order.
func (t *Trainer) paramLists() (values, grads []*nn.Tensor) {
	_, params := t.Model.Params()
	values = make([]*nn.Tensor, len(params))
	grads = make([]*nn.Tensor, len(params))
	for i, p := range params {
		values[i], grads[i] = p.Value, p.Grad
	}
	return values, grads
}

// adamStep is the next step's Adam hyper-parameters.
func (t *Trainer) adamStep() nn.AdamStep {
	return nn.AdamStep{LR: float32(t.LR), Beta1: float32(t.Opt.Beta1), Beta2: float32(t.Opt.Beta2),
		Eps: float32(t.Opt.Eps), Step: t.Step + 1}
}

// stepConstants are the next update's step size and epsilon: for Adam with the bias
// corrections folded in (nn.AdamStep.Folded), for RMSProp as set.
func (t *Trainer) stepConstants() (lr, eps float32) {
	if t.Opt.Optimizer == "rmsprop" {
		return float32(t.LR), float32(t.Opt.Eps)
	}
	return t.adamStep().Folded()
}

// Release frees the optimiser state and the recorded step.
func (t *Trainer) Release() {
	t.device.release()
	t.device = nil
	for _, slot := range t.state {
		for _, s := range slot {
			t.Model.B.Release(s)
		}
	}
	t.releaseAverage()
}

// Evaluate returns the NLL of the first limit images of split (all when limit <= 0), in file
// order, in bits/dim over all their subpixels and in nats per image.
func Evaluate(m *Model, split data.Split, limit, batch int) (bitsPerDim, natsPerImage float64, err error) {
	return EvaluateContext(context.Background(), m, split, limit, batch, nil)
}

// EvaluateContext is Evaluate that returns ctx's error between batches once ctx is done (an
// interrupted evaluation stops within one batch) and, when progress is not nil, calls it after
// every batch with the images evaluated so far and the total.
func EvaluateContext(ctx context.Context, m *Model, split data.Split, limit, batch int, progress func(done, total int)) (bitsPerDim, natsPerImage float64, err error) {
	n := split.N
	if limit > 0 {
		n = min(n, limit)
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("evaluate: no images")
	}
	if batch < 1 {
		return 0, 0, fmt.Errorf("evaluate: batch %d must be >= 1", batch)
	}
	total, err := EvaluateRange(ctx, m, split, 0, n, batch, progress)
	if err != nil {
		return 0, 0, err
	}
	return BitsPerDim(total, n*m.Config.Subpixels()), total / float64(n), nil
}

// EvaluateRange returns the summed NLL in nats of images from..to-1 of split, in batches of
// batch in file order (a rank's part of a split evaluation; 0 for an empty range). progress,
// when not nil, gets the images done in the range and its size after every batch.
func EvaluateRange(ctx context.Context, m *Model, split data.Split, from, to, batch int, progress func(done, total int)) (float64, error) {
	if from < 0 || to > split.N || from > to {
		return 0, fmt.Errorf("evaluate: images %d..%d of a split of %d", from, to, split.N)
	}
	if batch < 1 {
		return 0, fmt.Errorf("evaluate: batch %d must be >= 1", batch)
	}
	c := m.Config
	if m.Conditional() && split.Labels == nil {
		return 0, fmt.Errorf("evaluate: a class-conditional model needs the dataset's labels, and this split has none")
	}
	g := nn.NewGraph(m.B)
	g.NoGrad = true
	defer g.Range("eval")()
	host := make([]float32, batch*c.Subpixels())
	var labels []int32
	var total float64
	for start := from; start < to; start += batch {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		idx := make([]int, min(batch, to-start))
		for i := range idx {
			idx[i] = start + i
		}
		split.Fill(host[:len(idx)*c.Subpixels()], idx, c.Height, c.Width, c.Colors)
		xt, err := m.B.FromHost(host[:len(idx)*c.Subpixels()], len(idx), c.Height, c.Width, c.Colors)
		if err != nil {
			return 0, err
		}
		if m.Conditional() {
			labels = make([]int32, len(idx))
			split.FillLabels(labels, idx)
		}
		nats, err := m.Loss(g, nn.Constant(xt), labels)
		g.Release()
		m.B.Release(xt)
		if err != nil {
			return 0, err
		}
		total += nats
		if progress != nil {
			progress(start+len(idx)-from, to-from)
		}
	}
	return total, nil
}
