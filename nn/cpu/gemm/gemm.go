package gemm

import (
	"fmt"
	"sync"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, row-major, single-threaded.
// op(A) is m x k: A is m x k (lda >= k) when !transA, k x m (lda >= m) when transA.
// op(B) is k x n: B is k x n (ldb >= n) when !transB, n x k (ldb >= k) when transB.
// C is m x n with ldc >= n. beta == 0 means C is overwritten (never read, so NaN in C does not propagate).
//
// Sgemm keeps no shared mutable state (packing buffers come from a sync.Pool),
// so concurrent calls on disjoint parts of C are safe.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if useAsm() {
		sgemmAsm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	// Stored shapes (rows x cols) of A and B.
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) {
		panic(fmt.Sprintf("gemm: lda=%d < %d", lda, ac))
	}
	if ldb < max(1, bc) {
		panic(fmt.Sprintf("gemm: ldb=%d < %d", ldb, bc))
	}
	if ldc < max(1, n) {
		panic(fmt.Sprintf("gemm: ldc=%d < %d", ldc, n))
	}
	if m > 0 && n > 0 && k > 0 {
		if need := (ar-1)*lda + ac; len(a) < need {
			panic(fmt.Sprintf("gemm: len(a)=%d < %d", len(a), need))
		}
		if need := (br-1)*ldb + bc; len(b) < need {
			panic(fmt.Sprintf("gemm: len(b)=%d < %d", len(b), need))
		}
	}
	if m > 0 && n > 0 {
		if need := (m-1)*ldc + n; len(c) < need {
			panic(fmt.Sprintf("gemm: len(c)=%d < %d", len(c), need))
		}
	}
}

// scaleC computes C = beta*C; beta == 0 overwrites C with zeros.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// Cache blocking. kcMax bounds the depth of one packed block of B; the B block
// (kc x nc) is kept within bBlockBytes so it stays in L2 while every row panel
// of A streams past it.
const (
	kcMax       = 256
	bBlockBytes = 320 << 10
)

// blockK splits k into near-equal blocks of at most kcMax.
func blockK(k, kcMax int) int {
	if k <= kcMax {
		return k
	}
	nb := (k + kcMax - 1) / kcMax
	return (k + nb - 1) / nb
}

// blockN picks the column-block width: a multiple of nr, at least nr.
func blockN(n, kc, nr int) int {
	nc := bBlockBytes / 4 / kc
	nc -= nc % nr
	nc = max(nc, nr)
	nPad := (n + nr - 1) / nr * nr
	if nc >= nPad {
		return nPad
	}
	// Split n into near-equal blocks so the last one is not tiny.
	nb := (n + nc - 1) / nc
	nc = (n + nb - 1) / nb
	return (nc + nr - 1) / nr * nr
}

var bufPool = sync.Pool{New: func() any { return new([]float32) }}

func getBuf(size int) *[]float32 {
	p := bufPool.Get().(*[]float32)
	if cap(*p) < size {
		*p = make([]float32, size)
	}
	*p = (*p)[:size]
	return p
}

func putBuf(p *[]float32) { bufPool.Put(p) }

// storeTile writes an mr x nr tile t (row stride ts) into C:
// C = alpha*t + beta*C, not reading C when beta == 0.
func storeTile(t []float32, ts, mr, nr int, c []float32, ldc int, alpha, beta float32) {
	for r := 0; r < mr; r++ {
		tr := t[r*ts : r*ts+nr]
		cr := c[r*ldc : r*ldc+nr]
		switch beta {
		case 0:
			for j, v := range tr {
				cr[j] = alpha * v
			}
		case 1:
			for j, v := range tr {
				cr[j] += alpha * v
			}
		default:
			for j, v := range tr {
				cr[j] = alpha*v + beta*cr[j]
			}
		}
	}
}

// packB packs the kb x nb block of op(B) starting at (pc, jc) into panels of
// nr columns: panel q holds op(B)[pc+p][jc+q*nr+j] at dst[q*nr*kb + p*nr + j].
// Columns past nb are zero-padded.
func packB(transB bool, b []float32, ldb, pc, jc, kb, nb, nr int, dst []float32) {
	for q := 0; q*nr < nb; q++ {
		w := min(nr, nb-q*nr)
		panel := dst[q*nr*kb : (q+1)*nr*kb]
		j0 := jc + q*nr
		if !transB {
			for p := 0; p < kb; p++ {
				src := b[(pc+p)*ldb+j0 : (pc+p)*ldb+j0+w]
				d := panel[p*nr : p*nr+nr]
				copy(d, src)
				clear(d[w:])
			}
			continue
		}
		if w < nr {
			clear(panel)
		}
		for j := 0; j < w; j++ {
			src := b[(j0+j)*ldb+pc : (j0+j)*ldb+pc+kb]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
	}
}

// packA packs the mb x kb block of op(A) starting at (i0, pc) into one panel of
// mr rows: dst[p*mr + r] = op(A)[i0+r][pc+p]; rows past mb are zero-padded.
func packA(transA bool, a []float32, lda, i0, pc, mb, kb, mr int, dst []float32) {
	dst = dst[:mr*kb]
	if mb < mr {
		clear(dst)
	}
	if transA {
		for p := 0; p < kb; p++ {
			copy(dst[p*mr:p*mr+mb], a[(pc+p)*lda+i0:(pc+p)*lda+i0+mb])
		}
		return
	}
	for r := 0; r < mb; r++ {
		src := a[(i0+r)*lda+pc : (i0+r)*lda+pc+kb]
		for p, v := range src {
			dst[p*mr+r] = v
		}
	}
}

// sgemmGo is the portable blocked implementation (4x4 register tiles).
func sgemmGo(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const mr, nr = 4, 4
	kc := blockK(k, kcMax)
	nc := blockN(n, kc, nr)
	bufp := getBuf(kc*nc + mr*kc)
	buf := *bufp
	bpack := buf[:kc*nc]
	apack := buf[kc*nc : kc*nc+mr*kc]
	var tile [mr * nr]float32
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(transB, b, ldb, pc, jc, kb, nb, nr, bpack)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			for i := 0; i < m; i += mr {
				mb := min(mr, m-i)
				packA(transA, a, lda, i, pc, mb, kb, mr, apack)
				for jr := 0; jr < nb; jr += nr {
					kernGo4x4(apack[:mr*kb], bpack[jr*kb:(jr+nr)*kb], &tile)
					storeTile(tile[:], nr, mb, min(nr, nb-jr), c[i*ldc+jc+jr:], ldc, alpha, bet)
				}
			}
		}
	}
	putBuf(bufp)
}

// kernGo4x4 computes the 4x4 product of a packed A panel (k x 4) and a packed
// B panel (k x 4) into t, as two 2x4 passes so the accumulators stay in
// registers.
func kernGo4x4(ap, bp []float32, t *[16]float32) {
	kernGo2x4(ap, bp, t[0:8])
	if len(ap) > 2 {
		kernGo2x4(ap[2:], bp, t[8:16])
	}
}

// kernGo2x4 accumulates rows 0 and 1 of a 4-row packed A panel against a
// packed 4-column B panel into t[0:8].
func kernGo2x4(ap, bp []float32, t []float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	for len(ap) >= 2 && len(bp) >= 4 {
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		a0, a1 := ap[0], ap[1]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		if len(ap) < 4 {
			break
		}
		ap, bp = ap[4:], bp[4:]
	}
	t = t[:8]
	t[0], t[1], t[2], t[3] = c00, c01, c02, c03
	t[4], t[5], t[6], t[7] = c10, c11, c12, c13
}
