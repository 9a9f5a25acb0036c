package pixelcnn

import (
	"fmt"
	"time"

	"pixelcnn/nn"
	"pixelcnn/pixelcnn/dist"
)

// The sharded step: the global batch (Opt.Batch images) is split into S = Opt.Shards
// contiguous shards, in order; each shard's gradient is computed on its own (forward and
// backward on its images, with the loss scaled by 1/(global batch subpixels), so that the
// shard gradients sum to the gradient of the mean loss over the global batch); the S
// gradients are summed in shard order (dist.SumInOrder) and one optimiser step follows.
//
// With a world of R processes (SetWorld), rank r computes shards r*S/R .. (r+1)*S/R-1 only
// and the dist.Reducer combines them with the same float32 additions, so an R-rank run is
// bit-identical to one process with Shards = S: the weights, the optimiser state and the data
// order (every rank draws the same global batches) are the same on every rank. R must divide
// S, which is how a run goes on exactly on another rank count: a checkpoint of S shards
// resumes on any R that divides S.

// validateShards checks Shards and Reduce against the batch.
func (o TrainOptions) validateShards() error {
	switch {
	case o.Shards < 0:
		return fmt.Errorf("shards %d must be >= 0", o.Shards)
	case o.Shards > 1 && o.Batch%o.Shards != 0:
		return fmt.Errorf("batch %d is not divisible by %d shards (each shard takes batch/shards images)", o.Batch, o.Shards)
	case o.Reduce != "" && o.Reduce != string(dist.Exact) && o.Reduce != string(dist.Fast):
		return fmt.Errorf("reduce %q: want exact or fast", o.Reduce)
	}
	return nil
}

// shardStep is the sharded step's world and buffers: this rank's shards' gradients, one flat
// vector each (the parameters' gradients in Params order), their sum, and one shard's images.
type shardStep struct {
	comm    dist.Comm
	reducer *dist.Reducer
	shards  int // S, over all ranks
	first   int // the first shard this rank computes
	local   [][]float32
	sum     []float32
	host    []float32     // one shard's images
	labels  []int32       // one shard's labels (conditional models)
	reduced time.Duration // spent in the reductions (waiting for the other ranks included)
}

// SetWorld makes the trainer step in the world c: rank c.Rank() computes its share of the
// Opt.Shards shards (all of them in a world of one). A world of many needs Shards to be a
// multiple of its size.
func (t *Trainer) SetWorld(c dist.Comm) error {
	shards := max(1, t.Opt.Shards)
	if shards%c.Size() != 0 {
		return fmt.Errorf("%d shards cannot be split evenly over %d ranks: the rank count must divide the shard count", shards, c.Size())
	}
	if shards == 1 {
		t.shard = nil // the plain step
		return nil
	}
	t.shard = newShardStep(t, c, shards)
	return nil
}

func newShardStep(t *Trainer, c dist.Comm, shards int) *shardStep {
	mode := dist.Reduction(t.Opt.Reduce)
	if mode == "" {
		mode = dist.Exact
	}
	perRank := shards / c.Size()
	perShard := t.Opt.Batch / shards
	s := &shardStep{comm: c, reducer: &dist.Reducer{Comm: c, Mode: mode}, shards: shards, first: c.Rank() * perRank,
		host: make([]float32, perShard*t.Model.Config.Subpixels())}
	n := t.gradientLen()
	for range perRank {
		s.local = append(s.local, make([]float32, n))
	}
	s.sum = make([]float32, n)
	if t.Model.Conditional() {
		s.labels = make([]int32, perShard)
	}
	return s
}

// gradientLen is the number of floats in all the parameters' gradients.
func (t *Trainer) gradientLen() int {
	_, grads := t.paramLists()
	n := 0
	for _, g := range grads {
		n += g.Len()
	}
	return n
}

