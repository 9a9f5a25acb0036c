package backendtest

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"pixelcnn/nn"
)

// TF32 tolerances. At nn.TF32 a backend rounds both operands of every conv product to TF32
// (nn.RoundTF32) and accumulates the products in FP32. RunConvTF32 checks each output o of
// MaskedConv and MaskedConvBackward against two float64 references, with S = sum_k |a_k||b_k|
// over o's K terms (products, plus the bias or the pre-filled gradient as one more term with
// b = 1), computed in float64 on the rounded operands beside the references:
//
// (a) Tight, against the reference on the TF32-rounded operands: |got - ref| <= TF32AccumBound(K)*S.
// A product of two TF32 values (11-bit significands) has at most 22 significant bits, so it is
// exact in FP32, whether a tensor core forms it or the CPU's emulation does. What is left is
// the FP32 accumulation: any order of K-1 additions of K exact terms errs by at most
// gamma_K * S, gamma_K = K*u/(1-K*u), u = 2^-24 for round to nearest (Higham, Accuracy and
// Stability, 2nd ed., sec. 3.1). The tensor core's internal additions are not specified;
// Fasi, Higham, Mikaitis and Pranesh (2021, "Numerical behavior of NVIDIA tensor cores")
// measured truncation, i.e. up to 2u per addition, so the bound takes u' = 2u and a safety
// factor of 2 on top: 4*gamma_K(2^-24). On the cifar10 1x1 768->768 layer (K = 769) that is
// 1.8e-4 * S; a wrong operand rounding (e.g. ties to even, or one operand left unrounded)
// errs by up to 2^-11 * S per term and fails it.
//
// (b) Against the exact reference: the rounding moves each product by at most
// (1+2^-11)^2 - 1 = 2*2^-11 + 2^-22 relatively (nn.TF32UnitRoundoff each operand), so
// |got - exact| <= TF32ProductBound*S + TF32AccumBound(K)*S'. S is measured on the rounded
// operands, within a factor (1-2^-11)^-2 < 1.001 of the exact operands' sum; TF32ProductBound
// carries a factor 1.01 for that. S' adds the bias or pre-filled gradient (not rounded).

// TF32AccumBound is the tight bound (a) relative to S for a reduction of k terms.
func TF32AccumBound(k int) float64 {
	u := 2 * 0x1p-24 // truncating adds: 2u per addition
	return 2 * float64(k) * u / (1 - float64(k)*u)
}

// TF32ProductBound is the relative bound (b) of the operand rounding on one product.
const TF32ProductBound = 1.01 * (2*nn.TF32UnitRoundoff + nn.TF32UnitRoundoff*nn.TF32UnitRoundoff)

// CifarConvCases are the cifar10 preset's conv shapes (pixelcnn/model.go: residual stream 384,
// hidden 192, head 768) on two 32x32 images: M = 2048 positions, K up to 769.
func CifarConvCases() []ConvCase {
	spec := func(name string, k, in, out int, mode nn.MaskMode, relu bool) ConvCase {
		return ConvCase{N: 2, H: 32, W: 32, Spec: nn.ConvSpec{Name: "cifar-" + name, K: k, In: in, Out: out, Colors: 3, Mode: mode, ReLU: relu}}
	}
	return []ConvCase{
		spec("input_conv-7x7A-3-384", 7, 3, 384, nn.MaskA, false),
		spec("conv_in-1x1-384-192", 1, 384, 192, nn.MaskB, true),
		spec("conv_mid-3x3B-192-192", 3, 192, 192, nn.MaskB, true),
		spec("conv_out-1x1-192-384", 1, 192, 384, nn.MaskB, true),
		spec("output_conv2-1x1-768-768", 1, 768, 768, nn.MaskB, false),
	}
}

