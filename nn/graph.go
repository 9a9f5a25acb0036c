package nn

import "fmt"

// Var is a value in a Graph with its gradient. Parameters are Vars whose Grad persists across
// steps (zeroed by the optimizer's caller once per step); activations' Grads are temporaries
// the Graph allocates on first use and releases with Release.
type Var struct {
	Value     *Tensor
	Grad      *Tensor
	NeedsGrad bool
}

// Graph is the autograd tape: a Wengert list. Each op runs forward at once and appends a
// backward closure; Backward runs them in reverse recording order, which is already a
// topological order, so there is no graph search. A Graph is used for one step (forward,
// Backward, Release) and then reused.
type Graph struct {
	B      Backend
	NoGrad bool // evaluation: record nothing, allocate no gradients
	nodes  []node
	temps  []*Tensor
	ranger func(string) func()
}

type node struct {
	name     string
	backward func() error
}

// Ranger is implemented by backends that can mark named ranges on a profiler timeline
// (the CUDA backend's NVTX ranges). Range pushes a range and returns the function that pops it.
type Ranger interface {
	Range(name string) func()
}

// NewGraph returns an empty tape on backend b.
func NewGraph(b Backend) *Graph {
	g := &Graph{B: b}
	if r, ok := b.(Ranger); ok {
		g.ranger = r.Range
	}
	return g
}

// Range marks a named phase (forward, backward, a layer) for profilers; a no-op on the CPU.
func (g *Graph) Range(name string) func() {
	if g.ranger == nil {
		return func() {}
	}
	return g.ranger(name)
}

// Param wraps a persistent parameter tensor and its gradient accumulator.
func Param(value, grad *Tensor) *Var { return &Var{Value: value, Grad: grad, NeedsGrad: true} }

// Constant wraps a tensor that needs no gradient (the input image, usually).
func Constant(value *Tensor) *Var { return &Var{Value: value} }

// Input wraps a tensor whose gradient is wanted (causality and gradient checks); its Grad is
// a temporary allocated on first use.
func (g *Graph) Input(value *Tensor) *Var { return &Var{Value: value, NeedsGrad: !g.NoGrad} }

func (g *Graph) newTemp(shape ...int) *Tensor {
	t := g.B.New(shape...)
	g.temps = append(g.temps, t)
	return t
}

// UninitAllocator is implemented by backends that can hand out a tensor without clearing it.
// The graph uses it for op outputs, which every op overwrites in full.
type UninitAllocator interface {
	NewUninit(shape ...int) *Tensor
}

func (g *Graph) newVar(needsGrad bool, shape ...int) *Var {
	return &Var{Value: g.newUninit(shape...), NeedsGrad: needsGrad && !g.NoGrad}
}

// newUninit returns a temporary the caller overwrites in full: not cleared where the backend
// can skip that (UninitAllocator).
func (g *Graph) newUninit(shape ...int) *Tensor {
	if u, ok := g.B.(UninitAllocator); ok {
		t := u.NewUninit(shape...)
		g.temps = append(g.temps, t)
		return t
	}
	return g.newTemp(shape...)
}

// grad returns v's gradient tensor, allocating a zeroed temporary on first use.
func (g *Graph) grad(v *Var) *Tensor {
	if v.Grad == nil {
		v.Grad = g.newTemp(v.Value.Shape...)
	}
	return v.Grad
}

func (g *Graph) record(name string, backward func() error) {
	if !g.NoGrad {
		g.nodes = append(g.nodes, node{name, backward})
	}
}

// MaskedConv is y = act(maskedconv(x, w) + b) (see Backend.MaskedConv).
func (g *Graph) MaskedConv(spec ConvSpec, x, w, b *Var) (*Var, error) {
	xs := x.Value.Shape
	if len(xs) != 4 {
		return nil, fmt.Errorf("layer %q: input shape %v, want [N,H,W,%d]", spec.Name, xs, spec.In)
	}
	y := g.newVar(x.NeedsGrad || w.NeedsGrad || b.NeedsGrad, xs[0], xs[1], xs[2], spec.Out)
	if err := g.B.MaskedConv(spec, y.Value, x.Value, w.Value, b.Value); err != nil {
		return nil, err
	}
	if y.NeedsGrad {
		g.record(spec.Name, func() error {
			if y.Grad == nil {
				return nil // nothing downstream used y
			}
			return g.convBackward(spec, x, w, b, y.Value, y.Grad)
		})
	}
	return y, nil
}

// convBackward runs a conv's backward from dy, the gradient at its output y.
func (g *Graph) convBackward(spec ConvSpec, x, w, b *Var, y, dy *Tensor) error {
	var dx, dw, db *Tensor
	var fresh FreshGradConv // set when dx is a new gradient the backward writes whole
	if x.NeedsGrad {
		if f, ok := g.B.(FreshGradConv); ok && x.Grad == nil {
			x.Grad, fresh = g.newUninit(x.Value.Shape...), f
		}
		dx = g.grad(x)
	}
	if w.NeedsGrad {
		dw = g.grad(w)
	}
	if b.NeedsGrad {
		db = g.grad(b)
	}
	if fresh != nil {
		return fresh.MaskedConvBackwardFresh(spec, dx, dw, db, dy, x.Value, w.Value, y)
	}
	return g.B.MaskedConvBackward(spec, dx, dw, db, dy, x.Value, w.Value, y)
}

