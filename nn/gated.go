package nn

import "fmt"

// GatedOps is the optional extension of Backend that the gated PixelCNN (van den Oord et al.
// 2016b) and class-conditional models need beyond the masked convolutions (whose Region and
// Dilation cover the gated stacks): the gate, ELU, and the class bias.
// Outputs are written in full; gradients accumulate (+=) like every backward in Backend.
type GatedOps interface {
	// Gate computes y = tanh(a) * sigmoid(g) over x [..., 2F] into y [..., F]. The last
	// dimension of x is Colors contiguous colour groups of 2F/Colors features: in each group
	// the first half is a and the second half g, and group j of y (F/Colors features) is
	// group j's gate, so the colour structure of a masked net is kept.
	Gate(y, x *Tensor, colors int) error
	// GateBackward accumulates dx += dL/dx from dy (the gradient at y) and x.
	GateBackward(dx, dy, x *Tensor, colors int) error
	// ELU computes y = x for x > 0, exp(x) - 1 otherwise; ELUBackward accumulates
	// dx += dy * (1 if y > 0 else y + 1), the derivative written with the output.
	ELU(y, x *Tensor) error
	ELUBackward(dx, dy, y *Tensor) error
	// AddClassBias computes y = x + table[labels[n]] over x [N,H,W,F] with table
	// [Classes, F]: image n's features get its class's row at every position (the
	// conditional bias). ClassBiasBackward accumulates dtable[labels[n]] += the sum of dy over
	// image n's positions.
	AddClassBias(y, x, table *Tensor, labels []int32) error
	ClassBiasBackward(dtable, dy *Tensor, labels []int32) error
}

// CheckGate validates a Gate or GateBackward call: x [..., 2F] with 2F split into colors
// groups of an even size, y [..., F] with x's leading dimensions, none nil.
func CheckGate(y, x *Tensor, colors int) error {
	if y == nil || x == nil {
		return fmt.Errorf("gate: nil tensor")
	}
	if len(x.Shape) == 0 || colors < 1 {
		return fmt.Errorf("gate: input shape %v, %d colours", x.Shape, colors)
	}
	f2 := x.Shape[len(x.Shape)-1]
	if f2%(2*colors) != 0 {
		return fmt.Errorf("gate: %d input features do not split into %d colour groups of value and gate halves", f2, colors)
	}
	want := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), f2/2)
	return CheckShape("gate: output", y.Shape, want)
}

// CheckSameShape validates an elementwise op over tensors of one shape, none nil.
func CheckSameShape(op string, ts ...*Tensor) error {
	for _, t := range ts {
		if t == nil {
			return fmt.Errorf("%s: nil tensor", op)
		}
	}
	for _, t := range ts[1:] {
		if err := CheckShape(op, t.Shape, ts[0].Shape); err != nil {
			return err
		}
	}
	return nil
}

// CheckClassBias validates AddClassBias (y, x [N,H,W,F]) and ClassBiasBackward (x nil, y the
// gradient): table [Classes, F], one label per image, each in [0, Classes).
func CheckClassBias(y, x, table *Tensor, labels []int32) error {
	if y == nil || table == nil {
		return fmt.Errorf("class bias: nil tensor")
	}
	if len(y.Shape) != 4 || len(table.Shape) != 2 || table.Shape[1] != y.Shape[3] {
		return fmt.Errorf("class bias: table %v for features %v, want [classes, F] with F the last dimension", table.Shape, y.Shape)
	}
	if x != nil {
		if err := CheckShape("class bias: input", x.Shape, y.Shape); err != nil {
			return err
		}
	}
	if len(labels) != y.Shape[0] {
		return fmt.Errorf("class bias: %d labels for %d images", len(labels), y.Shape[0])
	}
	for n, l := range labels {
		if l < 0 || int(l) >= table.Shape[0] {
			return fmt.Errorf("class bias: image %d has label %d, want 0..%d", n, l, table.Shape[0]-1)
		}
	}
	return nil
}

// GatedOpsOf returns b's GatedOps or an error naming the op (what) the backend lacks.
func GatedOpsOf(b Backend, op string) (GatedOps, error) {
	if o, ok := b.(GatedOps); ok {
		return o, nil
	}
	return nil, fmt.Errorf("%s: backend %s has no %s op (gated and class-conditional models run with --device cpu in this build)", op, b.Name(), op)
}

func (g *Graph) gated(op string) (GatedOps, error) { return GatedOpsOf(g.B, op) }

// Gate is y = tanh(a) * sigmoid(g) per colour group (GatedOps.Gate).
func (g *Graph) Gate(x *Var, colors int) (*Var, error) {
	o, err := g.gated("gate")
	if err != nil {
		return nil, err
	}
	s := append([]int(nil), x.Value.Shape...)
	if len(s) > 0 {
		s[len(s)-1] /= 2
	}
	y := g.newVar(x.NeedsGrad, s...)
	if err := o.Gate(y.Value, x.Value, colors); err != nil {
		return nil, err
	}
	if y.NeedsGrad {
		g.record("gate", func() error {
			if y.Grad == nil {
				return nil
			}
			return o.GateBackward(g.grad(x), y.Grad, x.Value, colors)
		})
	}
	return y, nil
}

// ELU is y = x for x > 0, exp(x) - 1 otherwise.
func (g *Graph) ELU(x *Var) (*Var, error) {
	o, err := g.gated("elu")
	if err != nil {
		return nil, err
	}
	y := g.newVar(x.NeedsGrad, x.Value.Shape...)
	if err := o.ELU(y.Value, x.Value); err != nil {
		return nil, err
	}
	if y.NeedsGrad {
		g.record("elu", func() error {
			if y.Grad == nil {
				return nil
			}
			return o.ELUBackward(g.grad(x), y.Grad, y.Value)
		})
	}
	return y, nil
}

// AddClassBias is y = x + table[labels[n]] for image n (the conditional bias).
func (g *Graph) AddClassBias(x, table *Var, labels []int32) (*Var, error) {
	o, err := g.gated("class bias")
	if err != nil {
		return nil, err
	}
	y := g.newVar(x.NeedsGrad || table.NeedsGrad, x.Value.Shape...)
	if err := o.AddClassBias(y.Value, x.Value, table.Value, labels); err != nil {
		return nil, err
	}
	labels = append([]int32(nil), labels...) // the backward reads them after the caller moved on
	if y.NeedsGrad {
		g.record("class bias", func() error {
			if y.Grad == nil {
				return nil
			}
			if table.NeedsGrad {
				if err := o.ClassBiasBackward(g.grad(table), y.Grad, labels); err != nil {
					return err
				}
			}
			if !x.NeedsGrad {
				return nil
			}
			if x.Grad == nil { // dx = dy: x may take y's gradient, as after Add
				x.Grad = y.Grad
				return nil
			}
			return g.B.AddInto(x.Grad, y.Grad)
		})
	}
	return y, nil
}
