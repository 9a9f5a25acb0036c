//go:build amd64 && !purego

package vec

import "pixelcnn/nn/cpu/isa"

// useAsm selects the AVX2 loops: at every level from AVX2 up (these loops are memory-bound;
// wider registers would not make them faster).
func useAsm() bool { return isa.Active() >= isa.AVX2 }

// useAVX512 reports whether the kernels that have an AVX-512 version use it.
func useAVX512() bool { return isa.Active() >= isa.AVX512 }

// The kernels below take n > 0, a multiple of 8.

//go:noescape
func addAVX(d, a, b *float32, n int)

//go:noescape
func addToAVX(d, s *float32, n int)

//go:noescape
func biasReLUAVX(row, bias *float32, n int)

//go:noescape
func reluAVX(d, x *float32, n int)

//go:noescape
func reluGradAddAVX(dx, dy, y *float32, n int)

//go:noescape
func reluMaskAVX(dz, dy, y *float32, n int)

//go:noescape
func scaleAVX(d *float32, n int, s float32)

//go:noescape
func expNegSumAVX(d, l *float32, n int, m float32) float64

// columnSumsAVX sums columns [0, n) of the rows x cols matrix m into sums.
//
//go:noescape
func columnSumsAVX(sums, m *float32, rows, cols, n int)

// maxAVX returns the largest of l[:n] as VMAXPS finds it and whether any element is NaN.
//
//go:noescape
func maxAVX(l *float32, n int) (m float32, nan bool)
