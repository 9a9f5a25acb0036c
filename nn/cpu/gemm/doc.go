// Package gemm provides a single-threaded float32 matrix multiply (SGEMM) for
// the CPU backend, row-major, with the BLAS-like entry point Sgemm.
//
// Implementations, chosen by the active instruction-set level (package isa):
//
//   - avx512: a 14x32 micro-kernel (gen_avx512.py; 28 ZMM accumulators, the
//     rows' broadcasts alternating between two registers) in the same blocked
//     GEMM as avx2 (sgemmTiled), with the same k blocks and one FMA chain per
//     output element in each, so avx512 and avx2 give identical bits.
//   - avx2 (built unless -tags purego): a BLIS/GotoBLAS-style blocked GEMM
//     around a 6x16 AVX2+FMA micro-kernel in Go assembly (12 YMM accumulators,
//     k unrolled by 4). op(B) is packed into zero-padded 16-column panels of
//     at most 256 (64 when A is transposed) k-steps, sized to stay in L2;
//     op(A) is read in place through row/column strides, so it is never
//     copied (only a final partial row panel is packed). Partial tiles go
//     through a small on-stack tile and are finished in Go. The kernel applies
//     alpha/beta itself and does not read C when beta == 0.
//   - generic (everywhere else, and with -tags purego or PIXELCNN_CPU_ISA=
//     generic): the same blocking in pure Go with 4x4 tiles (computed as two
//     2x4 register passes), each product rounded before its add.
//
// Bgemm (bgemm.go) is the same GEMM at bf16, for the backend's --precision
// bf16, where CPUID reports AVX512_BF16 (isa.BF16): op(A) and op(B) are
// rounded to bfloat16 (ties to even) while they are packed as bf16 pairs
// along k (an odd k padded with a zero), and a 14x32 or 8x32 micro-kernel
// (gen_bf16.py; 28 or 16 ZMM accumulators, FP32) runs VDPBF16PS on them:
// each pair is two fused multiply-adds rounded to nearest even, subnormal
// inputs read as zero and subnormal results flushed. bgemm_test.go checks
// the kernels bit for bit against a scalar emulation of the instruction.
//
// BenchmarkSgemm times the presets' shapes at every level (GFLOP/s, and over
// the thread's own CPU time, robust on a busy machine); BenchmarkBgemm the
// same shapes at bf16 beside fp32; BenchmarkPeak the core's multiply-add
// peak per instruction to read them against. On the Intel Xeon of this
// project's earlier machines (2 cores, AVX-512, AVX512_BF16, no AMX exposed)
// one core peaked at ~83 GFLOP/s with ymm FMAs, ~156 with zmm FMAs, and ~75
// with VDPBF16PS (half the zmm FMA's rate, 2 bf16 products per fp32 lane); on
// a 2-core AMD EPYC with AVX512_BF16 at 121, 236 and 489: there VDPBF16PS
// does twice the zmm FMA's multiply-adds. Bgemm's own rate is not yet
// measured.
//
// Sgemm keeps no shared mutable state (packing buffers come from a
// sync.Pool), so callers may run it concurrently on disjoint row blocks of C.
package gemm
