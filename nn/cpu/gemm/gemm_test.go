package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"pixelcnn/nn/cpu/isa"
)

// refGemm is a naive float64 reference. It returns C and the per-element
// error bound scale sum_k |a_ik*b_kj| (plus |beta*c| for beta != 0).
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (ref, scale []float64) {
	ref = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = float64(a[p*lda+i])
				} else {
					av = float64(a[i*lda+p])
				}
				if transB {
					bv = float64(b[j*ldb+p])
				} else {
					bv = float64(b[p*ldb+j])
				}
				s += av * bv
				abs += math.Abs(av * bv)
			}
			r := float64(alpha) * s
			sc := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				cv := float64(c[i*ldc+j])
				r += float64(beta) * cv
				sc += math.Abs(float64(beta) * cv)
			}
			ref[i*n+j] = r
			scale[i*n+j] = sc
		}
	}
	return ref, scale
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

type shape struct{ m, n, k int }

func testShapes(short bool) []shape {
	sizes := []int{1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 65}
	var out []shape
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range []int{0, 1, 3, 16, 33} {
				out = append(out, shape{m, n, k})
			}
		}
	}
	out = append(out,
		shape{0, 5, 3}, shape{5, 0, 3}, shape{0, 0, 0},
		shape{7, 17, 400}, shape{13, 33, 777}, shape{6, 16, 1000}, shape{65, 49, 385},
		shape{100, 64, 160}, shape{97, 256, 32}, shape{48, 32, 147}, shape{37, 480, 64},
		shape{200, 800, 40}, shape{20, 700, 300}, shape{8, 333, 520}, // several column blocks
		shape{160, 32, 2100}, shape{19, 7, 2048},
	)
	if !short {
		out = append(out, shape{600, 300, 500}, shape{1000, 96, 1200})
	}
	return out
}

func runCase(t *testing.T, r *rand.Rand, transA, transB bool, s shape, alpha, beta float32, pad int) {
	t.Helper()
	m, n, k := s.m, s.n, s.k
	lda := max(1, k) + pad
	if transA {
		lda = max(1, m) + pad
	}
	ldb := max(1, n) + pad
	if transB {
		ldb = max(1, k) + pad
	}
	ldc := max(1, n) + pad
	ar, br := m, k
	if transA {
		ar = k
	}
	if transB {
		br = n
	}
	a := randSlice(r, ar*lda)
	b := randSlice(r, br*ldb)
	c := randSlice(r, m*ldc)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	orig := append([]float32(nil), c...)
	ref, scale := refGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= n { // padding must be untouched
				if math.Float32bits(got) != math.Float32bits(orig[i*ldc+j]) {
					t.Fatalf("tA=%v tB=%v %v alpha=%v beta=%v: padding C[%d][%d] modified", transA, transB, s, alpha, beta, i, j)
				}
				continue
			}
			want := ref[i*n+j]
			if d := math.Abs(float64(got) - want); !(d <= 1e-5*(1+scale[i*n+j])) {
				t.Fatalf("tA=%v tB=%v %v lda=%d ldb=%d ldc=%d alpha=%v beta=%v: C[%d][%d]=%v want %v",
					transA, transB, s, lda, ldb, ldc, alpha, beta, i, j, got, want)
			}
		}
	}
}

func testAll(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		for _, s := range testShapes(testing.Short()) {
			combos := [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-2, 0.5}, {0, 0}, {0, 1}, {0.5, 0}, {1, -2}}
			pads := []int{0, 3}
			if s.m*s.n*s.k > 200000 { // large: a representative subset keeps the test fast
				combos, pads = [][2]float32{{1, 0}, {0.5, -2}}, []int{1}
			}
			for _, ab := range combos {
				for _, pad := range pads {
					runCase(t, r, tr[0], tr[1], s, ab[0], ab[1], pad)
				}
			}
		}
	}
}

// withISA runs the rest of the test at level l and restores the level after it.
func withISA(t testing.TB, l isa.Level) {
	old := isa.Active()
	if err := isa.Set(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { isa.Set(old) })
}

// TestSgemm checks every instruction-set level this machine has against the float64 reference.
func TestSgemm(t *testing.T) {
	for _, l := range isa.Available() {
		t.Run(l.String(), func(t *testing.T) {
			withISA(t, l)
			testAll(t)
		})
	}
}

