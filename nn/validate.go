package nn

import (
	"fmt"
	"math"
)

// The argument checks every backend runs before an op, so that all backends accept and
// refuse exactly the same calls with the same messages. A backend calls the op's Check*
// first and then trusts the shapes; what it still checks itself is only what nn cannot see
// (that a tensor's storage is its own, device limits). The checks allocate nothing unless
// they fail: the cached sampler runs them per pixel and layer.

// CheckConv validates a MaskedConv call: x [N,H,W,In], w [K,K,In,Out], b [Out] and
// y [N,H,W,Out], none nil.
func CheckConv(spec ConvSpec, y, x, w, b *Tensor) error {
	if err := checkConvInputs(spec, x, w, b, true); err != nil {
		return err
	}
	if y == nil {
		return fmt.Errorf("layer %q: nil output", spec.Name)
	}
	xs := x.Shape
	if ys := [4]int{xs[0], xs[1], xs[2], spec.Out}; !SameShape(y.Shape, ys[:]) {
		return CheckShape(fmt.Sprintf("layer %q: output", spec.Name), y.Shape, ys[:])
	}
	return nil
}

// CheckConvResidual validates a MaskedConvResidual call: as CheckConv, and res and sum
// shaped like y (none nil).
func CheckConvResidual(spec ConvSpec, y, sum, x, w, b, res *Tensor) error {
	if err := CheckConv(spec, y, x, w, b); err != nil {
		return err
	}
	for i, t := range [2]*Tensor{res, sum} {
		what := [2]string{"residual input", "residual sum"}[i]
		if t == nil {
			return fmt.Errorf("layer %q: nil %s", spec.Name, what)
		}
		if !SameShape(t.Shape, y.Shape) {
			return CheckShape(fmt.Sprintf("layer %q: %s", spec.Name, what), t.Shape, y.Shape)
		}
	}
	return nil
}

// CheckConvBackward validates a MaskedConvBackward call: x, w and y as for MaskedConv, dy
// shaped like y, and each of dx, dw, db nil or shaped like x, w and [Out].
func CheckConvBackward(spec ConvSpec, dx, dw, db, dy, x, w, y *Tensor) error {
	if err := checkConvInputs(spec, x, w, nil, false); err != nil {
		return err
	}
	xs := x.Shape
	ys := [4]int{xs[0], xs[1], xs[2], spec.Out}
	for _, c := range []struct {
		what     string
		t        *Tensor
		want     []int
		optional bool
	}{
		{"output", y, ys[:], false},
		{"output gradient", dy, ys[:], false},
		{"input gradient", dx, xs, true},
		{"weight gradient", dw, spec.WeightShape(), true},
		{"bias gradient", db, []int{spec.Out}, true},
	} {
		if c.t == nil {
			if c.optional {
				continue
			}
			return fmt.Errorf("layer %q: nil %s", spec.Name, c.what)
		}
		if err := CheckShape(fmt.Sprintf("layer %q: %s", spec.Name, c.what), c.t.Shape, c.want); err != nil {
			return err
		}
	}
	return nil
}

// CheckConvAt validates a MaskedConvAt call: x, w, b as for MaskedConv, y [N,1,1,Out] and
// (i, j) inside x's H x W.
func CheckConvAt(spec ConvSpec, y, x, w, b *Tensor, i, j int) error {
	if err := checkConvInputs(spec, x, w, b, true); err != nil {
		return err
	}
	if y == nil {
		return fmt.Errorf("layer %q: nil position output", spec.Name)
	}
	xs := x.Shape
	if ys := [4]int{xs[0], 1, 1, spec.Out}; !SameShape(y.Shape, ys[:]) {
		return CheckShape(fmt.Sprintf("layer %q: position output", spec.Name), y.Shape, ys[:])
	}
	if i < 0 || i >= xs[1] || j < 0 || j >= xs[2] {
		return fmt.Errorf("layer %q: position (%d,%d) outside a %dx%d image", spec.Name, i, j, xs[1], xs[2])
	}
	return nil
}

// checkConvInputs checks the spec, x [N,H,W,In], w [K,K,In,Out] and (when needBias) b [Out].
// A convolution always has a bias: nil is refused rather than read as "no bias".
func checkConvInputs(spec ConvSpec, x, w, b *Tensor, needBias bool) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if x == nil || w == nil {
		return fmt.Errorf("layer %q: nil input or weight", spec.Name)
	}
	if xs := x.Shape; len(xs) != 4 || xs[3] != spec.In || xs[0] < 0 || xs[1] < 0 || xs[2] < 0 {
		return fmt.Errorf("layer %q: input shape %v, want [N,H,W,%d]", spec.Name, xs, spec.In)
	}
	if ws := [4]int{spec.KH(), spec.K, spec.In, spec.Out}; !SameShape(w.Shape, ws[:]) {
		return CheckShape(fmt.Sprintf("layer %q: weight", spec.Name), w.Shape, ws[:])
	}
	if !needBias {
		return nil
	}
	if b == nil {
		return fmt.Errorf("layer %q: nil bias (a convolution always has one; pass zeros for none)", spec.Name)
	}
	if len(b.Shape) != 1 || b.Shape[0] != spec.Out {
		return CheckShape(fmt.Sprintf("layer %q: bias", spec.Name), b.Shape, []int{spec.Out})
	}
	return nil
}

// CheckCopy validates a Copy call: both tensors present with the same number of elements.
func CheckCopy(dst, src *Tensor) error {
	if dst == nil || src == nil {
		return fmt.Errorf("copy: nil tensor")
	}
	if dst.Len() != src.Len() {
		return fmt.Errorf("copy: %v into %v: element counts differ", src.Shape, dst.Shape)
	}
	return nil
}

// CheckTemperature is the one rule for a sampling temperature: finite and > 0. (At +Inf
// every value would be equally likely, which is noise, not a sample of the model.)
func CheckTemperature(temperature float32) error {
	if t := float64(temperature); !(t > 0) || math.IsInf(t, 1) {
		return fmt.Errorf("temperature %v must be finite and > 0", temperature)
	}
	return nil
}

// CheckSample validates a SampleCategorical call: the temperature, that logits split into
// len(out) rows, and that [offset, offset+256) lies inside a row. An empty out is valid
// (nothing to draw) whatever the logits.
func CheckSample(out []int32, logits *Tensor, offset int, temperature float32) error {
	if err := CheckTemperature(temperature); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	if len(out) == 0 {
		return nil
	}
	if logits == nil {
		return fmt.Errorf("sample: nil logits")
	}
	if logits.Len()%len(out) != 0 {
		return fmt.Errorf("sample: %d logits do not split into %d rows", logits.Len(), len(out))
	}
	if rowLen := logits.Len() / len(out); offset < 0 || offset+Levels > rowLen {
		return fmt.Errorf("sample: offset %d outside a row of %d logits", offset, rowLen)
	}
	return nil
}
