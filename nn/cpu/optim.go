package cpu

import (
	"fmt"
	"math"

	"pixelcnn/nn"
)

func checkParamLists(op string, params []*nn.Tensor, others ...[]*nn.Tensor) error {
	for _, o := range others {
		if len(o) != len(params) {
			return fmt.Errorf("cpu: %s: %d parameters but %d state tensors", op, len(params), len(o))
		}
		for i := range o {
			if len(o[i].Host) != len(params[i].Host) {
				return fmt.Errorf("cpu: %s: parameter %d shape %v, state %v", op, i, params[i].Shape, o[i].Shape)
			}
		}
	}
	return nil
}

// AdamStep implements nn.Backend in float32 arithmetic, with the bias corrections folded into
// the step size: p -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps*sqrt(1-b2^t)), which equals
// the textbook mhat / (sqrt(vhat) + eps).
func (b *Backend) AdamStep(params, grads, m, v []*nn.Tensor, h nn.AdamStep) error {
	if err := checkParamLists("adam", params, grads, m, v); err != nil {
		return err
	}
	if h.Step < 1 {
		return fmt.Errorf("cpu: adam: step %d must be >= 1", h.Step)
	}
	lr, eps := h.Folded()
	b.adam(params, grads, m, v, lr, eps, h.Beta1, h.Beta2)
	return nil
}

// adam is the update with the folded step size lr and epsilon eps.
func (b *Backend) adam(params, grads, m, v []*nn.Tensor, lr, eps, b1, b2 float32) {
	for i, p := range params {
		ph, gh, mh, vh := p.Host, grads[i].Host, m[i].Host, v[i].Host
		b.elementwise(len(ph), func(lo, hi int) {
			for k := lo; k < hi; k++ {
				g := gh[k]
				mk := b1*mh[k] + (1-b1)*g
				vk := b2*vh[k] + (1-b2)*g*g
				mh[k], vh[k] = mk, vk
				ph[k] -= lr * mk / (float32(math.Sqrt(float64(vk))) + eps)
			}
		})
	}
}

// RMSPropStep implements nn.Backend: ms = decay*ms + (1-decay)*g^2; p -= lr*g/(sqrt(ms)+eps).
func (b *Backend) RMSPropStep(params, grads, ms []*nn.Tensor, h nn.RMSPropStep) error {
	if err := checkParamLists("rmsprop", params, grads, ms); err != nil {
		return err
	}
	for i, p := range params {
		ph, gh, sh := p.Host, grads[i].Host, ms[i].Host
		b.elementwise(len(ph), func(lo, hi int) {
			for k := lo; k < hi; k++ {
				g := gh[k]
				s := h.Decay*sh[k] + (1-h.Decay)*g*g
				sh[k] = s
				ph[k] -= h.LR * g / (float32(math.Sqrt(float64(s))) + h.Eps)
			}
		})
	}
	return nil
}