// RunConvTF32 checks b's MaskedConv and MaskedConvBackward (dx, dw, db) at TF32 on every
// ConvCases shape and, unless -short (the float64 references take tens of seconds on two
// cores), on CifarConvCases, with bounds (a) and (b) above; b must already compute at TF32.
// It also checks that the backward pass is bitwise deterministic and leaves masked dw entries
// untouched. dB is checked as an FP32 sum of the unrounded dz.
func RunConvTF32(t *testing.T, b nn.Backend) {
	if p := nn.BackendPrecision(b); p != nn.TF32 {
		t.Fatalf("%s computes at %s, want %s", b.Name(), p, nn.TF32)
	}
	cases := ConvCases()
	if !testing.Short() {
		cases = append(cases, CifarConvCases()...)
	}
	for ci, c := range cases {
		t.Run(c.Spec.Name, func(t *testing.T) { checkConvRounded(t, b, c, uint64(ci), tf32Rounding) })
	}
}

// rounding is what RunConvTF32 and RunConvBF16 check a precision against: how the backend
// rounds a conv operand before multiplying, and bounds (a) and (b) of that precision.
type rounding struct {
	name    string
	round   func(float32) float32 // an operand as the backend multiplies it
	accum   func(k int) float64   // bound (a) relative to S for k terms
	floor   func(k int) float64   // bound (a)'s absolute part for k terms (flushed subnormals)
	product float64               // bound (b): one product's relative error from rounding
}

var tf32Rounding = rounding{"TF32", nn.RoundTF32, TF32AccumBound, func(int) float64 { return 0 }, TF32ProductBound}

// convRefs are one reference's outputs.
type convRefs struct{ y, dx, dw []float64 }

// refOperands are one reference's operands in float64: x, w (masked entries 0) and its
// transpose wT [Out][K*K][In], and dz = dy through the ReLU mask of the backend's y.
type refOperands struct{ x, w, wT, dz []float64 }

// tf32Refs is roundedRefs with operands rounded by nn.RoundTF32.
func tf32Refs(c ConvCase, x, w, bias, dy, yGot []float32) (rnd, abs, exact convRefs) {
	return roundedRefs(c, x, w, bias, dy, yGot, nn.RoundTF32)
}

