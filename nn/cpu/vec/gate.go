package vec

import "math"

// The gated PixelCNN's gate, out = tanh(a) * sigmoid(g), and its gradient, each fused into
// one pass with its exponentials: tanh and sigmoid come from e1 = ExpNeg(-2|a|) and
// e2 = ExpNeg(-|g|), which never overflow: tanh(a) = sign(a) (1 - e1)/(1 + e1) and
// sigmoid(g) = 1/(1 + e2) for g >= 0, e2/(1 + e2) below, both from one reciprocal of
// (1 + e1)(1 + e2). Near a = 0 the subtraction 1 - e1 leaves tanh an absolute error of about
// 1e-7, far below what a gate's output needs. The assembly runs the same float32 operations
// in the same order as the Go loops (every product rounded on its own), so every path (AVX-512,
// AVX2, Go) gives the same bits.

// Gate sets y[k] = tanh(a[k]) * sigmoid(g[k]) for k < len(y).
func Gate(y, a, g []float32) {
	a, g = a[:len(y)], g[:len(y)]
	n := 0
	if useAVX512() {
		if n = len(y) &^ 15; n > 0 {
			gateAVX512(&y[0], &a[0], &g[0], n)
		}
	}
	if useAsm() {
		if m := (len(y) - n) &^ 7; m > 0 {
			gateAVX(&y[n], &a[n], &g[n], m)
			n += m
		}
	}
	gateGo(y[n:], a[n:], g[n:])
}

// GateGrad adds the gate's input gradient for the output gradient dy, for k < len(dy):
// da[k] += dy (1 - tanh^2 a) sigmoid g and dg[k] += dy tanh a sigmoid g (1 - sigmoid g).
func GateGrad(da, dg, dy, a, g []float32) {
	da, dg, a, g = da[:len(dy)], dg[:len(dy)], a[:len(dy)], g[:len(dy)]
	n := 0
	if useAVX512() {
		if n = len(dy) &^ 15; n > 0 {
			gateGradAVX512(&da[0], &dg[0], &dy[0], &a[0], &g[0], n)
		}
	}
	if useAsm() {
		if m := (len(dy) - n) &^ 7; m > 0 {
			gateGradAVX(&da[n], &dg[n], &dy[n], &a[n], &g[n], m)
			n += m
		}
	}
	gateGradGo(da[n:], dg[n:], dy[n:], a[n:], g[n:])
}

// TanhSigmoid returns tanh(a) and sigmoid(g) as Gate computes them.
func TanhSigmoid(a, g float32) (t, s float32) {
	e1 := ExpNeg(-2 * abs32(a))
	e2 := ExpNeg(-abs32(g))
	p1, p2 := 1+e1, 1+e2
	q := 1 / float32(p1*p2)
	th := float32(float32(1-e1)*p2) * q
	// Copy a's sign onto th (th >= 0 here).
	t = math.Float32frombits(math.Float32bits(th) | math.Float32bits(a)&(1<<31))
	num := e2
	if g >= 0 {
		num = 1
	}
	return t, float32(num*p1) * q
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

func gateGo(y, a, g []float32) {
	for k := range y {
		t, s := TanhSigmoid(a[k], g[k])
		y[k] = t * s
	}
}

func gateGradGo(da, dg, dy, a, g []float32) {
	for k, v := range dy {
		t, s := TanhSigmoid(a[k], g[k])
		da[k] += float32(v*float32(1-float32(t*t))) * s
		dg[k] += float32(float32(v*t)*s) * float32(1-s)
	}
}
