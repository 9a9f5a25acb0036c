package cpu

import (
	"math"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu/vec"
)

// The gated PixelCNN's elementwise ops (nn.GatedOps). Each output element depends on its own
// inputs only, so the work splits over positions with no reduction, except the class bias's
// backward, which sums each image's positions in order on one goroutine (deterministic, and
// small: one add per activation).

// Gate implements nn.GatedOps: in each colour group of a row, out = tanh(a) * sigmoid(g)
// (vec.Gate).
func (b *Backend) Gate(y, x *nn.Tensor, colors int) error {
	if err := nn.CheckGate(y, x, colors); err != nil {
		return err
	}
	f2 := x.Shape[len(x.Shape)-1]
	half := f2 / colors / 2 // a (then g) features per colour group
	b.rowwise(len(x.Host)/f2, f2, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for c := 0; c < colors; c++ {
				a := x.Host[r*f2+2*c*half:][:half]
				vec.Gate(y.Host[r*f2/2+c*half:][:half], a, x.Host[r*f2+(2*c+1)*half:][:half])
			}
		}
	})
	return nil
}

// GateBackward implements nn.GatedOps: da += dy (1 - tanh^2 a) sigmoid g,
// dg += dy tanh a sigmoid g (1 - sigmoid g) (vec.GateGrad, recomputing tanh and sigmoid).
func (b *Backend) GateBackward(dx, dy, x *nn.Tensor, colors int) error {
	if err := nn.CheckGate(dy, x, colors); err != nil {
		return err
	}
	if err := nn.CheckSameShape("gate backward: input gradient", dx, x); err != nil {
		return err
	}
	f2 := x.Shape[len(x.Shape)-1]
	half := f2 / colors / 2
	b.rowwise(len(x.Host)/f2, f2, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for c := 0; c < colors; c++ {
				ia, ig := r*f2+2*c*half, r*f2+(2*c+1)*half
				vec.GateGrad(dx.Host[ia:][:half], dx.Host[ig:][:half], dy.Host[r*f2/2+c*half:][:half],
					x.Host[ia:][:half], x.Host[ig:][:half])
			}
		}
	})
	return nil
}

// ELU implements nn.GatedOps.
func (b *Backend) ELU(y, x *nn.Tensor) error {
	if err := nn.CheckSameShape("elu", y, x); err != nil {
		return err
	}
	b.elementwise(len(x.Host), func(lo, hi int) {
		for i, v := range x.Host[lo:hi] {
			if v > 0 {
				y.Host[lo+i] = v
			} else {
				y.Host[lo+i] = float32(math.Expm1(float64(v)))
			}
		}
	})
	return nil
}

// ELUBackward implements nn.GatedOps.
func (b *Backend) ELUBackward(dx, dy, y *nn.Tensor) error {
	if err := nn.CheckSameShape("elu backward", dx, dy, y); err != nil {
		return err
	}
	b.elementwise(len(y.Host), func(lo, hi int) {
		for i, v := range y.Host[lo:hi] {
			if v > 0 {
				dx.Host[lo+i] += dy.Host[lo+i]
			} else {
				dx.Host[lo+i] += dy.Host[lo+i] * (v + 1)
			}
		}
	})
	return nil
}

// AddClassBias implements nn.GatedOps.
func (b *Backend) AddClassBias(y, x, table *nn.Tensor, labels []int32) error {
	if err := nn.CheckClassBias(y, x, table, labels); err != nil {
		return err
	}
	f := y.Shape[3]
	per := y.Shape[1] * y.Shape[2] // positions per image
	b.rowwise(len(labels)*per, f, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			row := table.Host[int(labels[p/per])*f:][:f]
			vec.Add(y.Host[p*f:(p+1)*f], x.Host[p*f:(p+1)*f], row)
		}
	})
	return nil
}

// ClassBiasBackward implements nn.GatedOps.
func (b *Backend) ClassBiasBackward(dtable, dy *nn.Tensor, labels []int32) error {
	if err := nn.CheckClassBias(dy, nil, dtable, labels); err != nil {
		return err
	}
	f := dy.Shape[3]
	per := dy.Shape[1] * dy.Shape[2]
	for n, l := range labels {
		row := dtable.Host[int(l)*f:][:f]
		for p := n * per; p < (n+1)*per; p++ {
			vec.AddTo(row, dy.Host[p*f:(p+1)*f])
		}
	}
	return nil
}
