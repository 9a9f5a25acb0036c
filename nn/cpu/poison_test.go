package cpu

import (
	"testing"

	"pixelcnn/nn/backendtest"
)

// TestConformancePoisoned runs the suite with every uncleared buffer full of NaN: an op that
// takes a scratch buffer without clearing it must write every element it later reads.
func TestConformancePoisoned(t *testing.T) {
	poisonTaken = true
	t.Cleanup(func() { poisonTaken = false })
	for _, workers := range []int{1, 2} {
		backendtest.Run(t, NewWorkers(workers))
	}
}
