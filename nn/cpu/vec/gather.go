package vec

import "fmt"

// GatherSum sets d[i] = src[offs[0]+i] + src[offs[1]+i] + ... for i < len(d), the terms
// added left to right in float32; with acc the sum starts from d[i] instead
// (d[i] + src[offs[0]+i] + ...). With no offsets d is zeroed, or kept with acc. Each element's
// sum is formed in the order the repeated copy-then-AddTo calls it replaces would form it, so
// the result is the same bits; it reads each source once and writes d once, where those calls
// reload and store d per term. It panics when a term reaches outside src.
func GatherSum(d, src []float32, offs []int, acc bool) {
	for _, o := range offs {
		if o < 0 || o+len(d) > len(src) {
			panic(fmt.Sprintf("vec: GatherSum term at %d, %d long, outside a source of %d", o, len(d), len(src)))
		}
	}
	if len(offs) == 0 {
		if !acc {
			clear(d)
		}
		return
	}
	n := 0
	if useAsm() {
		n = len(d) &^ 7
		if n > 0 {
			a := 0
			if acc {
				a = 1
			}
			gatherSumAVX(&d[0], &src[0], &offs[0], len(offs), n, a)
		}
	}
	gatherSumGo(d[n:], src, offs, n, acc)
}

// gatherSumGo is GatherSum over d, which starts at element skip of the rows offs names.
func gatherSumGo(d, src []float32, offs []int, skip int, acc bool) {
	for i := range d {
		j, s := 0, d[i]
		if !acc {
			j, s = 1, src[offs[0]+skip+i]
		}
		for ; j < len(offs); j++ {
			s += src[offs[j]+skip+i]
		}
		d[i] = s
	}
}
