package cpu_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/backendtest"
	"pixelcnn/nn/cpu"
	"pixelcnn/nn/cpu/isa"
)

// bf16Backend returns a backend with workers computing at bf16, or skips the test with the
// reason (SetPrecision's error names the CPU and the missing AVX512_BF16).
func bf16Backend(t *testing.T, workers int) *cpu.Backend {
	t.Helper()
	b := cpu.NewWorkers(workers)
	if err := b.SetPrecision(nn.BF16); err != nil {
		t.Skipf("no bf16: %v", err)
	}
	return b
}

// TestConvBF16 runs the bf16 convolutions (VDPBF16PS) through the conformance suite's bf16
// bounds (the cifar10 shapes too, without -short), with 3 workers, and the fused ops bit for
// bit against the unfused ones at bf16.
func TestConvBF16(t *testing.T) {
	b := bf16Backend(t, 3)
	backendtest.RunConvBF16(t, b)
	backendtest.RunFusedOps(t, b)
}

// TestSetPrecisionBF16: bf16 is accepted exactly where isa.BF16 allows it, the backend's name
// then says bf16; refused below avx512 (PIXELCNN_CPU_ISA) naming the variable and the feature,
// the precision left unchanged; and a conv whose level was lowered after SetPrecision returns
// an error instead of running VDPBF16PS.
func TestSetPrecisionBF16(t *testing.T) {
	old := isa.Active()
	t.Cleanup(func() { isa.Set(old) })
	b := cpu.NewWorkers(2)
	err := b.SetPrecision(nn.BF16)
	if isa.BF16() != nil {
		if err == nil || !strings.Contains(err.Error(), "AVX512_BF16") {
			t.Errorf("SetPrecision(bf16) without bf16 (%v): %v, want an error naming AVX512_BF16", isa.BF16(), err)
		}
		if b.Precision() != nn.FP32 {
			t.Errorf("a refused bf16 left the precision at %s", b.Precision())
		}
	} else {
		if err != nil || b.Precision() != nn.BF16 {
			t.Fatalf("SetPrecision(bf16): %v, precision %s", err, b.Precision())
		}
		if name := b.Name(); !strings.HasPrefix(name, "cpu/bf16/") {
			t.Errorf("name %q does not say bf16", name)
		}
		// Lowered after SetPrecision: the conv refuses.
		spec := nn.ConvSpec{Name: "probe", K: 3, In: 3, Out: 3, Colors: 3, Mode: nn.MaskB}
		x, w, bias, y := b.New(1, 4, 4, 3), b.New(spec.WeightShape()...), b.New(3), b.New(1, 4, 4, 3)
		isa.Set(isa.AVX2)
		if err := b.MaskedConv(spec, y, x, w, bias); err == nil || !strings.Contains(err.Error(), "AVX512_BF16") {
			t.Errorf("MaskedConv at bf16 after isa.Set(avx2): %v, want an error naming AVX512_BF16", err)
		}
		if err := b.MaskedConvBackward(spec, x, w, bias, y, x, w, y); err == nil || !strings.Contains(err.Error(), "AVX512_BF16") {
			t.Errorf("MaskedConvBackward at bf16 after isa.Set(avx2): %v, want an error naming AVX512_BF16", err)
		}
		isa.Set(old)
	}
	for _, l := range isa.Available() {
		if l >= isa.AVX512 {
			continue
		}
		isa.Set(l)
		b := cpu.NewWorkers(1)
		err := b.SetPrecision(nn.BF16)
		if err == nil || !strings.Contains(err.Error(), "AVX512_BF16") || (isa.HasBF16 && !strings.Contains(err.Error(), isa.EnvVar)) {
			t.Errorf("SetPrecision(bf16) at %s: %v, want an error naming AVX512_BF16 (and %s on this CPU)", l, err, isa.EnvVar)
		}
		if b.Precision() != nn.FP32 {
			t.Errorf("at %s a refused bf16 left the precision at %s", l, b.Precision())
		}
	}
}

