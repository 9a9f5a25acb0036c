//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/backendtest"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
)

// The gated PixelCNN on the GPU. TestConformance already runs backendtest's gated conv cases
// (every region, dilations 1, 2, 4) at conv versions 1 and 2 and RunGated (the gate, ELU, the
// class bias): the backend implements nn.GatedOps. The tests here add what backendtest runs
// for the seed's taps only: version 3 (TF32) on the gated tap sets, and MaskedConvAt on them
// (both per-position kernels, bit for bit against MaskedConv, reading no input the region
// hides); and the gated preset trained on the GPU against the CPU backend.

func upload32(t *testing.T, b nn.Backend, v []float32, shape ...int) *nn.Tensor {
	t.Helper()
	x, err := b.FromHost(v, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func download32(t *testing.T, b nn.Backend, x *nn.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Len())
	if err := b.ToHost(out, x); err != nil {
		t.Fatal(err)
	}
	return out
}

func rand32(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((r.Float64()*2 - 1) * scale)
	}
	return v
}

func widen(v []float32, f func(float32) float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(f(x))
	}
	return o
}

func abs32(v float32) float32  { return float32(math.Abs(float64(v))) }
func same32(v float32) float32 { return v }

// TestGatedConvTF32: version 3 (TF32 tensor cores) on every gated tap set: y, dx and dw within
// TF32AccumBound of the float64 reference on TF32-rounded operands (the bound (a) of
// nn/backendtest/tf32.go, with S the same reference on the operands' absolute values), db as
// an FP32 sum of the unrounded dz, masked dw entries untouched, and the backward deterministic.
func TestGatedConvTF32(t *testing.T) {
	b := gpu(t)
	if err := b.SetPrecision(nn.TF32); err != nil {
		t.Skipf("no TF32 tensor cores: %v", err)
	}
	defer b.SetPrecision(nn.FP32)
	for ci, c := range backendtest.GatedConvCases() {
		t.Run(c.Spec.Name, func(t *testing.T) { checkGatedConvTF32(t, b, ci, c) })
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// checkGatedConvTF32 is TestGatedConvTF32's check of one case on b (computing at TF32).
func checkGatedConvTF32(t *testing.T, b nn.Backend, ci int, c backendtest.ConvCase) {
	r := rand.New(rand.NewPCG(uint64(ci), 41))
	s := c.Spec
	xs, ys := []int{c.N, c.H, c.W, s.In}, []int{c.N, c.H, c.W, s.Out}
	mask, err := nn.Mask(s)
	if err != nil {
		t.Fatal(err)
	}
	x, w, bias := rand32(r, nn.ShapeLen(xs), 1), rand32(r, len(mask), 0.5), rand32(r, s.Out, 0.3)
	for i, m := range mask {
		if m == 0 {
			w[i] = float32(math.NaN()) // a masked weight read shows
		}
	}
	wRef := append([]float32(nil), w...)
	for i, m := range mask {
		if m == 0 {
			wRef[i] = 0 // the reference multiplies by the mask: keep NaN out of it
		}
	}
	xt, wt, bt := upload32(t, b, x, xs...), upload32(t, b, w, s.WeightShape()...), upload32(t, b, bias, s.Out)
	yt := poisonedGPU(t, b, ys...)
	if err := b.MaskedConv(s, yt, xt, wt, bt); err != nil {
		t.Fatal(err)
	}
	y := download32(t, b, yt)
	// The most terms of one output: the live taps' inputs (the last colour's centre
	// prefix is the longest), plus the bias.
	terms := s.Taps()*s.In + s.CentreInLimit(s.Colors-1) + 1
	rnd := widen(x, nn.RoundTF32)
	yRef := backendtest.RefConv(c, rnd, widen(wRef, nn.RoundTF32), widen(bias, same32))
	yAbs := backendtest.RefConv(c, widen(x, func(v float32) float32 { return abs32(nn.RoundTF32(v)) }),
		widen(wRef, func(v float32) float32 { return abs32(nn.RoundTF32(v)) }), widen(bias, abs32))
	within(t, "y", y, yRef, yAbs, backendtest.TF32AccumBound(terms))

	dy, dx0, dw0, db0 := rand32(r, len(y), 1), rand32(r, len(x), 1), rand32(r, len(w), 1), rand32(r, s.Out, 1)
	dxRef, dwRef, _ := backendtest.RefConvBackward(c, rnd, widen(wRef, nn.RoundTF32), widen(y, same32), widen(dy, nn.RoundTF32))
	dxAbs, dwAbs, _ := backendtest.RefConvBackward(c, widen(x, func(v float32) float32 { return abs32(nn.RoundTF32(v)) }),
		widen(wRef, func(v float32) float32 { return abs32(nn.RoundTF32(v)) }), widen(y, same32),
		widen(dy, func(v float32) float32 { return abs32(nn.RoundTF32(v)) }))
	_, _, dbRef := backendtest.RefConvBackward(c, widen(x, same32), widen(wRef, same32), widen(y, same32), widen(dy, same32))
	_, _, dbAbs := backendtest.RefConvBackward(c, widen(x, same32), widen(wRef, same32), widen(y, same32), widen(dy, abs32))
	for _, p := range []struct {
		ref, abs []float64
		pre      []float32
	}{{dxRef, dxAbs, dx0}, {dwRef, dwAbs, dw0}, {dbRef, dbAbs, db0}} {
		for i := range p.ref {
			p.ref[i] += float64(p.pre[i])
			p.abs[i] += math.Abs(float64(p.pre[i]))
		}
	}
	var runs [2][3][]float32
	for k := range runs {
		dyt := upload32(t, b, dy, ys...)
		dxt, dwt, dbt := upload32(t, b, dx0, xs...), upload32(t, b, dw0, s.WeightShape()...), upload32(t, b, db0, s.Out)
		if err := b.MaskedConvBackward(s, dxt, dwt, dbt, dyt, xt, wt, yt); err != nil {
			t.Fatal(err)
		}
		runs[k] = [3][]float32{download32(t, b, dxt), download32(t, b, dwt), download32(t, b, dbt)}
		for _, tt := range []*nn.Tensor{dyt, dxt, dwt, dbt} {
			b.Release(tt)
		}
	}
	dxTerms := (s.Taps()+1)*s.Out + 1 // at most (tap, output) terms per input, plus dx0
	within(t, "dx", runs[0][0], dxRef, dxAbs, backendtest.TF32AccumBound(dxTerms))
	within(t, "dw", runs[0][1], dwRef, dwAbs, backendtest.TF32AccumBound(c.N*c.H*c.W+1))
	within(t, "db", runs[0][2], dbRef, dbAbs, 2*float64(c.N*c.H*c.W+1)*0x1p-24)
	for i, m := range mask {
		if m == 0 && math.Float32bits(runs[0][1][i]) != math.Float32bits(dw0[i]) {
			t.Fatalf("dw[%d] is masked but changed: %g -> %g", i, dw0[i], runs[0][1][i])
		}
	}
	for k := range 3 {
		for i := range runs[0][k] {
			if math.Float32bits(runs[0][k][i]) != math.Float32bits(runs[1][k][i]) {
				t.Fatalf("gradient %d element %d: %g then %g: not deterministic", k, i, runs[0][k][i], runs[1][k][i])
			}
		}
	}
	for _, tt := range []*nn.Tensor{xt, wt, bt, yt} {
		b.Release(tt)
	}
}

// within checks |got - ref| <= bound * abs element by element (abs: the sum of |terms|).
func within(t *testing.T, what string, got []float32, ref, abs []float64, bound float64) {
	t.Helper()
	bad := 0
	for i := range ref {
		if d := math.Abs(float64(got[i]) - ref[i]); !(d <= bound*abs[i]+1e-30) {
			if bad < 10 {
				t.Errorf("%s[%d] = %g, want %g (diff %g > %g)", what, i, got[i], ref[i], d, bound*abs[i])
			}
			bad++
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d mismatches in all", what, bad)
	}
}

func poisonedGPU(t *testing.T, b nn.Backend, shape ...int) *nn.Tensor {
	t.Helper()
	p := make([]float32, nn.ShapeLen(shape))
	for i := range p {
		p[i] = float32(math.NaN())
	}
	return upload32(t, b, p, shape...)
}

// hiddenFrom reports whether the conv of spec at pixel (i, j) must not read feature f of
// pixel (qi, qj) of the same image: a pixel its region never reaches, or at the centre a
// colour its rule forbids (mask A: the last colour). Written from the regions' definitions
// (nn/mask.go), not from the tap prefix the kernels walk.
func hiddenFrom(s nn.ConvSpec, i, j, qi, qj, f int) bool {
	centre := qi == i && qj == j
	switch s.Region {
	case nn.Causal:
		if !centre {
			return qi > i || (qi == i && qj > j)
		}
	case nn.Row:
		if !centre {
			return qi != i || qj > j
		}
	case nn.Above:
		return qi >= i
	case nn.AboveAndRow:
		return qi > i
	case nn.Full:
		return !centre
	}
	return s.Mode == nn.MaskA && f >= s.In-s.In/s.Colors
}

// TestGatedConvAt: MaskedConvAt on every gated tap set, with both per-position kernels
// (SetAtVersion 1 and 2) after conv versions 1 and 2, gives MaskedConv's values at the
// position bit for bit, while every input the position must not read is NaN.
func TestGatedConvAt(t *testing.T) {
	b := gpu(t)
	defer b.SetConvVersion(2)
	defer b.SetAtVersion(2)
	for ci, c := range backendtest.GatedConvCases() {
		s := c.Spec
		r := rand.New(rand.NewPCG(uint64(ci), 43))
		xs := []int{c.N, c.H, c.W, s.In}
		x := rand32(r, nn.ShapeLen(xs), 1)
		w, bias := rand32(r, nn.ShapeLen(s.WeightShape()), 0.5), rand32(r, s.Out, 0.3)
		mask, err := nn.Mask(s)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range mask {
			if m == 0 {
				w[i] = float32(math.NaN())
			}
		}
		wt, bt, xt := upload32(t, b, w, s.WeightShape()...), upload32(t, b, bias, s.Out), upload32(t, b, x, xs...)
		for _, conv := range []int{1, 2} {
			if err := b.SetConvVersion(conv); err != nil {
				t.Fatal(err)
			}
			yt := poisonedGPU(t, b, c.N, c.H, c.W, s.Out)
			if err := b.MaskedConv(s, yt, xt, wt, bt); err != nil {
				t.Fatal(err)
			}
			y := download32(t, b, yt)
			b.Release(yt)
			for _, at := range []int{1, 2} {
				if err := b.SetAtVersion(at); err != nil {
					t.Fatal(err)
				}
				t.Run(fmt.Sprintf("%s/conv-v%d/at-v%d", s.Name, conv, at), func(t *testing.T) { checkGatedAt(t, b, c, x, y, wt, bt) })
			}
		}
		for _, tt := range []*nn.Tensor{wt, bt, xt} {
			b.Release(tt)
		}
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// checkGatedAt checks MaskedConvAt of case c on b against y (MaskedConv's output on x) bit for
// bit at the corners and the middle, with every input the position must not read set to NaN.
func checkGatedAt(t *testing.T, b nn.Backend, c backendtest.ConvCase, x, y []float32, wt, bt *nn.Tensor) {
	s := c.Spec
	xs := []int{c.N, c.H, c.W, s.In}
	for _, p := range [][2]int{{0, 0}, {0, c.W - 1}, {c.H - 1, 0}, {c.H - 1, c.W - 1}, {c.H / 2, c.W / 2}} {
		xp := append([]float32(nil), x...)
		for n := 0; n < c.N; n++ {
			for q := 0; q < c.H*c.W; q++ {
				for f := 0; f < s.In; f++ {
					if hiddenFrom(s, p[0], p[1], q/c.W, q%c.W, f) {
						xp[(n*c.H*c.W+q)*s.In+f] = float32(math.NaN())
					}
				}
			}
		}
		xpt := upload32(t, b, xp, xs...)
		at := poisonedGPU(t, b, c.N, 1, 1, s.Out)
		if err := b.MaskedConvAt(s, at, xpt, wt, bt, p[0], p[1]); err != nil {
			t.Fatal(err)
		}
		got := download32(t, b, at)
		for n := 0; n < c.N; n++ {
			for o := 0; o < s.Out; o++ {
				want := y[((n*c.H+p[0])*c.W+p[1])*s.Out+o]
				if g := got[n*s.Out+o]; math.Float32bits(g) != math.Float32bits(want) {
					t.Fatalf("at %v image %d output %d: %g, MaskedConv %g", p, n, o, g, want)
				}
			}
		}
		b.Release(xpt)
		b.Release(at)
	}
}

// TestGatedTrainMatchesCPU trains the gated preset (p 32, 7 layers, dilations as the preset
// has them), unconditional and class-conditional (10 classes), for 20 steps on the GPU at
// FP32 and on the CPU backend, from the same weights and data order over synthetic images, and
// compares the losses. Step 1 sees identical weights and data, so the two differ only by FP32
// summation order (~1e-6 relative); the drift after that is the chaotic one TestTrainMatchesCPU
// measured for the seed's mnist preset (every step within 1e-3 up to step 60). Measured on the
// CPU backend alone (128 other synthetic images; 1 worker vs 3, which changes the dW reduction order;
// one draw): every one of the 20 steps within 3.1e-10 relative, unconditional and conditional,
// the loss falling from 8.05 to 7.61 bits/dim. Not yet measured on a GPU, whose forward sums
// also differ in order, so the bounds keep the seed's margin: step 1 within 1e-4, steps 2-20
// within 1e-3, and both runs learn (the last 5 steps' mean below step 1).
func TestGatedTrainMatchesCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: gated-preset steps on the CPU backend")
	}
	b := gpu(t)
	if err := b.SetPrecision(nn.FP32); err != nil {
		t.Fatal(err)
	}
	const steps = 20
	split := synthImages(128, 17)
	split.Labels = make([]uint8, split.N)
	for i := range split.Labels {
		split.Labels[i] = uint8(i * 7 % 10)
	}
	for _, classes := range []int{0, 10} {
		t.Run(fmt.Sprintf("classes-%d", classes), func(t *testing.T) {
			got := gatedCurve(t, b, split, classes, steps)
			want := gatedCurve(t, cpu.New(), split, classes, steps)
			for i := range want {
				limit := 1e-3
				if i == 0 {
					limit = 1e-4
				}
				if rel := math.Abs(got[i]-want[i]) / math.Abs(want[i]); !(rel <= limit) {
					t.Errorf("step %d: gpu %.6f bits/dim, cpu %.6f (rel diff %.2e > %.0e)", i+1, got[i], want[i], rel, limit)
				}
			}
			for name, curve := range map[string][]float64{"gpu": got, "cpu": want} {
				last := 0.0
				for _, v := range curve[steps-5:] {
					last += v / 5
				}
				if !(last < curve[0]) {
					t.Errorf("%s did not learn: step 1 %.4f bits/dim, last 5 steps %.4f", name, curve[0], last)
				}
			}
			t.Logf("step 1: gpu %.6f cpu %.6f; step %d: gpu %.6f cpu %.6f bits/dim", got[0], want[0], steps, got[steps-1], want[steps-1])
		})
	}
}

// gatedCurve trains the gated preset (classes > 0: conditional) on be from seed 7's weights
// for steps steps with the default options and returns the losses in bits/dim.
func gatedCurve(t *testing.T, be nn.Backend, split data.Split, classes, steps int) []float64 {
	t.Helper()
	c, err := pixelcnn.PresetConfig("gated", 1, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	c.Classes = classes
	m, err := pixelcnn.NewModel(be, c, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	tr, err := pixelcnn.NewTrainer(m, split, pixelcnn.DefaultTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Release()
	curve := make([]float64, steps)
	for i := range curve {
		if curve[i], err = tr.TrainStep(); err != nil {
			t.Fatalf("%s: step %d: %v", be.Name(), i+1, err)
		}
	}
	return curve
}
