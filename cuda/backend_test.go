//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"pixelcnn/kernels"
	"pixelcnn/nn"
	"pixelcnn/nn/backendtest"
	"pixelcnn/nn/cpu"
)

var (
	shared     *Backend
	sharedErr  error
	sharedOnce sync.Once
)

// gpu returns the one Backend the tests share (opening a context per test is slow).
func gpu(t *testing.T) *Backend {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = New() })
	if sharedErr != nil {
		t.Fatalf("cuda.New: %v", sharedErr)
	}
	return shared
}

func TestConformance(t *testing.T) {
	b := gpu(t)
	defer b.SetConvVersion(2)
	for _, v := range []int{2, 1} {
		if err := b.SetConvVersion(v); err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("conv-v%d", v), func(t *testing.T) { backendtest.Run(t, b) })
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// TestConvTF32 runs the version 3 (TF32 tensor-core) conv kernels through backendtest's TF32
// conv checks: every conformance conv shape and (unless -short) the cifar10 preset's shapes
// at batch 2 (many tiles, K chunks and dW slices), against references on TF32-rounded
// operands (tight) and on the exact operands, with the bounds derived in nn/backendtest/tf32.go.
func TestConvTF32(t *testing.T) {
	b := gpu(t)
	if err := b.SetPrecision(nn.TF32); err != nil {
		t.Skipf("no TF32 tensor cores: %v", err)
	}
	defer b.SetPrecision(nn.FP32)
	backendtest.RunConvTF32(t, b)
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// TestFusedOpsV3: version 3's residual epilogue and fresh-dx mode give what its own unfused
// ops give, bit for bit (backendtest.Run checks versions 1 and 2 the same way).
func TestFusedOpsV3(t *testing.T) {
	b := gpu(t)
	if err := b.SetPrecision(nn.TF32); err != nil {
		t.Skipf("no TF32 tensor cores: %v", err)
	}
	defer b.SetPrecision(nn.FP32)
	backendtest.RunFusedOps(t, b)
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// TestSetPrecision: tf32 selects version 3 (or fails naming the GPU before sm_80), fp32
// version 2; unknown precisions and versions are errors.
func TestSetPrecision(t *testing.T) {
	b := gpu(t)
	defer b.SetConvVersion(2)
	for _, v := range []int{0, 4} {
		if err := b.SetConvVersion(v); err == nil || !strings.Contains(err.Error(), "want 1, 2 or 3") {
			t.Errorf("SetConvVersion(%d): %v", v, err)
		}
	}
	if err := b.SetPrecision("bf16"); err == nil || !strings.Contains(err.Error(), "bf16") || !strings.Contains(err.Error(), "tf32") {
		t.Errorf("SetPrecision(bf16): %v, want an error listing the choices", err)
	}
	if err := b.SetPrecision(nn.FP32); err != nil || b.Precision() != nn.FP32 || b.version != 2 {
		t.Errorf("SetPrecision(fp32): %v, precision %s, version %d", err, b.Precision(), b.version)
	}
	err := b.SetPrecision(nn.TF32)
	if b.ccMajor >= 8 {
		if err != nil || b.Precision() != nn.TF32 || b.version != 3 {
			t.Errorf("SetPrecision(tf32) on %s: %v, precision %s, version %d", b.Name(), err, b.Precision(), b.version)
		}
	} else if err == nil || !strings.Contains(err.Error(), b.Name()) || !strings.Contains(err.Error(), "8.0") {
		t.Errorf("SetPrecision(tf32) on %s: %v, want an error naming the GPU and sm_80", b.Name(), err)
	}
	if got := nn.BackendPrecision(b); got != b.Precision() {
		t.Errorf("nn.BackendPrecision = %s, Precision() = %s", got, b.Precision())
	}
}

// TestKernelsLoad checks that every .entry of every embedded PTX module was loaded, that the
// names are unmangled (extern "C"), and that every kernel the backend launches exists.
func TestKernelsLoad(t *testing.T) {
	b := gpu(t)
	mods, names, err := kernels.Modules()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"elementwise", "maskedconv", "optim", "sample", "softmax_xent"} {
		if _, ok := mods[want]; !ok {
			t.Errorf("module %s not embedded (have %v)", want, names)
		}
	}
	entries := 0
	for _, name := range names {
		for kernel := range kernels.Entries(mods[name]) {
			entries++
			if strings.HasPrefix(kernel, "_Z") {
				t.Errorf("module %s: kernel %s has a mangled name (missing extern \"C\")", name, kernel)
			}
			if _, ok := b.fns[kernel]; !ok {
				t.Errorf("module %s: kernel %s not loaded", name, kernel)
			}
		}
	}
	if entries != len(b.fns) {
		t.Errorf("%d entries in the PTX, %d kernels loaded", entries, len(b.fns))
	}
	for _, k := range requiredKernels {
		if _, ok := b.fns[k]; !ok {
			t.Errorf("required kernel %s not loaded", k)
		}
	}
	t.Logf("%d kernels: %v", len(b.fns), b.Kernels())
}

func TestSizeClass(t *testing.T) {
	for _, tc := range []struct{ n, want int64 }{
		{1, 256}, {256, 256}, {257, 512}, {1000, 1024}, {1024, 1024}, {1025, 1280},
		{2048, 2048}, {2049, 2560}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<18},
	} {
		if got := sizeClass(tc.n); got != tc.want {
			t.Errorf("sizeClass(%d) = %d, want %d", tc.n, got, tc.want)
		}
		if got := sizeClass(tc.n); got < tc.n || float64(got) > 1.25*float64(tc.n)+256 {
			t.Errorf("sizeClass(%d) = %d wastes too much", tc.n, got)
		}
	}
}

// tinyNet is a 3-layer PixelCNN whose step is a training-like step: forward, loss, backward,
// clipping, Adam. Activations and their gradients are allocated with New and released within
// the step, as the model does.
type tinyNet struct {
	specs   []nn.ConvSpec
	w, bias []*nn.Tensor
	gw, gb  []*nn.Tensor
	m, v    []*nn.Tensor
	x       *nn.Tensor
}

func newTinyNet(t *testing.T, b nn.Backend) *tinyNet {
	r := rand.New(rand.NewPCG(1, 2))
	n := &tinyNet{specs: []nn.ConvSpec{
		{Name: "input_conv", K: 7, In: 3, Out: 24, Colors: 3, Mode: nn.MaskA, ReLU: true},
		{Name: "conv_mid", K: 3, In: 24, Out: 24, Colors: 3, Mode: nn.MaskB, ReLU: true},
		{Name: "final_conv", K: 1, In: 24, Out: 3 * 256, Colors: 3, Mode: nn.MaskB},
	}}
	for _, s := range n.specs {
		mask, err := nn.Mask(s)
		if err != nil {
			t.Fatal(err)
		}
		w := make([]float32, len(mask))
		for i := range w {
			w[i] = mask[i] * float32(r.NormFloat64()*0.1)
		}
		wt, err := b.FromHost(w, s.WeightShape()...)
		if err != nil {
			t.Fatal(err)
		}
		n.w = append(n.w, wt)
		n.bias = append(n.bias, b.New(s.Out))
		n.gw = append(n.gw, b.New(s.WeightShape()...))
		n.gb = append(n.gb, b.New(s.Out))
	}
	params := append(append([]*nn.Tensor(nil), n.w...), n.bias...)
	for _, p := range params {
		n.m = append(n.m, b.New(p.Shape...))
		n.v = append(n.v, b.New(p.Shape...))
	}
	img := make([]float32, 2*8*8*3)
	for i := range img {
		img[i] = float32(r.IntN(256)) / 255
	}
	var err error
	if n.x, err = b.FromHost(img, 2, 8, 8, 3); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *tinyNet) step(b nn.Backend, it int) (float64, error) {
	acts := []*nn.Tensor{n.x}
	for _, s := range n.specs {
		in := acts[len(acts)-1]
		y := b.New(in.Shape[0], in.Shape[1], in.Shape[2], s.Out)
		if err := b.MaskedConv(s, y, in, n.w[len(acts)-1], n.bias[len(acts)-1]); err != nil {
			return 0, err
		}
		acts = append(acts, y)
	}
	logits := acts[len(acts)-1]
	dy := b.New(logits.Shape...)
	nats, err := b.SoftmaxXent(logits, n.x, dy, 1/float32(n.x.Len()))
	if err != nil {
		return 0, err
	}
	for _, g := range append(append([]*nn.Tensor(nil), n.gw...), n.gb...) {
		b.Zero(g)
	}
	for l := len(n.specs) - 1; l >= 0; l-- {
		var dx *nn.Tensor
		if l > 0 {
			dx = b.New(acts[l].Shape...)
		}
		if err := b.MaskedConvBackward(n.specs[l], dx, n.gw[l], n.gb[l], dy, acts[l], n.w[l], acts[l+1]); err != nil {
			return 0, err
		}
		b.Release(dy)
		dy = dx
	}
	grads := append(append([]*nn.Tensor(nil), n.gw...), n.gb...)
	ss, err := b.SumSquares(grads)
	if err != nil {
		return 0, err
	}
	// Clip to norm 1, always launching Scale so that every step makes the same calls.
	if err := b.Scale(grads, float32(min(1, 1/math.Sqrt(ss)))); err != nil {
		return 0, err
	}
	params := append(append([]*nn.Tensor(nil), n.w...), n.bias...)
	if err := b.AdamStep(params, grads, n.m, n.v, nn.AdamStep{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: it + 1}); err != nil {
		return 0, err
	}
	for _, a := range acts[1:] {
		b.Release(a)
	}
	return nats, nil
}

// TestPoolNoAllocAfterFirstStep runs training-like steps and checks that after the first one
// every buffer comes from the pool: no cuMemAlloc, and the bytes in use return to the level
// they had after the first step.
func TestPoolNoAllocAfterFirstStep(t *testing.T) {
	b := gpu(t)
	net := newTinyNet(t, b)
	first, err := net.step(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	after1 := b.PoolStats()
	last := first
	for it := 1; it < 6; it++ {
		if last, err = net.step(b, it); err != nil {
			t.Fatal(err)
		}
		st := b.PoolStats()
		if st.Allocs != after1.Allocs {
			t.Errorf("step %d: %d cuMemAlloc calls after the first step (stats %v)", it, st.Allocs-after1.Allocs, st)
		}
		if st.InUse != after1.InUse || st.Buffers != after1.Buffers {
			t.Errorf("step %d: in use %d B in %d buffers, after step 0 %d B in %d", it, st.InUse, st.Buffers, after1.InUse, after1.Buffers)
		}
	}
	st := b.PoolStats()
	if st.Reuses <= after1.Reuses {
		t.Errorf("no pool reuse: %v", st)
	}
	if math.IsNaN(last) || !(last < first) {
		t.Errorf("loss %v after 6 steps, first %v: not decreasing", last, first)
	}
	t.Logf("pool after 6 steps: %v; loss %.4f -> %.4f nats", st, first, last)
}

func TestPoolOutOfMemory(t *testing.T) {
	b := gpu(t)
	exit, err := b.enter()
	if err != nil {
		t.Fatal(err)
	}
	const huge = int64(1) << 50 // 1 PiB
	_, _, err = b.pool.alloc(huge)
	exit()
	if err == nil {
		t.Fatal("allocating 1 PiB: no error")
	}
	for _, want := range []string{"out of device memory", fmt.Sprint(huge), "pool"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestDeferredError: New cannot return an error, so its failure comes back from the next op.
func TestDeferredError(t *testing.T) {
	b := gpu(t)
	bad := b.New(-1, 4)
	x := b.New(4)
	err := b.Copy(x, x)
	if err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("op after a failed New: %v, want the New error", err)
	}
	if err := b.Copy(x, x); err != nil {
		t.Errorf("the kept error is returned once: %v", err)
	}
	if err := b.ReLU(x, bad); err == nil {
		t.Errorf("op on a tensor without storage: no error")
	}
	b.Release(bad)
	b.Release(x)
	if err := b.ReLU(x, x); err == nil || !strings.Contains(err.Error(), "storage") {
		t.Errorf("op on a released tensor: %v", err)
	}
}

// TestAgainstCPU compares both conv versions with the CPU backend on model-sized shapes that
// span many tiles, K chunks and dW slices (the conformance shapes fit in one tile), and checks
// that the backward pass is bitwise deterministic.
func TestAgainstCPU(t *testing.T) {
	b := gpu(t)
	defer b.SetConvVersion(2)
	ref := cpu.New()
	cases := []struct {
		n, h, w int
		spec    nn.ConvSpec
	}{
		{4, 16, 16, nn.ConvSpec{Name: "input7x7", K: 7, In: 3, Out: 96, Colors: 3, Mode: nn.MaskA, ReLU: true}},
		{4, 16, 16, nn.ConvSpec{Name: "mid3x3", K: 3, In: 96, Out: 96, Colors: 3, Mode: nn.MaskB, ReLU: true}},
		{4, 16, 16, nn.ConvSpec{Name: "in1x1", K: 1, In: 192, Out: 96, Colors: 3, Mode: nn.MaskB, ReLU: true}},
		{2, 28, 28, nn.ConvSpec{Name: "final1x1", K: 1, In: 96, Out: 768, Colors: 3, Mode: nn.MaskB}},
		{3, 13, 11, nn.ConvSpec{Name: "odd3x3", K: 3, In: 33, Out: 66, Colors: 1, Mode: nn.MaskA, ReLU: true}},
	}
	for ci, c := range cases {
		t.Run(c.spec.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 3))
			s := c.spec
			xs := []int{c.n, c.h, c.w, s.In}
			ys := []int{c.n, c.h, c.w, s.Out}
			mask, _ := nn.Mask(s)
			host := func(n int, scale float64) []float32 {
				v := make([]float32, n)
				for i := range v {
					v[i] = float32((r.Float64()*2 - 1) * scale)
				}
				return v
			}
			x, w, bias, dy := host(nn.ShapeLen(xs), 1), host(len(mask), 0.2), host(s.Out, 0.1), host(nn.ShapeLen(ys), 1)
			for i := range w {
				w[i] *= mask[i]
			}
			run := func(be nn.Backend) (y, dx, dw, db []float32) {
				up := func(v []float32, shape ...int) *nn.Tensor {
					tt, err := be.FromHost(v, shape...)
					if err != nil {
						t.Fatal(err)
					}
					return tt
				}
				xt, wt, bt, dyt := up(x, xs...), up(w, s.WeightShape()...), up(bias, s.Out), up(dy, ys...)
				yt, dxt, dwt, dbt := be.New(ys...), be.New(xs...), be.New(s.WeightShape()...), be.New(s.Out)
				if err := be.MaskedConv(s, yt, xt, wt, bt); err != nil {
					t.Fatal(err)
				}
				if err := be.MaskedConvBackward(s, dxt, dwt, dbt, dyt, xt, wt, yt); err != nil {
					t.Fatal(err)
				}
				get := func(tt *nn.Tensor) []float32 {
					v := make([]float32, tt.Len())
					if err := be.ToHost(v, tt); err != nil {
						t.Fatal(err)
					}
					be.Release(tt)
					return v
				}
				y, dx, dw, db = get(yt), get(dxt), get(dwt), get(dbt)
				for _, tt := range []*nn.Tensor{xt, wt, bt, dyt} {
					be.Release(tt)
				}
				return
			}
			ry, rdx, rdw, rdb := run(ref)
			for _, v := range []int{2, 1} {
				if err := b.SetConvVersion(v); err != nil {
					t.Fatal(err)
				}
				gy, gdx, gdw, gdb := run(b)
				// The ReLU masks of the two backends may differ where y is within rounding of
				// 0; compare gradients only when the forward outputs agree in sign.
				near(t, fmt.Sprintf("v%d y", v), gy, ry, 1e-4)
				if sameSigns(gy, ry) {
					near(t, fmt.Sprintf("v%d dx", v), gdx, rdx, 1e-4)
					near(t, fmt.Sprintf("v%d dw", v), gdw, rdw, 1e-4)
					near(t, fmt.Sprintf("v%d db", v), gdb, rdb, 1e-4)
				}
				for i, m := range mask {
					if m == 0 && gdw[i] != 0 {
						t.Fatalf("v%d: masked dw[%d] = %g", v, i, gdw[i])
					}
				}
				_, gdx2, gdw2, gdb2 := run(b)
				if !bitsEqual(gdx, gdx2) || !bitsEqual(gdw, gdw2) || !bitsEqual(gdb, gdb2) {
					t.Errorf("v%d: backward not bitwise deterministic", v)
				}
			}
		})
	}
}

// near checks |got-ref| <= tol*(1+|ref|) elementwise, reporting the first ten mismatches.
func near(t *testing.T, what string, got, ref []float32, tol float64) {
	t.Helper()
	bad := 0
	for i := range ref {
		d := math.Abs(float64(got[i]) - float64(ref[i]))
		if !(d <= tol*(1+math.Abs(float64(ref[i])))) {
			if bad < 10 {
				t.Errorf("%s[%d] = %g, want %g", what, i, got[i], ref[i])
			}
			bad++
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d mismatches", what, bad)
	}
}

func sameSigns(a, b []float32) bool {
	for i := range a {
		if (a[i] > 0) != (b[i] > 0) {
			return false
		}
	}
	return true
}

func bitsEqual(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}
