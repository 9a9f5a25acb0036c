//go:build cuda

package main

import "pixelcnn/cuda"

// openGPU opens the CUDA backend; conv ops are timed with kernel versions 1 and 2.
func openGPU() (*gpuDevice, error) {
	b, err := cuda.New()
	if err != nil {
		return nil, err
	}
	return &gpuDevice{name: b.Name(), backend: b, time: b.Time, versions: []int{1, 2}, setConv: b.SetConvVersion,
		close: func() { _ = b.Close() }}, nil
}
