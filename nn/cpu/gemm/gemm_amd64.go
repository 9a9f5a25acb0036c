//go:build amd64 && !purego

package gemm

import "pixelcnn/nn/cpu/internal/x86"

// useAsm selects the AVX2+FMA kernel. It is set once at init; tests flip it
// to exercise the pure-Go path.
var useAsm = x86.HasAVX2FMA

// kern6x16 computes the 6x16 tile C = alpha*A*B + beta*C (C not read when
// beta == 0) over k steps. Row r of A at step p is read from
// a + r*rsa + p*csa (byte strides); b is a packed panel of k rows of 16
// floats; ldc is the row stride of C in bytes.
//
//go:noescape
func kern6x16(k int, a *float32, rsa, csa int, b *float32, c *float32, ldc int, alpha, beta float32, pfa, pfc *float32)

func sgemmAsm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const mr, nr = 6, 16
	// A is read in place through strides: op(A)[i][p] = a[i*rsA + p*csA].
	rsA, csA := lda, 1
	if transA {
		rsA, csA = 1, lda
	}
	kc := blockK(k, kcMaxAsm(transA))
	nc := blockN(n, kc, nr)
	bufp := getBuf(kc*nc + mr*kc)
	buf := *bufp
	bpack := buf[:kc*nc]
	apack := buf[kc*nc : kc*nc+mr*kc]
	var tile [mr * nr]float32
	mFull := m - m%mr
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		nFull := nb - nb%nr
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(transB, b, ldb, pc, jc, kb, nb, nr, bpack)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			for i := 0; i < mFull; i += mr {
				ap := &a[i*rsA+pc*csA]
				crow := i*ldc + jc
				// Prefetch targets: the next row panel of A (only useful when
				// its rows are contiguous) and the C tile of the next call.
				pfa := ap
				nextC := &c[crow]
				if i+mr < mFull {
					if !transA {
						pfa = &a[(i+mr)*rsA+pc*csA]
					}
					nextC = &c[crow+mr*ldc]
				}
				for jr := 0; jr < nFull; jr += nr {
					pfc := nextC
					if jr+nr < nFull {
						pfc = &c[crow+jr+nr]
					}
					kern6x16(kb, ap, rsA*4, csA*4, &bpack[jr*kb], &c[crow+jr], ldc*4, alpha, bet, pfa, pfc)
					pfa = ap
				}
				if nFull < nb {
					kern6x16(kb, ap, rsA*4, csA*4, &bpack[nFull*kb], &tile[0], nr*4, 1, 0, pfa, &tile[0])
					storeTile(tile[:], nr, mr, nb-nFull, c[crow+nFull:], ldc, alpha, bet)
				}
			}
			if mFull < m {
				// Edge rows: when m >= mr, recompute the last mr rows of A in
				// place (overlapping the previous panel) into a tile and store
				// only the rows not yet written; otherwise pack A, zero-padded.
				mrem := m - mFull
				ap, rs, cs, skip := &apack[0], 4, mr*4, 0
				if m >= mr {
					ap, rs, cs, skip = &a[(m-mr)*rsA+pc*csA], rsA*4, csA*4, mr-mrem
				} else {
					packA(transA, a, lda, mFull, pc, mrem, kb, mr, apack)
				}
				for jr := 0; jr < nb; jr += nr {
					kern6x16(kb, ap, rs, cs, &bpack[jr*kb], &tile[0], nr*4, 1, 0, ap, &tile[0])
					storeTile(tile[skip*nr:], nr, mrem, min(nr, nb-jr), c[mFull*ldc+jc+jr:], ldc, alpha, bet)
				}
			}
		}
	}
	putBuf(bufp)
}

// kcMaxAsm is the k-block depth for the AVX2 path. A transposed A is read with
// one cache line per k step, so its blocks are kept shallower for the A panel
// and the B micro-panel to share L1.
func kcMaxAsm(transA bool) int {
	if transA {
		return kcTransA
	}
	return kcMax
}

const kcTransA = 64
