package nn

// Backend runs the PixelCNN ops on one device. The granularity is what a GPU fuses: a masked
// convolution carries its bias and ReLU, the loss is one fused softmax + cross-entropy +
// gradient pass, and each optimizer is one update over all parameters.
//
// Conventions: activations are NHWC; conv weights are [K, K, In, Out] (see ConvSpec) with
// every masked entry exactly 0; gradient outputs accumulate (+=) so that a tensor read by
// several ops gets the sum of their gradients, and are zeroed once per step by the caller.
// Ops validate their arguments with nn's checks (validate.go: CheckConv, CheckCopy,
// CheckTemperature, ...), so every backend accepts and refuses the same calls, and return an
// error naming the layer; they never panic on bad arguments and never write to their inputs.
type Backend interface {
	Name() string

	// New returns a zero-filled tensor. FromHost copies data into a new tensor.
	New(shape ...int) *Tensor
	FromHost(data []float32, shape ...int) (*Tensor, error)
	// ToHost copies t into dst, which must have t.Len() elements.
	ToHost(dst []float32, t *Tensor) error
	// Release hands t's storage back to the backend's pool; t must not be used afterwards.
	Release(t *Tensor)
	// Zero sets every element of t to 0; Zero(nil) does nothing.
	Zero(t *Tensor)
	// Copy copies src into dst (same element count; nil is an error).
	Copy(dst, src *Tensor) error

	// MaskedConv computes y = act(conv(x, w) + b) over x [N,H,W,In] into y [N,H,W,Out],
	// where act is ReLU when spec.ReLU. Only unmasked taps are computed; w's masked entries
	// are never read. Every argument is required: a nil bias is an error (pass zeros).
	MaskedConv(spec ConvSpec, y, x, w, b *Tensor) error
	// MaskedConvBackward takes dy (the gradient at y) and y (the op's output, whose sign gives
	// the fused ReLU's mask), and accumulates dx += dL/dx, dw += dL/dw (unmasked entries
	// only), db += dL/db. Any of dx, dw, db may be nil when not needed.
	MaskedConvBackward(spec ConvSpec, dx, dw, db, dy, x, w, y *Tensor) error

	// MaskedConvAt computes the op at one position only: y [N,1,1,Out] = act(conv(x, w) + b)
	// at (i, j) of x [N,H,W,In], reading x only at (i, j) and its unmasked taps. It is the
	// cached sampler's step and must give the same values MaskedConv gives at (i, j) at FP32.
	// It computes in FP32 at every Precision (a backend at TF32 rounds only MaskedConv's and
	// MaskedConvBackward's operands): the cached sampler then draws the naive sampler's FP32
	// images bit for bit, and a one-position pass is latency-bound, so tensor cores would buy
	// nothing. (A 1x1 conv of a [N,1,1,In] vector is MaskedConvAt at (0, 0).)
	MaskedConvAt(spec ConvSpec, y, x, w, b *Tensor, i, j int) error
	// SetPosition writes src [N,1,1,F] into dst [N,H,W,F] at (i, j).
	SetPosition(dst, src *Tensor, i, j int) error

	// ReLU computes y = max(x, 0); ReLUBackward accumulates dx += dy * (y > 0).
	ReLU(y, x *Tensor) error
	ReLUBackward(dx, dy, y *Tensor) error
	// Add computes y = a + b; AddInto accumulates dst += src.
	Add(y, a, b *Tensor) error
	AddInto(dst, src *Tensor) error

	// SoftmaxXent is the fused loss: logits [N,H,W,C*256] (channel k is colour k/256, value
	// k%256), x [N,H,W,C] the input image in [0,1] whose subpixel targets are round(255*x).
	// It returns the summed negative log-likelihood in nats over all N*H*W*C subpixels and,
	// when dlogits is not nil, writes dlogits = scale * (softmax(logits) - onehot(target)).
	SoftmaxXent(logits, x, dlogits *Tensor, scale float32) (float64, error)

	// SumSquares returns the sum of squares of all elements of ts (for gradient clipping).
	SumSquares(ts []*Tensor) (float64, error)
	// Scale multiplies every element of every tensor in ts by s.
	Scale(ts []*Tensor, s float32) error
	// AdamStep and RMSPropStep update every parameter in place from its gradient and state.
	AdamStep(params, grads, m, v []*Tensor, h AdamStep) error
	RMSPropStep(params, grads, ms []*Tensor, h RMSPropStep) error

	// SampleCategorical draws one value in [0,256) per row of logits. logits is viewed as
	// len(out) rows of equal length; row r's distribution is softmax(logits[r][offset :
	// offset+256] / temperature); temperature must be finite and > 0 (CheckTemperature:
	// +Inf would be uniform noise). The uniform for row r is Uniform(seed, counter, r), so all
	// backends draw the same values.
	SampleCategorical(out []int32, logits *Tensor, offset int, temperature float32, seed, counter uint64) error
}

// FreshGradConv is an optional extension of Backend: MaskedConvBackwardFresh is
// MaskedConvBackward with dx written instead of accumulated into (dx = dL/dx whatever dx
// held; dw and db accumulate as usual), for a gradient nothing has written yet: the graph
// then needs no zero-filled tensor for it (one clearing pass and one read fewer). The values
// are those of MaskedConvBackward into a zeroed dx, bit for bit.
type FreshGradConv interface {
	MaskedConvBackwardFresh(spec ConvSpec, dx, dw, db, dy, x, w, y *Tensor) error
}

// ResidualConv is an optional extension of Backend: MaskedConvResidual is MaskedConv
// (y = act(conv(x, w) + b)) that also writes sum = res + y in the same pass: a residual
// block's last conv and its residual add in one launch. The values are those of MaskedConv
// then Add(sum, res, y), bit for bit.
type ResidualConv interface {
	MaskedConvResidual(spec ConvSpec, y, sum, x, w, b, res *Tensor) error
}

// MultiZeroer is an optional extension of Backend: ZeroAll sets every element of every tensor
// of ts to 0 in one go (the CUDA backend: one multi-tensor launch instead of a memset per
// tensor, which matters in a recorded train step of many small launches).
type MultiZeroer interface {
	ZeroAll(ts []*Tensor) error
}

// AdamStep holds one Adam update's hyper-parameters. Step is 1-based (bias correction).
type AdamStep struct {
	LR, Beta1, Beta2, Eps float32
	Step                  int
}

// RMSPropStep holds one RMSProp update's hyper-parameters:
// ms = decay*ms + (1-decay)*g^2; p -= lr * g / (sqrt(ms) + eps).
type RMSPropStep struct {
	LR, Decay, Eps float32
}

// PerImageLoss is an optional extension of Backend: SoftmaxXentPerImage returns the summed
// NLL in nats of each image of the batch (SoftmaxXent's sum split by the leading dimension),
// with no gradient: what a generative classifier compares across classes.
type PerImageLoss interface {
	SoftmaxXentPerImage(logits, x *Tensor) ([]float64, error)
}

// RowOffsetSampler is an optional extension of Backend: SampleCategoricalFrom is
// SampleCategorical with its rows numbered from row0 (row r's uniform is
// Uniform(seed, counter, row0+r)), so that a group of images drawn on its own draws what
// the whole batch would (the cached sampler's groups, one per CPU worker).
type RowOffsetSampler interface {
	SampleCategoricalFrom(out []int32, logits *Tensor, offset int, temperature float32, seed, counter uint64, row0 int) error
}
