//go:build amd64 && !purego

package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn/cpu/isa"
)

// TestInPlaceBBitIdentical: reading B in place (few row panels) gives the packed path's bits,
// at every assembly level, for every test shape and both layouts of A.
func TestInPlaceBBitIdentical(t *testing.T) {
	old := inPlaceBMaxPanels
	t.Cleanup(func() { inPlaceBMaxPanels = old })
	r := rand.New(rand.NewPCG(7, 8))
	for _, l := range isa.Available() {
		if l == isa.Generic {
			continue
		}
		withISA(t, l)
		for _, transA := range []bool{false, true} {
			for _, s := range append(testShapes(true), shape{16, 64, 288}, shape{16, 256, 32}, shape{16, 100, 1000}) {
				lda := max(1, s.k)
				ar := s.m
				if transA {
					lda, ar = max(1, s.m), s.k
				}
				a, b, c0 := randSlice(r, ar*lda), randSlice(r, s.k*max(1, s.n)), randSlice(r, s.m*s.n)
				var got [2][]float32
				for i, panels := range []int{0, math.MaxInt} {
					inPlaceBMaxPanels = panels
					got[i] = append([]float32(nil), c0...)
					Sgemm(transA, false, s.m, s.n, s.k, 1, a, lda, b, max(1, s.n), 1, got[i], max(1, s.n))
				}
				for i := range c0 {
					if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
						t.Fatalf("%s tA=%v %v: C[%d] packed %v, in place %v", l, transA, s, i, got[0][i], got[1][i])
					}
				}
			}
		}
	}
}
