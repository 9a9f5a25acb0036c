//go:build amd64 && !purego

package vec

// hasAVX2FMA reports whether the CPU and OS support AVX2 and FMA3.
var hasAVX2FMA = detectAVX2FMA()

// useAsm selects the AVX2 loops. It is set once at init; tests flip it to exercise the
// pure-Go path.
var useAsm = hasAVX2FMA

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

func detectAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 { // XMM and YMM state enabled by the OS
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0 // AVX2
}

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
