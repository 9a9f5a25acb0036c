package gemm

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu/isa"
)

// needBF16 skips the test, naming what is missing, unless the bf16 kernels can run.
func needBF16(t testing.TB) {
	t.Helper()
	if err := isa.BF16(); err != nil {
		t.Skipf("no bf16 kernel: %v", err)
	}
}

// flushSubnormal is VDPBF16PS's treatment of a subnormal input (DAZ) or result (FTZ): a zero
// of the same sign.
func flushSubnormal(v float32) float32 {
	if v != 0 && math.Abs(float64(v)) < 0x1p-126 {
		return float32(math.Copysign(0, float64(v)))
	}
	return v
}

// dpStep is one of VDPBF16PS's two accumulations per lane (Intel SDM): acc + x*y for bf16 x
// and y, as an FP32 fused multiply-add rounded to nearest even, subnormal inputs read as 0
// and a subnormal result flushed to 0. The product of two bf16 values (8-bit significands) is
// exact in float64, and the float64 sum of it and a float32 rounds to float32 correctly: when
// the sum is inexact in float64 the two differ in magnitude by more than 2^29, too far for
// the second rounding to reach a float32 rounding boundary.
func dpStep(acc, x, y float32) float32 {
	acc, x, y = flushSubnormal(acc), flushSubnormal(x), flushSubnormal(y)
	return flushSubnormal(float32(float64(acc) + float64(x)*float64(y)))
}

// emulateBgemm is a scalar emulation of Bgemm at alpha = 1 and beta 0 or 1: per element and
// k block (bf16BlockK), one VDPBF16PS chain from +0 over the k pairs (2p+1, then 2p; an odd
// k's missing half is 0), then the kernel's store (C = acc, or C + acc rounded once).
func emulateBgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	opA := func(i, p int) float32 {
		if transA {
			return nn.RoundBF16(a[p*lda+i])
		}
		return nn.RoundBF16(a[i*lda+p])
	}
	opB := func(p, j int) float32 {
		if transB {
			return nn.RoundBF16(b[j*ldb+p])
		}
		return nn.RoundBF16(b[p*ldb+j])
	}
	kc := bf16BlockK(k)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			cv := c[i*ldc+j]
			if k == 0 {
				if beta == 0 {
					cv = 0
				}
			}
			for pc := 0; pc < k; pc += kc {
				kb := min(kc, k-pc)
				var acc float32
				for p := 0; p < kb; p += 2 {
					var a1, b1 float32
					if p+1 < kb {
						a1, b1 = opA(i, pc+p+1), opB(pc+p+1, j)
					}
					acc = dpStep(acc, b1, a1)
					acc = dpStep(acc, opB(pc+p, j), opA(i, pc+p))
				}
				if pc == 0 && beta == 0 {
					cv = acc
				} else {
					cv = float32(float64(cv) + float64(acc))
				}
			}
			c[i*ldc+j] = cv
		}
	}
}

// bf16Operands fills a slice with values of mixed magnitudes (2^-20 .. 2^20 times [-1, 1]),
// so that the products are aligned at many different exponents in the sums.
func bf16Operands(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32((r.Float64()*2 - 1) * math.Ldexp(1, r.IntN(41)-20))
	}
	return s
}

