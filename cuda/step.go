//go:build cuda

package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/nn"
)

// The training step with its scalars on the device (nn.StepRecorder; kernels/step.cu): the
// loss and the clipping end in a one-block kernel that adds the partials in order and does
// the host's float64 arithmetic, the updates read their constants from device memory, and
// nothing is read back until ReadStep. So the whole step can be captured into one CUDA graph.

// stepScalarsBytes is the size of kernels/step.cu's StepScalars: nats and sum_squares
// (float64 at 0 and 8), lr, eps and clip_scale (float32 at 16, 20, 24), skip (int32 at 28).
const (
	stepScalarsBytes = 32
	stepLROffset     = 16
	stepBlock        = 256 // step_loss_v1 and step_clip_v1: one block
)

var _ nn.StepRecorder = (*Backend)(nil)

func stepBuf(s *nn.StepScalars) (*devBuf, error) {
	if s == nil {
		return nil, fmt.Errorf("cuda: nil step scalars")
	}
	d, ok := s.Device.(*devBuf)
	if !ok || d == nil || d.released {
		return nil, fmt.Errorf("cuda: step scalars have no live CUDA storage")
	}
	return d, nil
}

// NewStepScalars allocates a step's scalars (kept across steps: not from a free list).
func (b *Backend) NewStepScalars() (*nn.StepScalars, error) {
	exit, err := b.enterOp("cuda: step scalars")
	if err != nil {
		return nil, err
	}
	defer exit()
	d, err := b.allocLastingBuf(stepScalarsBytes / 4)
	if err != nil {
		return nil, fmt.Errorf("cuda: step scalars: %w", err)
	}
	if err := b.memset(d); err != nil {
		b.freeBuf(d)
		return nil, err
	}
	return &nn.StepScalars{Device: d}, nil
}

// ReleaseStepScalars hands the scalars' buffer back to the pool.
func (b *Backend) ReleaseStepScalars(s *nn.StepScalars) {
	if s == nil {
		return
	}
	if d, ok := s.Device.(*devBuf); ok && d != nil {
		b.mu.Lock()
		b.freeBuf(d)
		b.mu.Unlock()
	}
	s.Device = nil
}

// Upload copies src into dst. The copy runs on the legacy stream, which waits for the work
// queued on the launch stream (a blocking stream) and is waited for by the work queued after.
func (b *Backend) Upload(dst *nn.Tensor, src []float32) error {
	d, err := buf("cuda: upload", dst)
	if err != nil {
		return err
	}
	if len(src) != d.n {
		return fmt.Errorf("cuda: upload: %d values for tensor %v", len(src), dst.Shape)
	}
	exit, err := b.enterOp("cuda: upload")
	if err != nil {
		return err
	}
	defer exit()
	if d.n == 0 {
		return nil
	}
	if err := cu.MemcpyHtoD(d.ptr, unsafe.Pointer(&src[0]), int64(d.n)*4); err != nil {
		return fmt.Errorf("cuda: upload %v: %w", dst.Shape, err)
	}
	return nil
}

// SetStepConstants writes lr and eps into s (ordered as Upload is).
func (b *Backend) SetStepConstants(s *nn.StepScalars, lr, eps float32) error {
	d, err := stepBuf(s)
	if err != nil {
		return err
	}
	exit, err := b.enterOp("cuda: step constants")
	if err != nil {
		return err
	}
	defer exit()
	v := [2]float32{lr, eps}
	if err := cu.MemcpyHtoD(d.ptr+stepLROffset, unsafe.Pointer(&v[0]), 8); err != nil {
		return fmt.Errorf("cuda: step constants: %w", err)
	}
	return nil
}

// SoftmaxXentTo is SoftmaxXent with the sum added on the device (step_loss_v1) into s.
func (b *Backend) SoftmaxXentTo(s *nn.StepScalars, logits, x, dlogits *nn.Tensor, scale float32) error {
	d, err := stepBuf(s)
	if err != nil {
		return err
	}
	exit, err := b.enterOp("cuda: softmax xent")
	if err != nil {
		return err
	}
	defer exit()
	partial, blocks, err := b.xentPartials(logits, x, dlogits, scale)
	if err != nil {
		return err
	}
	defer b.freeBuf(partial)
	var p cu.DevicePtr
	if partial != nil {
		p = partial.ptr
	}
	return b.launch("step_loss_v1", dim3{1, 1, 1}, stepBlock, argPtr(d.ptr), argPtr(p), argInt(blocks))
}

