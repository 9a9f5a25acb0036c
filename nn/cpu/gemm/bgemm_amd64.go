//go:build amd64 && !purego

package gemm

//go:generate sh -c "python3 gen_bf16.py > gemm_bf16_amd64.s"

// bkern14x32 computes the 14x32 tile C = alpha*A*B + beta*C (C not read when beta == 0)
// over kp k pairs of a packed bf16-pair A panel (a[p*14 + r]) and B panel (b[p*32 + j]) with
// VDPBF16PS (gemm_bf16_amd64.s, gen_bf16.py); ldc is C's row stride in bytes.
//
//go:noescape
func bkern14x32(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32)

// bkern8x32 is bkern14x32 for an 8-row tile (a[p*8 + r]).
//
//go:noescape
func bkern8x32(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32)

type bkernel func(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32)

func bgemmAsm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// As sgemmAsm: the kernel whose row panels cover m with fewer rows computed.
	if rowsComputed(m, 8) < rowsComputed(m, 14) {
		bgemmTiled(bkern8x32, 8, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	bgemmTiled(bkern14x32, 14, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// bgemmTiled is the blocked bf16 GEMM around an mr x 32 kernel: for each column block and k
// block, B is packed once (bf16 pairs) and each row panel of A is packed and run against
// every B panel. Full tiles are written in C by the kernel; edge tiles go through an on-stack
// tile (the padding rows and columns are computed from zeros and dropped).
func bgemmTiled(kern bkernel, mr int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const nr = 32
	kc := bf16BlockK(k)
	kpMax := kc / 2
	nc := blockN(n, kpMax, nr) // a block of pairs is kc/2 dwords deep
	bufp := getPairs(kpMax*nc + mr*kpMax)
	buf := *bufp
	bpack := buf[:kpMax*nc]
	apack := buf[kpMax*nc:]
	var tile [maxTile]float32
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			kp := (kb + 1) / 2
			packBBF16(transB, b, ldb, pc, jc, kb, nb, bpack)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			for i := 0; i < m; i += mr {
				rows := min(mr, m-i)
				packABF16(transA, a, lda, i, pc, rows, kb, mr, apack)
				for jr := 0; jr < nb; jr += nr {
					bp := &bpack[jr*kp]
					cols := min(nr, nb-jr)
					if rows == mr && cols == nr {
						kern(kp, &apack[0], bp, &c[i*ldc+jc+jr], ldc*4, alpha, bet)
						continue
					}
					kern(kp, &apack[0], bp, &tile[0], nr*4, 1, 0)
					storeTile(tile[:], nr, rows, cols, c[i*ldc+jc+jr:], ldc, alpha, bet)
				}
			}
		}
	}
	pairPool.Put(bufp)
}