// TestLevelsBitIdentical checks that the assembly kernels give bit-identical C at the
// backend's alpha = 1, beta = 0 or 1 (the k blocking is shared, each element one FMA chain
// per block), so a result does not depend on which of them the machine has.
func TestLevelsBitIdentical(t *testing.T) {
	if isa.Detected < isa.AVX512 {
		t.Skipf("this CPU (%s) runs only %s: no second assembly kernel to compare", isa.Detected, isa.Detected)
	}
	r := rand.New(rand.NewPCG(5, 6))
	shapes := append(testShapes(true), shape{28 * 28, 32, 288}, shape{288, 32, 28 * 28}, shape{28 * 28, 288, 32})
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		for _, s := range shapes {
			for _, beta := range []float32{0, 1} {
				ta, tb := tr[0], tr[1]
				lda, ldb := max(1, s.k), max(1, s.n)
				ar, br := s.m, s.k
				if ta {
					lda, ar = max(1, s.m), s.k
				}
				if tb {
					ldb, br = max(1, s.k), s.n
				}
				a, b, c0 := randSlice(r, ar*lda), randSlice(r, br*ldb), randSlice(r, s.m*s.n)
				got := map[isa.Level][]float32{}
				for _, l := range []isa.Level{isa.AVX2, isa.AVX512} {
					withISA(t, l)
					c := append([]float32(nil), c0...)
					Sgemm(ta, tb, s.m, s.n, s.k, 1, a, lda, b, ldb, beta, c, max(1, s.n))
					got[l] = c
				}
				for i := range c0 {
					if x, y := got[isa.AVX2][i], got[isa.AVX512][i]; math.Float32bits(x) != math.Float32bits(y) {
						t.Fatalf("tA=%v tB=%v %v beta=%v: C[%d] avx2 %v != avx512 %v", ta, tb, s, beta, i, x, y)
					}
				}
			}
		}
	}
}

// TestConcurrent checks disjoint row blocks computed concurrently match a
// single call.
func TestConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m, n, k := 500, 70, 90
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	got := make([]float32, m*n)
	var wg sync.WaitGroup
	for blk := 0; blk < m; blk += 61 {
		hi := min(m, blk+61)
		wg.Go(func() {
			for rep := 0; rep < 20; rep++ {
				Sgemm(false, false, hi-blk, n, k, 1, a[blk*k:], k, b, n, 0, got[blk*n:], n)
			}
		})
	}
	wg.Wait()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("element %d: %v != %v", i, got[i], want[i])
		}
	}
}

func TestPanics(t *testing.T) {
	for _, f := range []func(){
		func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() { Sgemm(false, false, -1, 2, 2, 1, nil, 2, nil, 2, 0, nil, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("expected panic")
				}
			}()
			f()
		}()
	}
}

var benchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"NN_12544x32x160", false, false, 12544, 32, 160},
	{"NN_12544x256x32", false, false, 12544, 256, 32},
	{"NN_12544x64x64", false, false, 12544, 64, 64},
	{"NN_12544x32x147", false, false, 12544, 32, 147},
	{"NN_2048x768x480", false, false, 2048, 768, 480},
	{"NN_4096x256x256", false, false, 4096, 256, 256},
	{"TN_160x32x12544", true, false, 160, 32, 12544},
	{"TN_480x256x2048", true, false, 480, 256, 2048},
	{"TN_64x64x12544", true, false, 64, 64, 12544},
	{"NT_12544x160x32", false, true, 12544, 160, 32},
	// The cached sampler's per-position GEMMs: 16 images' rows (mnist preset).
	{"NN_16x64x32", false, false, 16, 64, 32},
	{"NN_16x32x144", false, false, 16, 32, 144},
	{"NN_16x256x32", false, false, 16, 256, 32},
	{"NT_12544x480x256", false, true, 12544, 480, 256},
	{"NT_4096x64x64", false, true, 4096, 64, 64},
}

func benchGemm(b *testing.B, transA, transB bool, m, n, k int) {
	benchGemmWith(b, Sgemm, transA, transB, m, n, k)
}

// gemmFunc is Sgemm's signature (Sgemm, Bgemm).
type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func benchGemmWith(b *testing.B, gemm gemmFunc, transA, transB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randSlice(r, m*k)
	y := randSlice(r, k*n)
	c := make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	flop := 2 * float64(m) * float64(n) * float64(k)
	var cpu float64
	for b.Loop() {
		t0 := threadCPUSeconds()
		gemm(transA, transB, m, n, k, 1, x, lda, y, ldb, 0, c, n)
		cpu += threadCPUSeconds() - t0
	}
	b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		// Rate over the thread's own CPU time: robust to a busy machine.
		b.ReportMetric(flop*float64(b.N)/cpu/1e9, "cpuGFLOP/s")
	}
}

// BenchmarkSgemm times every shape at every level this machine has, the levels interleaved
// within each shape; GFLOP/s over the thread's CPU time is the robust figure on a busy machine.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, l := range isa.Available() {
			if l == isa.Generic || l > isa.AVX512 {
				continue // Generic: BenchmarkSgemmGo; AMX runs the AVX-512 FP32 kernel
			}
			b.Run(s.name+"/"+l.String(), func(b *testing.B) {
				withISA(b, l)
				benchGemm(b, s.transA, s.transB, s.m, s.n, s.k)
			})
		}
	}
}

func BenchmarkSgemmGo(b *testing.B) {
	withISA(b, isa.Generic)
	for _, s := range benchShapes[:3] {
		b.Run(fmt.Sprint(s.name), func(b *testing.B) { benchGemm(b, s.transA, s.transB, s.m, s.n, s.k) })
	}
}