// ClipTo is the host's clipping on the device: the sum of squares' partials (the kernel of
// SumSquares), step_clip_v1 for the factor, scale_multi_v2 for the multiply.
func (b *Backend) ClipTo(s *nn.StepScalars, grads []*nn.Tensor, clip float64) error {
	d, err := stepBuf(s)
	if err != nil {
		return err
	}
	if !(clip > 0) || math.IsInf(clip, 0) {
		return fmt.Errorf("cuda: clip %v must be positive and finite", clip)
	}
	exit, err := b.enterOp("cuda: clip")
	if err != nil {
		return err
	}
	defer exit()
	partial, chunks, err := b.sumSquaresPartials(grads)
	if err != nil || chunks == 0 {
		return err
	}
	defer b.freeBuf(partial)
	if err := b.launch("step_clip_v1", dim3{1, 1, 1}, stepBlock, argPtr(d.ptr), argPtr(partial.ptr), argInt(chunks), argF64(clip)); err != nil {
		return err
	}
	tab, err := b.table("scale", grads)
	if err != nil {
		return err
	}
	return b.launch("scale_multi_v2", dim3{tab.chunks, 1, 1}, chunkThread, argPtr(tab.dev.ptr), argPtr(d.ptr))
}

// AdamStepFrom is AdamStep (adam_multi_v2) with lr_t and eps_t read from s.
func (b *Backend) AdamStepFrom(s *nn.StepScalars, params, grads, m, v []*nn.Tensor, beta1, beta2 float32) error {
	return b.updateFrom(s, "adam", "adam_multi_v2", [][]*nn.Tensor{params, grads, m, v}, argF32(beta1), argF32(beta2))
}

// RMSPropStepFrom is RMSPropStep (rmsprop_multi_v2) with lr and eps read from s.
func (b *Backend) RMSPropStepFrom(s *nn.StepScalars, params, grads, ms []*nn.Tensor, decay float32) error {
	return b.updateFrom(s, "rmsprop", "rmsprop_multi_v2", [][]*nn.Tensor{params, grads, ms}, argF32(decay))
}

func (b *Backend) updateFrom(s *nn.StepScalars, op, kernel string, lists [][]*nn.Tensor, args ...uint64) error {
	d, err := stepBuf(s)
	if err != nil {
		return err
	}
	exit, err := b.enterOp("cuda: " + op)
	if err != nil {
		return err
	}
	defer exit()
	if len(lists[0]) == 0 {
		return nil
	}
	tab, err := b.table(op, lists...)
	if err != nil || tab.chunks == 0 {
		return err
	}
	return b.launch(kernel, dim3{tab.chunks, 1, 1}, chunkThread, append([]uint64{argPtr(tab.dev.ptr), argPtr(d.ptr)}, args...)...)
}

// ReadStep waits for the queued work (a device-to-host copy does) and returns s's values.
func (b *Backend) ReadStep(s *nn.StepScalars) (nn.StepReport, error) {
	d, err := stepBuf(s)
	if err != nil {
		return nn.StepReport{}, err
	}
	exit, err := b.enterOp("cuda: read step")
	if err != nil {
		return nn.StepReport{}, err
	}
	defer exit()
	var raw [stepScalarsBytes]byte
	if err := cu.MemcpyDtoH(unsafe.Pointer(&raw[0]), d.ptr, stepScalarsBytes); err != nil {
		return nn.StepReport{}, fmt.Errorf("cuda: reading the step's scalars (or an earlier kernel failed; rerun with PIXELCNN_CUDA_DEBUG=1): %w", err)
	}
	le := binary.LittleEndian
	return nn.StepReport{
		Nats:       math.Float64frombits(le.Uint64(raw[0:])),
		SumSquares: math.Float64frombits(le.Uint64(raw[8:])),
		Skipped:    le.Uint32(raw[28:]) != 0,
	}, nil
}