// roundedRefs computes in float64, in one pass over the live terms, the references on the exact
// operands, on the operands rounded by round, and on the rounded operands' absolute values with
// no bias (S, the sums of |terms|). The ReLU mask of every backward, and of dB, is that of
// yGot, the backend's own y. It gives what RefConv and RefConvBackward give (TestTF32Refs
// checks it) but reads memory in order and splits the work over the cores: the cifar10
// shapes' references take seconds instead of minutes.
func roundedRefs(c ConvCase, x, w, bias, dy, yGot []float32, round func(float32) float32) (rnd, abs, exact convRefs) {
	s := c.Spec
	mask, err := nn.Mask(s)
	if err != nil {
		panic(err)
	}
	kk, in, out := s.K*s.K, s.In, s.Out
	operands := func(f func(float32) float64) refOperands {
		o := refOperands{x: make([]float64, len(x)), w: make([]float64, len(w)), wT: make([]float64, len(w)), dz: make([]float64, len(dy))}
		for i, v := range x {
			o.x[i] = f(v)
		}
		for i, v := range w {
			o.w[i] = f(v) * float64(mask[i])
			t, rest := i/(in*out), i%(in*out)
			o.wT[((rest%out)*kk+t)*in+rest/out] = o.w[i]
		}
		for i, v := range dy {
			if !s.ReLU || yGot[i] > 0 {
				o.dz[i] = f(v)
			}
		}
		return o
	}
	ops := [3]refOperands{
		operands(func(v float32) float64 { return float64(v) }),
		operands(func(v float32) float64 { return float64(round(v)) }),
		operands(func(v float32) float64 { return math.Abs(float64(round(v))) }),
	}
	refs := [3]*convRefs{&exact, &rnd, &abs}
	for v, r := range refs {
		r.y, r.dx, r.dw = make([]float64, len(dy)), make([]float64, len(x)), make([]float64, len(w))
		if v < 2 {
			for i := range r.y {
				r.y[i] = float64(bias[i%out])
			}
		}
	}
	// Live taps: those with any unmasked weight.
	var taps []int
	for t := 0; t < kk; t++ {
		for _, m := range mask[t*in*out : (t+1)*in*out] {
			if m != 0 {
				taps = append(taps, t)
				break
			}
		}
	}
	rad := s.K / 2
	// neighbour returns position p shifted by tap t's offset times sign, or -1 outside.
	neighbour := func(p, t, sign int) int {
		wq, h := p%c.W, (p/c.W)%c.H
		hh, ww := h+sign*(t/s.K-rad), wq+sign*(t%s.K-rad)
		if hh < 0 || hh >= c.H || ww < 0 || ww >= c.W {
			return -1
		}
		return p + (hh-h)*c.W + (ww - wq)
	}
	m := c.N * c.H * c.W
	parallelFor(m, func(p int) { // forward: y[p,o] += sum over taps, i of x[q,i] w[t,i,o]
		for _, t := range taps {
			q := neighbour(p, t, 1)
			if q < 0 {
				continue
			}
			for v, r := range refs {
				xr := ops[v].x[q*in : (q+1)*in]
				for o := 0; o < out; o++ {
					wr := ops[v].wT[(o*kk+t)*in : (o*kk+t+1)*in]
					acc := 0.0
					for i, xv := range xr {
						acc += xv * wr[i]
					}
					r.y[p*out+o] += acc
				}
			}
		}
	})
	for v := range 2 {
		if s.ReLU {
			for i, y := range refs[v].y {
				refs[v].y[i] = math.Max(y, 0)
			}
		}
	}
	parallelFor(m, func(p int) { // dx[p,i] = sum over the positions q that read p through tap t
		for _, t := range taps {
			q := neighbour(p, t, -1)
			if q < 0 {
				continue
			}
			for v, r := range refs {
				dz := ops[v].dz[q*out : (q+1)*out]
				for i := 0; i < in; i++ {
					wr := ops[v].w[(t*in+i)*out : (t*in+i+1)*out]
					acc := 0.0
					for o, d := range dz {
						acc += d * wr[o]
					}
					r.dx[p*in+i] += acc
				}
			}
		}
	})
	parallelFor(len(taps)*in, func(row int) { // dw[t,i,:] = sum over positions p of x[p+t,i] dz[p,:]
		t, i := taps[row/in], row%in
		for v, r := range refs {
			dw := r.dw[(t*in+i)*out : (t*in+i+1)*out]
			for p := 0; p < m; p++ {
				q := neighbour(p, t, 1)
				if q < 0 {
					continue
				}
				xv := ops[v].x[q*in+i]
				for o, d := range ops[v].dz[p*out : (p+1)*out] {
					dw[o] += xv * d
				}
			}
			for o := range dw {
				dw[o] *= float64(mask[(t*in+i)*out+o])
			}
		}
	})
	return rnd, abs, exact
}

