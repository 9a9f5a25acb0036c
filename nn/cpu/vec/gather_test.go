package vec

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestGatherSum checks GatherSum against the chain it replaces (copy the first term, or
// start from d, then AddTo each other term in order) bit for bit: many lengths, term counts,
// overlapping and repeated terms, infinities, signed zeros and subnormals (NaNs left out:
// which of two NaN operands x86 returns follows the operand order, oneNaN's caveat).
func TestGatherSum(t *testing.T) {
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 7))
		for _, n := range lengths {
			for _, k := range []int{0, 1, 2, 5, 9, 25} {
				for _, acc := range []bool{false, true} {
					src := gen(r, 6*n+40, 1, true)
					for i, v := range src {
						if v != v {
							src[i] = 2
						}
					}
					offs := make([]int, k)
					for j := range offs {
						offs[j] = r.IntN(len(src) - n + 1)
					}
					if k > 2 {
						offs[2] = offs[1] // a repeated term
					}
					d := gen(r, n, 3, false)
					want := clone(d)
					for j, o := range offs {
						if j == 0 && !acc {
							copy(want, src[o:o+n])
						} else {
							AddTo(want, src[o:o+n])
						}
					}
					if k == 0 && !acc {
						clear(want)
					}
					got := clone(d)
					GatherSum(got, src, offs, acc)
					sameBits(t, fmt.Sprintf("n %d, %d terms, acc %v", n, k, acc), got, want)
				}
			}
		}
	})
}

func TestGatherSumRefusesTermsOutside(t *testing.T) {
	for _, offs := range [][]int{{-1}, {0, 5}, {6}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("offsets %v over a source of 8 for 4 elements: no panic", offs)
				}
			}()
			GatherSum(make([]float32, 4), make([]float32, 8), offs, false)
		}()
	}
}