// TestBgemmBitExact: the VDPBF16PS kernels give the scalar emulation's bits for every test
// shape (odd k, edge tiles, several k and column blocks), both layouts of A and B, beta 0 and
// 1 (the backend's), with padded leading dimensions left untouched.
func TestBgemmBitExact(t *testing.T) {
	needBF16(t)
	r := rand.New(rand.NewPCG(11, 12))
	shapes := append(testShapes(testing.Short()), shape{28 * 28, 32, 288}, shape{288, 32, 28 * 28}, shape{16, 64, 33}, shape{9, 40, 513})
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		for _, s := range shapes {
			for _, beta := range []float32{0, 1} {
				ta, tb := tr[0], tr[1]
				pad := int(s.k % 3)
				lda, ldb, ldc := max(1, s.k)+pad, max(1, s.n)+pad, max(1, s.n)+pad
				ar, br := s.m, s.k
				if ta {
					lda, ar = max(1, s.m)+pad, s.k
				}
				if tb {
					ldb, br = max(1, s.k)+pad, s.n
				}
				a, b := bf16Operands(r, ar*lda), bf16Operands(r, br*ldb)
				c0 := bf16Operands(r, s.m*ldc)
				got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
				Bgemm(ta, tb, s.m, s.n, s.k, 1, a, lda, b, ldb, beta, got, ldc)
				emulateBgemm(ta, tb, s.m, s.n, s.k, a, lda, b, ldb, beta, want, ldc)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("tA=%v tB=%v %v beta=%v: C[%d][%d] = %g (%#08x), emulation %g (%#08x)",
							ta, tb, s, beta, i/ldc, i%ldc, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// TestBgemmSubnormals: the kernels read subnormal bf16 operands as zero and flush subnormal
// partial sums, as the emulation does (operands and products at the edge of the normal range,
// one k pair and several).
func TestBgemmSubnormals(t *testing.T) {
	needBF16(t)
	r := rand.New(rand.NewPCG(13, 14))
	vals := []float32{
		0x1p-127, -0x1p-130, 0x1p-133, // subnormal bf16: read as zero
		0x1p-126, -0x1p-126, 0x1.02p-126, // smallest normals
		0x1p-63, -0x1p-64, 0x1.8p-63, 0x1p-62, // products near 2^-126
		1, -1, 0.5, 0, float32(math.Copysign(0, -1)),
	}
	pick := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = vals[r.IntN(len(vals))]
		}
		return s
	}
	for _, s := range []shape{{1, 1, 1}, {1, 1, 2}, {3, 33, 5}, {15, 40, 64}, {16, 32, 300}} {
		for rep := 0; rep < 20; rep++ {
			a, b := pick(s.m*s.k), pick(s.k*s.n)
			got, want := make([]float32, s.m*s.n), make([]float32, s.m*s.n)
			Bgemm(false, false, s.m, s.n, s.k, 1, a, s.k, b, s.n, 0, got, s.n)
			emulateBgemm(false, false, s.m, s.n, s.k, a, s.k, b, s.n, 0, want, s.n)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v: C[%d] = %g (%#08x), emulation %g (%#08x)", s, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
}

// TestBgemmAccuracy checks every alpha, beta combination against a float64 reference on the
// bf16-rounded operands: |got - ref| <= 2*gamma_{k+2}(2^-24)*S + (k+2)*2^-126, S the sum of
// |terms| (k products and beta*C), the last term for the flushed subnormal partial sums.
func TestBgemmAccuracy(t *testing.T) {
	needBF16(t)
	r := rand.New(rand.NewPCG(15, 16))
	round := func(v []float32) []float32 {
		o := make([]float32, len(v))
		for i, e := range v {
			o[i] = nn.RoundBF16(e)
		}
		return o
	}
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		for _, s := range []shape{{7, 17, 400}, {13, 33, 777}, {65, 49, 385}, {100, 64, 160}, {1, 1, 1}, {5, 0, 3}, {3, 4, 0}} {
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-2, 0.5}, {0, 1}, {0, 0}} {
				ta, tb := tr[0], tr[1]
				lda, ldb, ldc := max(1, s.k), max(1, s.n), max(1, s.n)
				ar, br := s.m, s.k
				if ta {
					lda, ar = max(1, s.m), s.k
				}
				if tb {
					ldb, br = max(1, s.k), s.n
				}
				a, b, c := randSlice(r, ar*lda), randSlice(r, br*ldb), randSlice(r, s.m*ldc)
				if ab[1] == 0 {
					for i := range c {
						c[i] = float32(math.NaN()) // beta == 0: C is never read
					}
				}
				ref, scale := refGemm(ta, tb, s.m, s.n, s.k, ab[0], round(a), lda, round(b), ldb, ab[1], c, ldc)
				Bgemm(ta, tb, s.m, s.n, s.k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
				u := 0x1p-24 * float64(s.k+2)
				for i := 0; i < s.m; i++ {
					for j := 0; j < s.n; j++ {
						got, want := float64(c[i*ldc+j]), ref[i*s.n+j]
						bound := 2*u/(1-u)*scale[i*s.n+j] + float64(s.k+2)*0x1p-126
						if d := math.Abs(got - want); !(d <= bound) {
							t.Fatalf("tA=%v tB=%v %v alpha=%v beta=%v: C[%d][%d] = %g, want %g (bound %.3g)", ta, tb, s, ab[0], ab[1], i, j, got, want, bound)
						}
					}
				}
			}
		}
	}
}

// TestBgemmRoundsOperands: Bgemm rounds its operands itself (the same bits as on pre-rounded
// operands), and the rounding matters (Sgemm of the unrounded operands differs).
func TestBgemmRoundsOperands(t *testing.T) {
	needBF16(t)
	r := rand.New(rand.NewPCG(17, 18))
	m, n, k := 30, 70, 91
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	ra, rb := make([]float32, len(a)), make([]float32, len(b))
	for i, v := range a {
		ra[i] = nn.RoundBF16(v)
	}
	for i, v := range b {
		rb[i] = nn.RoundBF16(v)
	}
	got, pre, fp32 := make([]float32, m*n), make([]float32, m*n), make([]float32, m*n)
	Bgemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n)
	Bgemm(false, false, m, n, k, 1, ra, k, rb, n, 0, pre, n)
	Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, fp32, n)
	differ := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(pre[i]) {
			t.Fatalf("C[%d]: %g from raw operands, %g from pre-rounded ones", i, got[i], pre[i])
		}
		if got[i] != fp32[i] {
			differ++
		}
	}
	if differ < len(got)/2 {
		t.Errorf("bf16 and fp32 agree on %d of %d elements: the operands were not rounded", len(got)-differ, len(got))
	}
}

// TestBgemmRefused: below avx512 (PIXELCNN_CPU_ISA) and on a CPU without AVX512_BF16 Bgemm
// panics naming AVX512_BF16 rather than executing an illegal instruction.
func TestBgemmRefused(t *testing.T) {
	if isa.Detected == isa.Generic && isa.BF16() == nil {
		t.Fatal("bf16 available at generic")
	}
	withISA(t, isa.Generic)
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "AVX512_BF16") {
			t.Errorf("Bgemm at generic: panic %q, want one naming AVX512_BF16", msg)
		}
	}()
	Bgemm(false, false, 1, 1, 1, 1, []float32{1}, 1, []float32{1}, 1, 0, []float32{0}, 1)
}

// BenchmarkBgemm times Bgemm (bf16 operands, VDPBF16PS) against Sgemm at the active level
// (avx512 on a CPU with AVX512_BF16) on BenchmarkSgemm's shapes (the presets' conv GEMMs),
// the two interleaved within each shape. GFLOP/s counts 2*m*n*k for both; cpuGFLOP/s, over
// the thread's CPU time, is the robust figure on a busy machine.
func BenchmarkBgemm(b *testing.B) {
	needBF16(b)
	for _, s := range benchShapes {
		b.Run(s.name+"/fp32", func(b *testing.B) { benchGemmWith(b, Sgemm, s.transA, s.transB, s.m, s.n, s.k) })
		b.Run(s.name+"/bf16", func(b *testing.B) { benchGemmWith(b, Bgemm, s.transA, s.transB, s.m, s.n, s.k) })
	}
}
