package gemm

import (
	"math"
	"runtime"
	"testing"
)

// BenchmarkPeak measures one core's multiply-add peak for each instruction the CPU has
// (AVX2 FMA on ymm, AVX-512 FMA on zmm, AVX512_BF16 VDPBF16PS: 2 bf16 products per fp32
// lane), as GFLOP/s over the thread's CPU time, to read BenchmarkSgemm's rates against.
func BenchmarkPeak(b *testing.B) {
	for _, l := range peakLoops() {
		b.Run(l.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			x := make([]float32, 32)
			const iters = 1 << 20
			var cpu float64
			for b.Loop() {
				t0 := threadCPUSeconds()
				l.run(iters, &x[0])
				cpu += threadCPUSeconds() - t0
			}
			flop := l.flops * iters * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu > 0 {
				b.ReportMetric(flop/cpu/1e9, "cpuGFLOP/s")
			}
		})
	}
}

// TestPeakLoopsRun: each peak loop runs and computes its multiply-adds (x = 1s: after n
// iterations the sum of the accumulators is their count times n times one product's value).
func TestPeakLoopsRun(t *testing.T) {
	for _, l := range peakLoops() {
		x := make([]float32, 32)
		for i := range x {
			x[i] = 1
		}
		if l.name == "dpbf16-zmm" {
			for i := range x {
				x[i] = math.Float32frombits(0x3f80_3f80) // the bf16 pair (1, 1)
			}
		}
		l.run(3, &x[0])
		want := map[string]float32{"fma-ymm": 12 * 3, "fma-zmm": 24 * 3, "dpbf16-zmm": 24 * 3 * 2}[l.name]
		if x[0] != want {
			t.Errorf("%s: x[0] = %v, want %v", l.name, x[0], want)
		}
	}
}
