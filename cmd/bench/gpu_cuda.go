//go:build cuda

package main

import "pixelcnn/cuda"

// openGPU opens the CUDA backend; conv ops are timed with kernel versions 1, 2 (FP32) and 3 (TF32).
func openGPU() (*gpuDevice, error) {
	b, err := cuda.New()
	if err != nil {
		return nil, err
	}
	return &gpuDevice{name: b.Name(), backend: b, time: b.Time, versions: []int{1, 2, tf32Version}, setConv: b.SetConvVersion,
		close: func() { _ = b.Close() }}, nil
}
