//go:build amd64 && !purego

package gemm

import (
	"pixelcnn/nn/cpu/internal/x86"
	"pixelcnn/nn/cpu/isa"
)

//go:generate sh -c "python3 gen_peak.py > peak_amd64.s"

// Peak loops (peak_amd64.s): n iterations of independent multiply-adds on x's first 128
// bytes, the sum written back to x[0:16]. Only BenchmarkPeak runs them.

//go:noescape
func peakFMA256(n int, x *float32) // 12 VFMADD231PS ymm per iteration

//go:noescape
func peakFMA512(n int, x *float32) // 24 VFMADD231PS zmm

//go:noescape
func peakDPBF16(n int, x *float32) // 24 VDPBF16PS zmm

// peakLoop is one of the peak loops with its flops per iteration, or nil where the CPU (or
// PIXELCNN_CPU_ISA) does not allow it.
type peakLoop struct {
	name  string
	run   func(n int, x *float32)
	flops float64
}

func peakLoops() []peakLoop {
	var ls []peakLoop
	if isa.Detected >= isa.AVX2 {
		ls = append(ls, peakLoop{"fma-ymm", peakFMA256, 12 * 8 * 2})
	}
	if isa.Detected >= isa.AVX512 {
		ls = append(ls, peakLoop{"fma-zmm", peakFMA512, 24 * 16 * 2})
	}
	if x86.HasAVX512BF16 {
		ls = append(ls, peakLoop{"dpbf16-zmm", peakDPBF16, 24 * 16 * 4})
	}
	return ls
}
