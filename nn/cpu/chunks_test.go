package cpu

import (
	"testing"

	"pixelcnn/nn"
)

// TestChunksBalanced checks that a layer's positions split into a multiple of the worker
// count of near-equal chunks, so no worker idles while another finishes an extra chunk.
func TestChunksBalanced(t *testing.T) {
	specs := []nn.ConvSpec{
		{Name: "in7x7A", K: 7, In: 1, Out: 64, Colors: 1, Mode: nn.MaskA},
		{Name: "mid3x3B", K: 3, In: 32, Out: 32, Colors: 1, Mode: nn.MaskB},
		{Name: "in1x1", K: 1, In: 64, Out: 32, Colors: 1, Mode: nn.MaskB},
		{Name: "cifar-mid3x3B", K: 3, In: 192, Out: 192, Colors: 3, Mode: nn.MaskB},
	}
	for _, spec := range specs {
		for _, n := range []int{1, 16, 64} {
			for _, workers := range []int{1, 2, 3, 4} {
				x := &nn.Tensor{Shape: []int{n, 28, 28, spec.In}}
				s := newConvShape(spec, x, workers)
				chunks := s.chunks()
				if chunks%workers != 0 {
					t.Errorf("%s n=%d workers=%d: %d chunks of %d rows, not a multiple of the workers", spec.Name, n, workers, chunks, s.rows)
				}
				next := 0
				for c := 0; c < chunks; c++ {
					p0, rows := s.chunkRange(c)
					if p0 != next || rows < s.rows-1 || rows > s.rows {
						t.Fatalf("%s n=%d workers=%d: chunk %d is [%d, +%d), want it to start at %d with %d or %d rows",
							spec.Name, n, workers, c, p0, rows, next, s.rows-1, s.rows)
					}
					next = p0 + rows
				}
				if next != s.m {
					t.Errorf("%s n=%d workers=%d: chunks cover %d of %d positions", spec.Name, n, workers, next, s.m)
				}
			}
		}
	}
}
