package cpu_test

import (
	"testing"

	"pixelcnn/nn/backendtest"
	"pixelcnn/nn/cpu"
	"pixelcnn/nn/cpu/isa"
)

// TestConformance runs the suite at every instruction-set level this machine has (AMX's FP32
// kernels are AVX-512's, so it is not run twice) and at several worker counts.
func TestConformance(t *testing.T) {
	old := isa.Active()
	t.Cleanup(func() { isa.Set(old) })
	for _, l := range isa.Available() {
		if l > isa.AVX512 {
			continue
		}
		if err := isa.Set(l); err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{1, 2, 3} {
			b := cpu.NewWorkers(workers)
			t.Run(b.Name(), func(t *testing.T) { backendtest.Run(t, b) })
		}
	}
}
