//go:build !cuda

package main

// openGPU reports no GPU: this binary was built without -tags cuda.
func openGPU() (*gpuDevice, error) { return nil, nil }