// shardTrainStep runs the sharded step on the global batch idx.
func (t *Trainer) shardTrainStep(idx []int) (float64, error) {
	s := t.shard
	per := len(idx) / s.shards
	nats := make([]float64, len(s.local))
	for k := range s.local {
		j := s.first + k
		var err error
		if nats[k], err = t.shardGradient(idx[j*per:(j+1)*per], s.local[k]); err != nil {
			return 0, fmt.Errorf("step %d: shard %d: %w", t.Step+1, j, err)
		}
	}
	// Every rank takes part in both reductions before any decides about this step, so that
	// a non-finite loss stops all of them at the same step.
	start := time.Now()
	all, err := dist.GatherFloat64(s.comm, nats)
	if err != nil {
		return 0, fmt.Errorf("step %d: the shards' losses: %w", t.Step+1, err)
	}
	if err := s.reducer.Sum(s.sum, s.local); err != nil {
		return 0, fmt.Errorf("step %d: the shards' gradients: %w", t.Step+1, err)
	}
	s.reduced += time.Since(start)
	total := sumInOrder(all)
	subpixels := len(idx) * t.Model.Config.Subpixels()
	if !finite(total) {
		return t.nonFinite(total, 0, subpixels)
	}
	if err := t.setGradients(s.sum); err != nil {
		return 0, err
	}
	return t.update(total, subpixels)
}

// sumInOrder is the float64 sum of vs, left to right (the shards' losses, in shard order).
func sumInOrder(vs []float64) float64 {
	total := vs[0]
	for _, v := range vs[1:] {
		total += v
	}
	return total
}

// shardGradient computes one shard's gradient (of its summed NLL divided by the global
// batch's subpixels) into dst and returns the shard's summed NLL in nats.
func (t *Trainer) shardGradient(idx []int, dst []float32) (float64, error) {
	m, b, s := t.Model, t.Model.B, t.shard
	c := m.Config
	t.split.Fill(s.host, idx, c.Height, c.Width, c.Colors)
	if s.labels != nil {
		t.split.FillLabels(s.labels, idx)
	}
	xt, err := b.FromHost(s.host, len(idx), c.Height, c.Width, c.Colors)
	if err != nil {
		return 0, err
	}
	g := t.graph
	defer func() { g.Release(); b.Release(xt) }()
	if err := m.ZeroGrad(); err != nil {
		return 0, err
	}
	x := nn.Constant(xt)
	logits, err := m.Forward(g, x, s.labels)
	if err != nil {
		return 0, err
	}
	scale := float32(1 / float64(t.Opt.Batch*c.Subpixels()))
	nats, err := g.SoftmaxXent(logits, x, scale)
	if err != nil {
		return 0, err
	}
	if err := g.Backward(); err != nil {
		return 0, err
	}
	_, grads := t.paramLists()
	off := 0
	for _, gr := range grads {
		if err := b.ToHost(dst[off:off+gr.Len()], gr); err != nil {
			return 0, err
		}
		off += gr.Len()
	}
	return nats, nil
}

// setGradients writes the flat vector sum (Params order) into the parameters' gradients.
func (t *Trainer) setGradients(sum []float32) error {
	b := t.Model.B
	_, grads := t.paramLists()
	off := 0
	for _, gr := range grads {
		src, err := b.FromHost(sum[off:off+gr.Len()], gr.Shape...)
		if err != nil {
			return err
		}
		err = b.Copy(gr, src)
		b.Release(src)
		if err != nil {
			return err
		}
		off += gr.Len()
	}
	return nil
}

// Shards is the number of shards each global batch is split into (1: the plain step).
func (t *Trainer) Shards() int { return max(1, t.Opt.Shards) }

// World is the number of ranks the trainer steps with (1 without SetWorld).
func (t *Trainer) World() int {
	if t.shard == nil {
		return 1
	}
	return t.shard.comm.Size()
}

// ReduceTime is the time this trainer's sharded steps spent in the reductions, waiting for
// the other ranks included (0 for the plain step).
func (t *Trainer) ReduceTime() time.Duration {
	if t.shard == nil {
		return 0
	}
	return t.shard.reduced
}
