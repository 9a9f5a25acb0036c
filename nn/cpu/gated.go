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

// gateValues sets t = tanh(a) and s = sigmoid(g) elementwise in float32, with the
// exponentials e1 = e^-2|a| and e2 = e^-|g| from vec.ExpNegSum (vectorised; the same values as
// vec.ExpNeg, about 1 ulp), so they never overflow: t = sign(a) (1 - e1)/(1 + e1), and
// s = 1/(1 + e2) for g >= 0, e2/(1 + e2) below, both from one reciprocal of
// (1 + e1)(1 + e2). Near a = 0 the subtraction 1 - e1 leaves t an absolute error of about
// 1e-7, far below what a gate's output needs. e is scratch of len(a)+len(g).
func gateValues(t, s, a, g, e []float32) {
	n := len(a)
	g, t, s, e = g[:n], t[:n], s[:n], e[:2*n]
	for k, v := range a {
		e[k] = -2 * abs32(v)
	}
	for k, v := range g {
		e[n+k] = -abs32(v)
	}
	vec.ExpNegSum(e, e, 0)
	for k := range a {
		e1, e2 := e[k], e[n+k]
		p1, p2 := 1+e1, 1+e2
		q := 1 / (p1 * p2)
		th := (1 - e1) * p2 * q
		// Copy a's sign onto t (t >= 0 here).
		t[k] = math.Float32frombits(math.Float32bits(th) | math.Float32bits(a[k])&(1<<31))
		num := e2
		if g[k] >= 0 {
			num = 1
		}
		s[k] = num * p1 * q
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// gateRows runs fn on each colour group of rows [lo, hi) of x [rows, f2] with the group's
// tanh(a) and sigmoid(g) (scratch per call: the rows are split over workers).
func gateRows(x []float32, f2, colors, lo, hi int, fn func(r, c int, t, s []float32)) {
	half := f2 / colors / 2
	buf := make([]float32, 4*half)
	t, s, e := buf[:half], buf[half:2*half], buf[2*half:]
	for r := lo; r < hi; r++ {
		xr := x[r*f2 : (r+1)*f2]
		for c := 0; c < colors; c++ {
			gateValues(t, s, xr[2*c*half:(2*c+1)*half], xr[(2*c+1)*half:(2*c+2)*half], e)
			fn(r, c, t, s)
		}
	}
}

// Gate implements nn.GatedOps.
func (b *Backend) Gate(y, x *nn.Tensor, colors int) error {
	if err := nn.CheckGate(y, x, colors); err != nil {
		return err
	}
	f2 := x.Shape[len(x.Shape)-1]
	half := f2 / colors / 2 // a (then g) features per colour group
	b.elementwise(len(x.Host)/f2, func(lo, hi int) {
		gateRows(x.Host, f2, colors, lo, hi, func(r, c int, t, s []float32) {
			out := y.Host[r*f2/2+c*half:][:half]
			for k := range out {
				out[k] = t[k] * s[k]
			}
		})
	})
	return nil
}

// GateBackward implements nn.GatedOps: da = dy (1 - tanh^2 a) sigmoid g,
// dg = dy tanh a sigmoid g (1 - sigmoid g).
func (b *Backend) GateBackward(dx, dy, x *nn.Tensor, colors int) error {
	if err := nn.CheckGate(dy, x, colors); err != nil {
		return err
	}
	if err := nn.CheckSameShape("gate backward: input gradient", dx, x); err != nil {
		return err
	}
	f2 := x.Shape[len(x.Shape)-1]
	half := f2 / colors / 2
	b.elementwise(len(x.Host)/f2, func(lo, hi int) {
		gateRows(x.Host, f2, colors, lo, hi, func(r, c int, t, s []float32) {
			d := dy.Host[r*f2/2+c*half:][:half]
			da, dg := dx.Host[r*f2+2*c*half:][:half], dx.Host[r*f2+(2*c+1)*half:][:half]
			for k, v := range d {
				da[k] += v * (1 - t[k]*t[k]) * s[k]
				dg[k] += v * t[k] * s[k] * (1 - s[k])
			}
		})
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
	b.elementwise(len(labels)*per, func(lo, hi int) {
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
