package gemm

import (
	"math"
	"sync"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu/isa"
)

// Bgemm is Sgemm at nn.BF16: C = alpha*bf16(op(A))*bf16(op(B)) + beta*C, where bf16 rounds
// every element to bfloat16 (nn.RoundBF16, ties to even) while it is packed, and the products
// are accumulated in FP32 by AVX512_BF16's VDPBF16PS (gen_bf16.py): per output element and k
// block, one chain over the k pairs (2p+1 then 2p; an odd k is padded with a zero), each step
// an FP32 fused multiply-add rounded to nearest even that reads subnormal inputs as zero and
// flushes subnormal results to zero. The k blocks (bf16BlockK) are added into C as Sgemm's
// are. Each element's sum does not depend on m, n, the tile it falls in or which kernel ran,
// so MaskedConv and MaskedConvAt-style calls on fewer rows agree bit for bit.
//
// Bgemm panics unless isa.BF16() is nil (callers check it once, e.g. at SetPrecision).
// Like Sgemm it keeps no shared mutable state.
func Bgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if err := isa.BF16(); err != nil {
		panic("gemm: Bgemm: " + err.Error())
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	bgemmAsm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// kcBF16 bounds the k depth of one bf16 block: 128 pairs, so that a packed 32-column panel of
// B is 16 KiB and a 14-row panel of A 7 KiB (L1 holds both).
const kcBF16 = 256

// bf16BlockK is the k block depth of Bgemm: blockK's near-equal split, rounded up to even so
// that no k pair straddles two blocks.
func bf16BlockK(k int) int { return (blockK(k, kcBF16) + 1) &^ 1 }

// bf16Bits is v rounded to bfloat16, as its 16 bits.
func bf16Bits(v float32) uint32 { return math.Float32bits(nn.RoundBF16(v)) >> 16 }

// packBBF16 packs the kb x nb block of op(B) at (pc, jc) into 32-column panels of bf16 pairs:
// panel q holds, for k pair p and column j, dst[q*kp*32 + p*32 + j] = bf16(op(B)[pc+2p][jc+32q+j])
// | bf16(op(B)[pc+2p+1][jc+32q+j]) << 16, kp = (kb+1)/2; columns past nb and the half pair
// past an odd kb are zero.
func packBBF16(transB bool, b []float32, ldb, pc, jc, kb, nb int, dst []uint32) {
	const nr = 32
	kp := (kb + 1) / 2
	for q := 0; q*nr < nb; q++ {
		w := min(nr, nb-q*nr)
		panel := dst[q*kp*nr : (q+1)*kp*nr]
		if w < nr || kb%2 != 0 {
			clear(panel)
		}
		j0 := jc + q*nr
		if !transB {
			for p := 0; p < kb; p++ {
				src := b[(pc+p)*ldb+j0 : (pc+p)*ldb+j0+w]
				d := panel[p/2*nr : p/2*nr+w]
				if p%2 == 0 {
					for j, v := range src {
						d[j] = bf16Bits(v)
					}
				} else {
					for j, v := range src {
						d[j] |= bf16Bits(v) << 16
					}
				}
			}
			continue
		}
		for j := 0; j < w; j++ {
			src := b[(j0+j)*ldb+pc : (j0+j)*ldb+pc+kb]
			for p := 0; p+1 < kb; p += 2 {
				panel[p/2*nr+j] = bf16Bits(src[p]) | bf16Bits(src[p+1])<<16
			}
			if kb%2 != 0 {
				panel[kb/2*nr+j] = bf16Bits(src[kb-1])
			}
		}
	}
}

// packABF16 packs the mb x kb block of op(A) at (i0, pc) into one panel of mr rows of bf16
// pairs: dst[p*mr + r] = bf16(op(A)[i0+r][pc+2p]) | bf16(op(A)[i0+r][pc+2p+1]) << 16; rows
// past mb and the half pair past an odd kb are zero.
func packABF16(transA bool, a []float32, lda, i0, pc, mb, kb, mr int, dst []uint32) {
	kp := (kb + 1) / 2
	dst = dst[:mr*kp]
	if mb < mr || kb%2 != 0 {
		clear(dst)
	}
	if transA {
		for p := 0; p < kb; p++ {
			src := a[(pc+p)*lda+i0 : (pc+p)*lda+i0+mb]
			d := dst[p/2*mr : p/2*mr+mb]
			if p%2 == 0 {
				for r, v := range src {
					d[r] = bf16Bits(v)
				}
			} else {
				for r, v := range src {
					d[r] |= bf16Bits(v) << 16
				}
			}
		}
		return
	}
	for r := 0; r < mb; r++ {
		src := a[(i0+r)*lda+pc : (i0+r)*lda+pc+kb]
		for p := 0; p+1 < kb; p += 2 {
			dst[p/2*mr+r] = bf16Bits(src[p]) | bf16Bits(src[p+1])<<16
		}
		if kb%2 != 0 {
			dst[kb/2*mr+r] = bf16Bits(src[kb-1])
		}
	}
}

var pairPool = sync.Pool{New: func() any { return new([]uint32) }}

func getPairs(size int) *[]uint32 {
	p := pairPool.Get().(*[]uint32)
	if cap(*p) < size {
		*p = make([]uint32, size)
	}
	*p = (*p)[:size]
	return p
}
