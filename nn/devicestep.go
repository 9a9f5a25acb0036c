package nn

import "math"

// StepRecorder is an optional extension of Backend for training on a GPU: the scalars of a
// step (the loss, the gradients' sum of squares and clip factor, the optimizer's per-step
// constants, a skip flag) stay in device memory, so that a whole step (forward, loss,
// backward, clipping, update) is queued with no read to the host, recorded once with Record
// and replayed every step (a CUDA graph). The host reads the step's scalars once, at its end
// (ReadStep). Every value is the one the host-side ops give (SoftmaxXent, SumSquares, Scale,
// AdamStep, RMSPropStep): the same kernels, and the host's float64 arithmetic done in the
// same order on the device. A backend without it trains with those host-side ops.
type StepRecorder interface {
	Recorder
	// NewStepScalars allocates a step's scalars; ReleaseStepScalars frees them.
	NewStepScalars() (*StepScalars, error)
	ReleaseStepScalars(s *StepScalars)
	// Upload copies src into the existing tensor dst (len(src) == dst.Len()), after the work
	// already queued that uses dst.
	Upload(dst *Tensor, src []float32) error
	// SetStepConstants writes the update's per-step constants into s, queued before the work
	// that follows: for Adam the bias-corrected lr and eps (AdamStep.Folded), for RMSProp the
	// lr and eps.
	SetStepConstants(s *StepScalars, lr, eps float32) error
	// SoftmaxXentTo is SoftmaxXent with the summed NLL written into s on the device; a
	// non-finite sum sets s's skip flag (and a finite one clears it: it starts the step).
	SoftmaxXentTo(s *StepScalars, logits, x, dlogits *Tensor, scale float32) error
	// ClipTo is the host's clipping on the device: ss = SumSquares(grads) into s; a
	// non-finite ss sets the skip flag; otherwise, with norm = sqrt(ss) > clip, every gradient
	// is multiplied by float32(clip/norm) (the division and root in float64, as on the host).
	ClipTo(s *StepScalars, grads []*Tensor, clip float64) error
	// AdamStepFrom and RMSPropStepFrom are AdamStep and RMSPropStep with the per-step
	// constants read from s, doing nothing when s's skip flag is set.
	AdamStepFrom(s *StepScalars, params, grads, m, v []*Tensor, beta1, beta2 float32) error
	RMSPropStepFrom(s *StepScalars, params, grads, ms []*Tensor, decay float32) error
	// ReadStep waits for the queued work and returns s's values.
	ReadStep(s *StepScalars) (StepReport, error)
}

// StepScalars are a step's scalars in backend memory; Device is the backend's handle.
type StepScalars struct {
	Device any
}

// StepReport is what ReadStep returns: the summed NLL in nats, the gradients' sum of squares
// (0 when the step did not clip), and whether the update was skipped because the loss or the
// gradient norm was not finite.
type StepReport struct {
	Nats, SumSquares float64
	Skipped          bool
}

// Folded returns Adam's step size and epsilon with the bias corrections folded in, computed
// in float64 and rounded once: lr*sqrt(1-b2^t)/(1-b1^t) and eps*sqrt(1-b2^t), so that
// p -= lr_t * m / (sqrt(v) + eps_t) equals the textbook mhat / (sqrt(vhat) + eps). Every
// backend uses it, so all compute the same float32 constants.
func (h AdamStep) Folded() (lr, eps float32) {
	c1 := 1 - math.Pow(float64(h.Beta1), float64(h.Step))
	c2 := math.Sqrt(1 - math.Pow(float64(h.Beta2), float64(h.Step)))
	return float32(float64(h.LR) * c2 / c1), float32(float64(h.Eps) * c2)
}
