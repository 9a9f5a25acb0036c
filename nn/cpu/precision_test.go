package cpu_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/backendtest"
	"pixelcnn/nn/cpu"
)

// TestConvTF32 runs the TF32 emulation through the conformance suite's TF32 bounds (the
// cifar10 shapes too, without -short), with 3 workers: chunks split unevenly over them.
func TestConvTF32(t *testing.T) {
	b := cpu.NewWorkers(3)
	if err := b.SetPrecision(nn.TF32); err != nil {
		t.Fatal(err)
	}
	backendtest.RunConvTF32(t, b)
	backendtest.RunFusedOps(t, b)
}

func TestSetPrecision(t *testing.T) {
	b := cpu.New()
	if p := b.Precision(); p != nn.FP32 {
		t.Errorf("a new backend computes at %s, want fp32", p)
	}
	if p := nn.DefaultPrecision(b); p != nn.FP32 {
		t.Errorf("default precision %s, want fp32 (TF32 is an emulation, used only when asked)", p)
	}
	if err := b.SetPrecision("fp16"); err == nil || !strings.Contains(err.Error(), "tf32") {
		t.Errorf("SetPrecision(fp16): %v, want an error listing the choices", err)
	}
	for _, p := range []nn.Precision{nn.TF32, nn.FP32} {
		if err := b.SetPrecision(p); err != nil || b.Precision() != p {
			t.Errorf("SetPrecision(%s): %v, precision now %s", p, err, b.Precision())
		}
	}
}

// TestTF32Rounds checks the emulation against a direct computation: at TF32 a conv's
// output is the FP32 conv of the TF32-rounded operands, bit for bit (same GEMM, same order),
// and it differs from the FP32 conv of the unrounded ones. MaskedConvAt stays FP32.
func TestTF32Rounds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	spec := nn.ConvSpec{Name: "probe", K: 3, In: 12, Out: 9, Colors: 3, Mode: nn.MaskB, ReLU: true}
	xs := []int{2, 5, 6, spec.In}
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.Float64()*2 - 1)
		}
		return v
	}
	x, w, bias := rnd(nn.ShapeLen(xs)), rnd(nn.ShapeLen(spec.WeightShape())), rnd(spec.Out)
	mask, _ := nn.Mask(spec)
	for i, m := range mask {
		w[i] *= m
	}
	round := func(v []float32) []float32 {
		o := make([]float32, len(v))
		for i, e := range v {
			o[i] = nn.RoundTF32(e)
		}
		return o
	}
	var conv func(p nn.Precision, x, w []float32) []float32
	conv = func(p nn.Precision, x, w []float32) []float32 {
		b := cpu.NewWorkers(2)
		if err := b.SetPrecision(p); err != nil {
			t.Fatal(err)
		}
		xt, _ := b.FromHost(x, xs...)
		wt, _ := b.FromHost(w, spec.WeightShape()...)
		bt, _ := b.FromHost(bias, spec.Out)
		yt := b.New(xs[0], xs[1], xs[2], spec.Out)
		if err := b.MaskedConv(spec, yt, xt, wt, bt); err != nil {
			t.Fatal(err)
		}
		// MaskedConvAt at (2, 3) must be the FP32 conv's value at every precision.
		at := b.New(xs[0], 1, 1, spec.Out)
		if err := b.MaskedConvAt(spec, at, xt, wt, bt, 2, 3); err != nil {
			t.Fatal(err)
		}
		if p == nn.TF32 {
			fp32 := conv(nn.FP32, x, w)
			for n := 0; n < xs[0]; n++ {
				for o := 0; o < spec.Out; o++ {
					want := fp32[((n*xs[1]+2)*xs[2]+3)*spec.Out+o]
					if got := at.Host[n*spec.Out+o]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("MaskedConvAt at tf32: image %d output %d = %g, fp32 conv %g", n, o, got, want)
					}
				}
			}
		}
		return yt.Host
	}
	tf32 := conv(nn.TF32, x, w)
	want := conv(nn.FP32, round(x), round(w))
	exact := conv(nn.FP32, x, w)
	differ := 0
	for i := range want {
		if math.Float32bits(tf32[i]) != math.Float32bits(want[i]) {
			t.Fatalf("y[%d] at tf32 = %g, fp32 conv of rounded operands %g", i, tf32[i], want[i])
		}
		if tf32[i] != exact[i] {
			differ++
		}
	}
	if differ == 0 {
		t.Errorf("tf32 and fp32 agree everywhere: nothing was rounded")
	}
}
