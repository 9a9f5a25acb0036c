//go:build cuda

package cuda

import (
	"fmt"

	"pixelcnn/nn"
)

// AdamStep updates every parameter in one multi-tensor launch (adam_multi_v1). The bias
// corrections are folded into the step size and epsilon in float64 here, then used in float32
// by the kernel, exactly as the CPU reference does.
func (b *Backend) AdamStep(params, grads, m, v []*nn.Tensor, h nn.AdamStep) error {
	if h.Step < 1 {
		return fmt.Errorf("cuda: adam: step %d must be >= 1", h.Step)
	}
	exit, err := b.enterOp("cuda: adam")
	if err != nil {
		return err
	}
	defer exit()
	if len(params) == 0 && len(grads) == 0 && len(m) == 0 && len(v) == 0 {
		return nil
	}
	tab, err := b.table("adam", params, grads, m, v)
	if err != nil || tab.chunks == 0 {
		return err
	}
	lr, eps := h.Folded()
	return b.launch("adam_multi_v1", dim3{tab.chunks, 1, 1}, chunkThread,
		argPtr(tab.dev.ptr), argF32(lr), argF32(h.Beta1), argF32(h.Beta2), argF32(eps))
}

// RMSPropStep updates every parameter in one multi-tensor launch (rmsprop_multi_v1).
func (b *Backend) RMSPropStep(params, grads, ms []*nn.Tensor, h nn.RMSPropStep) error {
	exit, err := b.enterOp("cuda: rmsprop")
	if err != nil {
		return err
	}
	defer exit()
	if len(params) == 0 && len(grads) == 0 && len(ms) == 0 {
		return nil
	}
	tab, err := b.table("rmsprop", params, grads, ms)
	if err != nil || tab.chunks == 0 {
		return err
	}
	return b.launch("rmsprop_multi_v1", dim3{tab.chunks, 1, 1}, chunkThread,
		argPtr(tab.dev.ptr), argF32(h.LR), argF32(h.Decay), argF32(h.Eps))
}
