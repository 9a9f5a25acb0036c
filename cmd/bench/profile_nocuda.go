//go:build !cuda

package main

// profileLaunches needs the CUDA backend's profiler: this binary was built without -tags cuda.
func profileLaunches(*gpuDevice, int, int, func() error) ([][]launchRec, []float64, error) {
	return nil, nil, errProfileNeedsGPU
}
