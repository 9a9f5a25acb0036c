//go:build !linux

package gemm

func threadCPUSeconds() float64 { return 0 }
