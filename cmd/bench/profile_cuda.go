//go:build cuda

package main

import (
	"fmt"

	"pixelcnn/cuda"
)

// profileLaunches runs step steps times under the CUDA backend's profiler and returns each
// step's launches and its GPU time in ms.
func profileLaunches(gpu *gpuDevice, capacity, steps int, step func() error) ([][]launchRec, []float64, error) {
	b, ok := gpu.backend.(*cuda.Backend)
	if !ok {
		return nil, nil, fmt.Errorf("--profile: backend %s is not the CUDA backend", gpu.name)
	}
	runs := make([][]launchRec, steps)
	totals := make([]float64, steps)
	for i := range runs {
		ks, ms, err := b.Profile(capacity, step)
		if err != nil {
			return nil, nil, fmt.Errorf("profiling step %d: %w", i+1, err)
		}
		recs := make([]launchRec, len(ks))
		for j, k := range ks {
			recs[j] = launchRec{Kernel: k.Kernel, Label: k.Op, Grid: k.Grid, Ms: k.Ms}
		}
		runs[i], totals[i] = recs, ms
	}
	return runs, totals, nil
}
