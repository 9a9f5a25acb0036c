package cpu

import (
	"fmt"
	"math"

	"pixelcnn/nn"
)

// The CPU backend implements nn.StepRecorder as the reference of its semantics: the scalars
// are Go values, Record returns a replay that calls fn again, and every op is the host op it
// stands for (SoftmaxXent, SumSquares and Scale, AdamStep and RMSPropStep with their folded
// constants), so a step through it equals the host-side step bit for bit.

var _ nn.StepRecorder = (*Backend)(nil)

// stepScalars is what an nn.StepScalars holds on the CPU.
type stepScalars struct {
	nats, sumSquares float64
	lr, eps          float32
	skip             bool
}

func scalarsOf(s *nn.StepScalars) (*stepScalars, error) {
	if s == nil {
		return nil, fmt.Errorf("cpu: nil step scalars")
	}
	v, ok := s.Device.(*stepScalars)
	if !ok || v == nil {
		return nil, fmt.Errorf("cpu: step scalars have no CPU storage (released, or another backend's)")
	}
	return v, nil
}

// callReplay replays by calling the recorded function again.
type callReplay func() error

func (r callReplay) Replay() error { return r() }
func (callReplay) Release()        {}

// Record returns a replay that calls fn: the CPU runs every op when it is called.
func (b *Backend) Record(fn func() error) (nn.Replayer, error) { return callReplay(fn), nil }

// Synchronize does nothing: the CPU's ops are done when they return.
func (b *Backend) Synchronize() error { return nil }

func (b *Backend) NewStepScalars() (*nn.StepScalars, error) {
	return &nn.StepScalars{Device: &stepScalars{}}, nil
}

func (b *Backend) ReleaseStepScalars(s *nn.StepScalars) {
	if s != nil {
		s.Device = nil
	}
}

func (b *Backend) Upload(dst *nn.Tensor, src []float32) error {
	if dst == nil || len(dst.Host) != dst.Len() {
		return fmt.Errorf("cpu: upload: not a live CPU tensor")
	}
	if len(src) != len(dst.Host) {
		return fmt.Errorf("cpu: upload: %d values for tensor %v", len(src), dst.Shape)
	}
	copy(dst.Host, src)
	return nil
}

func (b *Backend) SetStepConstants(s *nn.StepScalars, lr, eps float32) error {
	v, err := scalarsOf(s)
	if err != nil {
		return err
	}
	v.lr, v.eps = lr, eps
	return nil
}

func (b *Backend) SoftmaxXentTo(s *nn.StepScalars, logits, x, dlogits *nn.Tensor, scale float32) error {
	v, err := scalarsOf(s)
	if err != nil {
		return err
	}
	nats, err := b.SoftmaxXent(logits, x, dlogits, scale)
	if err != nil {
		return err
	}
	v.nats, v.sumSquares, v.skip = nats, 0, !finite(nats)
	return nil
}

func (b *Backend) ClipTo(s *nn.StepScalars, grads []*nn.Tensor, clip float64) error {
	v, err := scalarsOf(s)
	if err != nil {
		return err
	}
	if !(clip > 0) || math.IsInf(clip, 0) {
		return fmt.Errorf("cpu: clip %v must be positive and finite", clip)
	}
	ss, err := b.SumSquares(grads)
	if err != nil {
		return err
	}
	v.sumSquares = ss
	if !finite(ss) {
		v.skip = true
	}
	if norm := math.Sqrt(ss); !v.skip && norm > clip {
		return b.Scale(grads, float32(clip/norm))
	}
	return nil
}

func (b *Backend) AdamStepFrom(s *nn.StepScalars, params, grads, m, v []*nn.Tensor, beta1, beta2 float32) error {
	sc, err := scalarsOf(s)
	if err != nil {
		return err
	}
	if err := checkParamLists("adam", params, grads, m, v); err != nil || sc.skip {
		return err
	}
	b.adam(params, grads, m, v, sc.lr, sc.eps, beta1, beta2)
	return nil
}

func (b *Backend) RMSPropStepFrom(s *nn.StepScalars, params, grads, ms []*nn.Tensor, decay float32) error {
	sc, err := scalarsOf(s)
	if err != nil {
		return err
	}
	if err := checkParamLists("rmsprop", params, grads, ms); err != nil || sc.skip {
		return err
	}
	return b.RMSPropStep(params, grads, ms, nn.RMSPropStep{LR: sc.lr, Decay: decay, Eps: sc.eps})
}

func (b *Backend) ReadStep(s *nn.StepScalars) (nn.StepReport, error) {
	v, err := scalarsOf(s)
	if err != nil {
		return nn.StepReport{}, err
	}
	return nn.StepReport{Nats: v.nats, SumSquares: v.sumSquares, Skipped: v.skip}, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// ZeroAll implements nn.MultiZeroer (Zero on each tensor; a nil list is fine).
func (b *Backend) ZeroAll(ts []*nn.Tensor) error {
	for _, t := range ts {
		b.Zero(t)
	}
	return nil
}
