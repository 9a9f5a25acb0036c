package cpu_test

import (
	"testing"

	"pixelcnn/nn/backendtest"
	"pixelcnn/nn/cpu"
)

func TestConformance(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		b := cpu.NewWorkers(workers)
		t.Run(b.Name(), func(t *testing.T) { backendtest.Run(t, b) })
	}
}