// parallelFor runs fn(i) for i in [0, n) on GOMAXPROCS goroutines.
func parallelFor(n int, fn func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func checkConvRounded(t *testing.T, b nn.Backend, c ConvCase, seed uint64, rd rounding) {
	r := rand.New(rand.NewPCG(seed, 29))
	s := c.Spec
	xs, ys := []int{c.N, c.H, c.W, s.In}, []int{c.N, c.H, c.W, s.Out}
	mask, err := nn.Mask(s)
	if err != nil {
		t.Fatal(err)
	}
	// Masked weights hold garbage: a kernel that reads one fails the tight check.
	x, w, bias := to32(randSlice(r, nn.ShapeLen(xs), 1)), to32(randSlice(r, len(mask), 0.5)), to32(randSlice(r, s.Out, 0.3))
	dy, dx0, dw0, db0 := to32(randSlice(r, nn.ShapeLen(ys), 1)), to32(randSlice(r, nn.ShapeLen(xs), 1)),
		to32(randSlice(r, len(mask), 1)), to32(randSlice(r, s.Out, 1))
	xt, wt, bt, yt := upload(t, b, x, xs...), upload(t, b, w, s.WeightShape()...), upload(t, b, bias, s.Out), poisoned(t, b, ys...)
	defer func() {
		for _, tt := range []*nn.Tensor{xt, wt, bt, yt} {
			b.Release(tt)
		}
	}()
	if err := b.MaskedConv(s, yt, xt, wt, bt); err != nil {
		t.Fatal(err)
	}
	y := download(t, b, yt)
	backward := func() (dx, dw, db []float32) {
		dyt, dxt, dwt, dbt := upload(t, b, dy, ys...), upload(t, b, dx0, xs...), upload(t, b, dw0, s.WeightShape()...), upload(t, b, db0, s.Out)
		if err := b.MaskedConvBackward(s, dxt, dwt, dbt, dyt, xt, wt, yt); err != nil {
			t.Fatal(err)
		}
		dx, dw, db = download(t, b, dxt), download(t, b, dwt), download(t, b, dbt)
		for _, tt := range []*nn.Tensor{dyt, dxt, dwt, dbt} {
			b.Release(tt)
		}
		return dx, dw, db
	}
	dx, dw, db := backward()
	dx2, dw2, db2 := backward()
	if !bitsEqual(dx, dx2) || !bitsEqual(dw, dw2) || !bitsEqual(db, db2) {
		t.Errorf("backward is not bitwise deterministic")
	}

	rnd, abs, exact := roundedRefs(c, x, w, bias, dy, y, rd.round)
	kFwd := (s.Taps()+1)*s.In + 1 // live taps' inputs, and the bias
	kDX := (s.Taps()+1)*s.Out + 1 // every output that reads the input, and the pre-filled dx
	kDW := c.N*c.H*c.W + 1        // every position, and the pre-filled dw
	checkRounded(t, rd, "y", y, nil, bias, rnd.y, exact.y, abs.y, kFwd)
	checkRounded(t, rd, "dx", dx, dx0, nil, rnd.dx, exact.dx, abs.dx, kDX)
	checkRounded(t, rd, "dw", dw, dw0, nil, rnd.dw, exact.dw, abs.dw, kDW)
	for i, m := range mask {
		if m == 0 && dw[i] != dw0[i] {
			t.Fatalf("dw[%d] is a masked entry but changed: %g -> %g", i, dw0[i], dw[i])
		}
	}
	// dB: an FP32 sum of the unrounded dz (through the ReLU mask of y) onto db0.
	dbRef, dbAbs := to64(db0), make([]float64, s.Out)
	for i := range dbAbs {
		dbAbs[i] = math.Abs(dbRef[i])
	}
	for i, d := range dy {
		if !s.ReLU || y[i] > 0 {
			dbRef[i%s.Out] += float64(d)
			dbAbs[i%s.Out] += math.Abs(float64(d))
		}
	}
	for i := range db {
		if d := math.Abs(float64(db[i]) - dbRef[i]); !(d <= rd.accum(kDW)*dbAbs[i]) {
			t.Errorf("db[%d] = %g, want %g (bound %.3g)", i, db[i], dbRef[i], rd.accum(kDW)*dbAbs[i])
		}
	}
}

// checkRounded checks got against rd's bounds (a) and (b). acc0 (pre-filled gradient) and add
// (bias, indexed modulo its length) are the unrounded extra term of each output, when not nil.
func checkRounded(t *testing.T, rd rounding, what string, got, acc0, add []float32, rnd, exact, abs []float64, k int) {
	t.Helper()
	if len(got) != len(rnd) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(rnd))
	}
	bad := 0
	worst := 0.0
	for i := range got {
		ref, ex, scale := rnd[i], exact[i], abs[i]
		if acc0 != nil {
			ref += float64(acc0[i])
			ex += float64(acc0[i])
			scale += math.Abs(float64(acc0[i]))
		}
		if add != nil {
			scale += math.Abs(float64(add[i%len(add)]))
		}
		d := math.Abs(float64(got[i]) - ref)
		tight := rd.accum(k)*scale + rd.floor(k)
		if scale > 0 {
			worst = max(worst, d/scale)
		}
		if !(d <= tight) || !(math.Abs(float64(got[i])-ex) <= tight+rd.product*abs[i]) {
			if bad < 10 {
				t.Errorf("%s[%d] = %.9g, want %.9g on %s operands (bound %.3g), exact %.9g (bound %.3g)",
					what, i, got[i], ref, rd.name, tight, ex, tight+rd.product*abs[i])
			}
			bad++
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d mismatches in all", what, bad)
	}
	t.Logf("%s: %d values, worst |err|/S on %s operands %.3g (bound %.3g, K = %d)", what, len(got), rd.name, worst, rd.accum(k), k)
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