// TestBF16Rounds: at bf16 a conv rounds its operands itself (the same bits from pre-rounded
// operands), the rounding shows (most outputs differ from FP32), y and dx do not depend on the
// worker count and dw, db are deterministic (bit for bit), and MaskedConvAt stays FP32.
func TestBF16Rounds(t *testing.T) {
	bf16Backend(t, 1)
	r := rand.New(rand.NewPCG(7, 9))
	spec := nn.ConvSpec{Name: "probe", K: 3, In: 12, Out: 9, Colors: 3, Mode: nn.MaskB, ReLU: true}
	xs := []int{2, 5, 6, spec.In}
	ys := []int{2, 5, 6, spec.Out}
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.Float64()*2 - 1)
		}
		return v
	}
	x, w, bias, dy := rnd(nn.ShapeLen(xs)), rnd(nn.ShapeLen(spec.WeightShape())), rnd(spec.Out), rnd(nn.ShapeLen(ys))
	mask, _ := nn.Mask(spec)
	for i, m := range mask {
		w[i] *= m
	}
	round := func(v []float32) []float32 {
		o := make([]float32, len(v))
		for i, e := range v {
			o[i] = nn.RoundBF16(e)
		}
		return o
	}
	type result struct{ y, at, dx, dw, db []float32 }
	run := func(p nn.Precision, workers int, x, w []float32) result {
		b := cpu.NewWorkers(workers)
		if err := b.SetPrecision(p); err != nil {
			t.Fatal(err)
		}
		xt, _ := b.FromHost(x, xs...)
		wt, _ := b.FromHost(w, spec.WeightShape()...)
		bt, _ := b.FromHost(bias, spec.Out)
		yt := b.New(ys...)
		if err := b.MaskedConv(spec, yt, xt, wt, bt); err != nil {
			t.Fatal(err)
		}
		at := b.New(xs[0], 1, 1, spec.Out)
		if err := b.MaskedConvAt(spec, at, xt, wt, bt, 2, 3); err != nil {
			t.Fatal(err)
		}
		dyt, _ := b.FromHost(dy, ys...)
		dxt, dwt, dbt := b.New(xs...), b.New(spec.WeightShape()...), b.New(spec.Out)
		if err := b.MaskedConvBackward(spec, dxt, dwt, dbt, dyt, xt, wt, yt); err != nil {
			t.Fatal(err)
		}
		return result{yt.Host, at.Host, dxt.Host, dwt.Host, dbt.Host}
	}
	same := func(what string, a, b []float32) {
		t.Helper()
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s[%d]: %g != %g", what, i, a[i], b[i])
			}
		}
	}
	bf16 := run(nn.BF16, 1, x, w)
	pre := run(nn.BF16, 1, round(x), round(w))
	same("y, raw vs pre-rounded operands", bf16.y, pre.y)
	for _, workers := range []int{2, 3} {
		o, again := run(nn.BF16, workers, x, w), run(nn.BF16, workers, x, w)
		same("y, 1 vs more workers", bf16.y, o.y)
		same("dx, 1 vs more workers", bf16.dx, o.dx)
		// dW and dB sum per-worker partials (chunks follow the worker count, as at FP32):
		// deterministic for a given count.
		same("dw, same workers twice", o.dw, again.dw)
		same("db, same workers twice", o.db, again.db)
	}
	fp32 := run(nn.FP32, 1, x, w)
	for n := 0; n < xs[0]; n++ {
		for o := 0; o < spec.Out; o++ {
			want := fp32.y[((n*xs[1]+2)*xs[2]+3)*spec.Out+o]
			if got := bf16.at[n*spec.Out+o]; math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("MaskedConvAt at bf16: image %d output %d = %g, fp32 conv %g", n, o, got, want)
			}
		}
	}
	for what, pair := range map[string][2][]float32{"y": {bf16.y, fp32.y}, "dx": {bf16.dx, fp32.dx}, "dw": {bf16.dw, fp32.dw}} {
		differ, nonzero := 0, 0 // values that both ReLUs zeroed agree at any precision
		for i := range pair[0] {
			if pair[0][i] != 0 || pair[1][i] != 0 {
				nonzero++
			}
			if pair[0][i] != pair[1][i] {
				differ++
			}
		}
		if differ < nonzero/2 {
			t.Errorf("%s: bf16 and fp32 agree on %d of %d nonzero values: nothing was rounded", what, nonzero-differ, nonzero)
		}
	}
}
