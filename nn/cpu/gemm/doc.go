// Package gemm provides a single-threaded float32 matrix multiply (SGEMM) for
// the CPU backend, row-major, with the BLAS-like entry point Sgemm.
//
// Implementations:
//
//   - amd64 (built unless -tags purego): a BLIS/GotoBLAS-style blocked GEMM
//     around a 6x16 AVX2+FMA micro-kernel in Go assembly (12 YMM accumulators,
//     k unrolled by 4). op(B) is packed into zero-padded 16-column panels of
//     at most 256 (64 when A is transposed) k-steps, sized to stay in L2;
//     op(A) is read in place through row/column strides, so it is never
//     copied (only a final partial row panel with m < 6 is packed). Partial
//     tiles go through a small on-stack tile and are finished in Go. The
//     kernel applies alpha/beta itself and does not read C when beta == 0.
//     AVX2, FMA and OS YMM support are detected at startup with CPUID/XGETBV;
//     without them the pure-Go path is used.
//   - everywhere else (and with -tags purego): the same blocking in pure Go
//     with 4x4 tiles (computed as two 2x4 register passes).
//
// Measured single-threaded on an AMD EPYC Zen 4 (2 cores, shared and busy
// machine, so numbers vary by +-15%; see BenchmarkSgemm, which also reports
// the rate over the thread's own CPU time):
//
//	NN 12544x32x160    ~75-90 GFLOP/s
//	NN 12544x256x32    ~70-90 GFLOP/s (bound by writing the 12.8 MB C)
//	NN 4096x256x256    ~105 GFLOP/s
//	TN 160x32x12544    ~55-70 GFLOP/s (strided in-place A^T)
//	NT 12544x160x32    ~75-100 GFLOP/s
//	pure Go            ~3-4.5 GFLOP/s
//
// The AVX2 peak of this core is about 32 flop/cycle. No AVX-512 kernel is
// provided: on Zen 4 AVX-512 is double-pumped and does not raise the FMA peak.
//
// Sgemm keeps no shared mutable state (packing buffers come from a
// sync.Pool), so callers may run it concurrently on disjoint row blocks of C.
package gemm