// MaskedConvResidual is Add(res, MaskedConv(spec, x, w, b)): a residual block's last conv
// and its residual connection. On a backend that fuses them (ResidualConv) it is one op
// forward, and backward the conv reads the sum's gradient directly (the conv's output has
// no other use) while res takes it as its own, as Add's backward would: no copy, no add.
// Elsewhere, and when res is the conv's own input (whose gradient the conv's backward adds
// into: it cannot also be the sum's gradient the conv reads), it is the two ops. The values
// are the same either way.
func (g *Graph) MaskedConvResidual(spec ConvSpec, x, w, b, res *Var) (*Var, error) {
	rc, ok := g.B.(ResidualConv)
	if !ok || res == x {
		y, err := g.MaskedConv(spec, x, w, b)
		if err != nil {
			return nil, err
		}
		return g.Add(res, y)
	}
	xs := x.Value.Shape
	if len(xs) != 4 {
		return nil, fmt.Errorf("layer %q: input shape %v, want [N,H,W,%d]", spec.Name, xs, spec.In)
	}
	convGrad := x.NeedsGrad || w.NeedsGrad || b.NeedsGrad
	y := g.newUninit(xs[0], xs[1], xs[2], spec.Out) // the conv's output: its ReLU mask
	sum := g.newVar(convGrad || res.NeedsGrad, xs[0], xs[1], xs[2], spec.Out)
	if err := rc.MaskedConvResidual(spec, y, sum.Value, x.Value, w.Value, b.Value, res.Value); err != nil {
		return nil, err
	}
	if sum.NeedsGrad {
		g.record(spec.Name+" + residual", func() error {
			if sum.Grad == nil {
				return nil
			}
			if convGrad {
				if err := g.convBackward(spec, x, w, b, y, sum.Grad); err != nil {
					return err
				}
			}
			// After the conv's backward read sum.Grad: res's gradient may now take it (or
			// add it), and later ops accumulate into it, as after Add's backward.
			if !res.NeedsGrad {
				return nil
			}
			if res.Grad == nil {
				res.Grad = sum.Grad
				return nil
			}
			return g.B.AddInto(res.Grad, sum.Grad)
		})
	}
	return sum, nil
}

// ReLU is y = max(x, 0).
func (g *Graph) ReLU(x *Var) (*Var, error) {
	y := g.newVar(x.NeedsGrad, x.Value.Shape...)
	if err := g.B.ReLU(y.Value, x.Value); err != nil {
		return nil, err
	}
	if y.NeedsGrad {
		g.record("relu", func() error {
			if y.Grad == nil {
				return nil
			}
			return g.B.ReLUBackward(g.grad(x), y.Grad, y.Value)
		})
	}
	return y, nil
}

// Add is y = a + b (the residual connection).
func (g *Graph) Add(a, b *Var) (*Var, error) {
	y := g.newVar(a.NeedsGrad || b.NeedsGrad, a.Value.Shape...)
	if err := g.B.Add(y.Value, a.Value, b.Value); err != nil {
		return nil, err
	}
	if y.NeedsGrad {
		g.record("add", func() error {
			if y.Grad == nil {
				return nil
			}
			// y.Grad is final here (every consumer of y was recorded after this op, so its
			// backward already ran) and nothing reads it afterwards. So the first input with no
			// gradient yet can take y.Grad itself instead of a zeroed copy plus an add; the
			// other input is accumulated into first, while y.Grad is still unchanged, or, with
			// no gradient yet either, gets a copy of it (not zeros plus an add).
			var alias *Var
			for _, v := range []*Var{a, b} {
				if !v.NeedsGrad {
					continue
				}
				if alias == nil && v.Grad == nil && a != b {
					alias = v
					continue
				}
				if v.Grad == nil {
					v.Grad = g.newUninit(y.Grad.Shape...)
					if err := g.B.Copy(v.Grad, y.Grad); err != nil {
						return err
					}
					continue
				}
				if err := g.B.AddInto(v.Grad, y.Grad); err != nil {
					return err
				}
			}
			if alias != nil {
				alias.Grad = y.Grad
			}
			return nil
		})
	}
	return y, nil
}

// SoftmaxXent returns the summed NLL in nats of the image x under logits. When logits needs
// a gradient, the fused pass also writes scale*(softmax - onehot) into its gradient: the loss
// is the root of the tape, so there is nothing to accumulate with and no node to record.
func (g *Graph) SoftmaxXent(logits, x *Var, scale float32) (float64, error) {
	return g.B.SoftmaxXent(logits.Value, x.Value, g.lossGrad(logits), scale)
}

// SoftmaxXentTo is SoftmaxXent with the summed NLL kept in s on the device
// (StepRecorder.SoftmaxXentTo) instead of returned.
func (g *Graph) SoftmaxXentTo(r StepRecorder, s *StepScalars, logits, x *Var, scale float32) error {
	return r.SoftmaxXentTo(s, logits.Value, x.Value, g.lossGrad(logits), scale)
}

// lossGrad returns the gradient tensor the loss writes for logits (nil when none is needed).
// The loss writes every element of it, so a fresh one is not cleared first (on the GPU, the
// logits are the step's largest tensor).
func (g *Graph) lossGrad(logits *Var) *Tensor {
	if !logits.NeedsGrad {
		return nil
	}
	if logits.Grad == nil {
		logits.Grad = g.newUninit(logits.Value.Shape...)
	}
	return logits.Grad
}

// Backward runs the recorded backward closures in reverse order.
func (g *Graph) Backward() error {
	defer g.Range("backward")()
	for i := len(g.nodes) - 1; i >= 0; i-- {
		if err := g.nodes[i].backward(); err != nil {
			return fmt.Errorf("backward %s: %w", g.nodes[i].name, err)
		}
	}
	return nil
}

// Release returns every temporary to the backend and empties the tape. Vars created by the
// graph must not be used afterwards; Inputs' Grads are released too.
func (g *Graph) Release() {
	for _, t := range g.temps {
		g.B.Release(t)
	}
	g.temps = g.temps[:0]
	g.nodes = g.nodes[:0]
}
