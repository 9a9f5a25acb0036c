//go:build !amd64 || purego

package gemm

type peakLoop struct {
	name  string
	run   func(n int, x *float32)
	flops float64
}

func peakLoops() []peakLoop { return nil }
