//go:build amd64 && !purego

#include "textflag.h"

// Operand order: in Go assembly the destination is last and the first source (Intel's src1,
// the one whose NaN propagates when both are NaN) is next to last, so VADDPS b, a, d is
// d = a + b, as the Go loops compute it.

// func addAVX(d, a, b *float32, n int)
TEXT ·addAVX(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-32, BX
	JZ   add8
add32:
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), Y1
	VMOVUPS 64(SI)(AX*4), Y2
	VMOVUPS 96(SI)(AX*4), Y3
	VADDPS  (DX)(AX*4), Y0, Y0
	VADDPS  32(DX)(AX*4), Y1, Y1
	VADDPS  64(DX)(AX*4), Y2, Y2
	VADDPS  96(DX)(AX*4), Y3, Y3
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ    $32, AX
	CMPQ    AX, BX
	JLT     add32
add8:
	CMPQ    AX, CX
	JGE     adddone
	VMOVUPS (SI)(AX*4), Y0
	VADDPS  (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     add8
adddone:
	VZEROUPPER
	RET

// func addToAVX(d, s *float32, n int)
TEXT ·addToAVX(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-32, BX
	JZ   addto8
addto32:
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	VADDPS  (SI)(AX*4), Y0, Y0
	VADDPS  32(SI)(AX*4), Y1, Y1
	VADDPS  64(SI)(AX*4), Y2, Y2
	VADDPS  96(SI)(AX*4), Y3, Y3
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ    $32, AX
	CMPQ    AX, BX
	JLT     addto32
addto8:
	CMPQ    AX, CX
	JGE     addtodone
	VMOVUPS (DI)(AX*4), Y0
	VADDPS  (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     addto8
addtodone:
	VZEROUPPER
	RET

// Go's max(x, 0): x where x > 0, |x| (sign cleared, payload kept) where x is NaN, else +0.
// The NLE_UQ compare (predicate 0x16) is true for x > 0 and for NaN; shifting the mask
// right by one clears the sign bit it keeps. Z is a zero register, T a temporary.
#define RELU(X, Z, T) \
	VCMPPS $0x16, Z, X, T \
	VPSRLD $1, T, T \
	VANDPS T, X, X

// func biasReLUAVX(row, bias *float32, n int)
TEXT ·biasReLUAVX(SB), NOSPLIT, $0-24
	MOVQ   row+0(FP), DI
	MOVQ   bias+8(FP), SI
	MOVQ   n+16(FP), CX
	XORQ   AX, AX
	VXORPS Y15, Y15, Y15
	MOVQ   CX, BX
	ANDQ   $-32, BX
	JZ     br8
br32:
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	VADDPS  (SI)(AX*4), Y0, Y0
	VADDPS  32(SI)(AX*4), Y1, Y1
	VADDPS  64(SI)(AX*4), Y2, Y2
	VADDPS  96(SI)(AX*4), Y3, Y3
	RELU(Y0, Y15, Y4)
	RELU(Y1, Y15, Y5)
	RELU(Y2, Y15, Y6)
	RELU(Y3, Y15, Y7)
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ    $32, AX
	CMPQ    AX, BX
	JLT     br32
br8:
	CMPQ    AX, CX
	JGE     brdone
	VMOVUPS (DI)(AX*4), Y0
	VADDPS  (SI)(AX*4), Y0, Y0
	RELU(Y0, Y15, Y4)
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     br8
brdone:
	VZEROUPPER
	RET

// func reluAVX(d, x *float32, n int)
TEXT ·reluAVX(SB), NOSPLIT, $0-24
	MOVQ   d+0(FP), DI
	MOVQ   x+8(FP), SI
	MOVQ   n+16(FP), CX
	XORQ   AX, AX
	VXORPS Y15, Y15, Y15
	MOVQ   CX, BX
	ANDQ   $-32, BX
	JZ     relu8
relu32:
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), Y1
	VMOVUPS 64(SI)(AX*4), Y2
	VMOVUPS 96(SI)(AX*4), Y3
	RELU(Y0, Y15, Y4)
	RELU(Y1, Y15, Y5)
	RELU(Y2, Y15, Y6)
	RELU(Y3, Y15, Y7)
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ    $32, AX
	CMPQ    AX, BX
	JLT     relu32
relu8:
	CMPQ    AX, CX
	JGE     reludone
	VMOVUPS (SI)(AX*4), Y0
	RELU(Y0, Y15, Y4)
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     relu8
reludone:
	VZEROUPPER
	RET

// func reluGradAddAVX(dx, dy, y *float32, n int)
// dx = y > 0 ? dx + dy : dx, by a blend so untouched elements keep their bits (-0 included).
TEXT ·reluGradAddAVX(SB), NOSPLIT, $0-32
	MOVQ   dx+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   y+16(FP), DX
	MOVQ   n+24(FP), CX
	XORQ   AX, AX
	VXORPS Y15, Y15, Y15
rga8:
	VMOVUPS   (DX)(AX*4), Y0
	VCMPPS    $0x1e, Y15, Y0, Y0 // y > 0, ordered (GT_OQ)
	VMOVUPS   (DI)(AX*4), Y1
	VADDPS    (SI)(AX*4), Y1, Y2
	VBLENDVPS Y0, Y2, Y1, Y1
	VMOVUPS   Y1, (DI)(AX*4)
	ADDQ      $8, AX
	CMPQ      AX, CX
	JLT       rga8
	VZEROUPPER
	RET

// func reluMaskAVX(dz, dy, y *float32, n int)
// dz = dy & ^(y == 0 bitwise).
TEXT ·reluMaskAVX(SB), NOSPLIT, $0-32
	MOVQ   dz+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   y+16(FP), DX
	MOVQ   n+24(FP), CX
	XORQ   AX, AX
	VPXOR  Y15, Y15, Y15
	MOVQ   CX, BX
	ANDQ   $-32, BX
	JZ     rm8
rm32:
	VPCMPEQD (DX)(AX*4), Y15, Y0
	VPCMPEQD 32(DX)(AX*4), Y15, Y1
	VPCMPEQD 64(DX)(AX*4), Y15, Y2
	VPCMPEQD 96(DX)(AX*4), Y15, Y3
	VPANDN   (SI)(AX*4), Y0, Y0
	VPANDN   32(SI)(AX*4), Y1, Y1
	VPANDN   64(SI)(AX*4), Y2, Y2
	VPANDN   96(SI)(AX*4), Y3, Y3
	VMOVUPS  Y0, (DI)(AX*4)
	VMOVUPS  Y1, 32(DI)(AX*4)
	VMOVUPS  Y2, 64(DI)(AX*4)
	VMOVUPS  Y3, 96(DI)(AX*4)
	ADDQ     $32, AX
	CMPQ     AX, BX
	JLT      rm32
rm8:
	CMPQ     AX, CX
	JGE      rmdone
	VPCMPEQD (DX)(AX*4), Y15, Y0
	VPANDN   (SI)(AX*4), Y0, Y0
	VMOVUPS  Y0, (DI)(AX*4)
	ADDQ     $8, AX
	JMP      rm8
rmdone:
	VZEROUPPER
	RET

// func scaleAVX(d *float32, n int, s float32)
TEXT ·scaleAVX(SB), NOSPLIT, $0-20
	MOVQ         d+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS s+16(FP), Y15
	XORQ         AX, AX
	MOVQ         CX, BX
	ANDQ         $-32, BX
	JZ           sc8
sc32:
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	VMULPS  Y15, Y0, Y0
	VMULPS  Y15, Y1, Y1
	VMULPS  Y15, Y2, Y2
	VMULPS  Y15, Y3, Y3
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ    $32, AX
	CMPQ    AX, BX
	JLT     sc32
sc8:
	CMPQ    AX, CX
	JGE     scdone
	VMOVUPS (DI)(AX*4), Y0
	VMULPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     sc8
scdone:
	VZEROUPPER
	RET

// Column sums. S is the accumulator for columns at byte offset OFF; rows r..r+3 start at
// R9, R9+R8, R9+2*R8 and R9+R10 (R10 = 3*R8).
#define COL4(S, OFF) \
	VMOVUPS OFF(R9), Y4 \
	VADDPS  OFF(R9)(R8*1), Y4, Y4 \
	VMOVUPS OFF(R9)(R8*2), Y5 \
	VADDPS  OFF(R9)(R10*1), Y5, Y5 \
	VADDPS  Y5, Y4, Y4 \
	VADDPS  Y4, S, S

// func columnSumsAVX(sums, m *float32, rows, cols, n int)
// Columns in blocks of 32 (four accumulators), then of 8; rows four at a time as
// sums + ((r0+r1) + (r2+r3)), then one by one.
TEXT ·columnSumsAVX(SB), NOSPLIT, $0-40
	MOVQ sums+0(FP), DI
	MOVQ m+8(FP), SI
	MOVQ rows+16(FP), DX
	MOVQ cols+24(FP), R8
	MOVQ n+32(FP), CX
	SHLQ $2, R8               // row stride in bytes
	LEAQ (R8)(R8*2), R10      // 3 rows
	LEAQ (R8*4), R11          // 4 rows
	MOVQ DX, R12
	ANDQ $-4, R12             // rows in blocks of 4
	XORQ AX, AX               // column byte offset
	MOVQ CX, BX
	SHLQ $2, CX               // n in bytes
	ANDQ $-32, BX
	SHLQ $2, BX               // 32-column blocks in bytes
cs32:
	CMPQ    AX, BX
	JGE     cs8
	LEAQ    (DI)(AX*1), R13
	VMOVUPS (R13), Y0
	VMOVUPS 32(R13), Y1
	VMOVUPS 64(R13), Y2
	VMOVUPS 96(R13), Y3
	LEAQ    (SI)(AX*1), R9
	XORQ    R14, R14
cs32r4:
	CMPQ R14, R12
	JGE  cs32r1
	COL4(Y0, 0)
	COL4(Y1, 32)
	COL4(Y2, 64)
	COL4(Y3, 96)
	ADDQ R11, R9
	ADDQ $4, R14
	JMP  cs32r4
cs32r1:
	CMPQ   R14, DX
	JGE    cs32st
	VADDPS (R9), Y0, Y0
	VADDPS 32(R9), Y1, Y1
	VADDPS 64(R9), Y2, Y2
	VADDPS 96(R9), Y3, Y3
	ADDQ   R8, R9
	INCQ   R14
	JMP    cs32r1
cs32st:
	VMOVUPS Y0, (R13)
	VMOVUPS Y1, 32(R13)
	VMOVUPS Y2, 64(R13)
	VMOVUPS Y3, 96(R13)
	ADDQ    $128, AX
	JMP     cs32
cs8:
	CMPQ    AX, CX
	JGE     csdone
	LEAQ    (DI)(AX*1), R13
	VMOVUPS (R13), Y0
	LEAQ    (SI)(AX*1), R9
	XORQ    R14, R14
cs8r4:
	CMPQ R14, R12
	JGE  cs8r1
	COL4(Y0, 0)
	ADDQ R11, R9
	ADDQ $4, R14
	JMP  cs8r4
cs8r1:
	CMPQ   R14, DX
	JGE    cs8st
	VADDPS (R9), Y0, Y0
	ADDQ   R8, R9
	INCQ   R14
	JMP    cs8r1
cs8st:
	VMOVUPS Y0, (R13)
	ADDQ    $32, AX
	JMP     cs8
csdone:
	VZEROUPPER
	RET

// ExpNeg constants (float32 bit patterns of the Go constants).
DATA expc<>+0(SB)/4, $0xc2ae999a  // -87.3
DATA expc<>+4(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expc<>+8(SB)/4, $0x3f000000  // 0.5
DATA expc<>+12(SB)/4, $0x3f318000 // 0.693359375
DATA expc<>+16(SB)/4, $0x395e8083 // 2.12194440e-4
DATA expc<>+20(SB)/4, $0x39506967 // 1.9875691500e-4
DATA expc<>+24(SB)/4, $0x3ab743ce // 1.3981999507e-3
DATA expc<>+28(SB)/4, $0x3c088908 // 8.3334519073e-3
DATA expc<>+32(SB)/4, $0x3d2aa9c1 // 4.1665795894e-2
DATA expc<>+36(SB)/4, $0x3e2aaaaa // 1.6666665459e-1
DATA expc<>+40(SB)/4, $0x3f000000 // 5.0000001201e-1
DATA expc<>+44(SB)/4, $0x3f800000 // 1
DATA expc<>+48(SB)/4, $127
GLOBL expc<>(SB), RODATA|NOPTR, $52

// func expNegSumAVX(d, l *float32, n int, m float32) float64
// Eight ExpNeg values per step with the same float32 operations as the Go code (separate
// multiplies and adds, floor by VROUNDPS), then their float64 sum in index order.
TEXT ·expNegSumAVX(SB), NOSPLIT, $0-40
	MOVQ         d+0(FP), DI
	MOVQ         l+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y15
	VBROADCASTSS expc<>+0(SB), Y14
	VBROADCASTSS expc<>+4(SB), Y13
	VBROADCASTSS expc<>+8(SB), Y12
	VBROADCASTSS expc<>+12(SB), Y11
	VBROADCASTSS expc<>+16(SB), Y10
	VXORPS       X9, X9, X9 // z
	XORQ         AX, AX
ex8:
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS  Y15, Y0, Y0       // x = l - m
	VCMPPS  $0x11, Y14, Y0, Y8 // x < -87.3 (LT_OQ)
	VMULPS  Y13, Y0, Y1       // x*log2e
	VADDPS  Y12, Y1, Y1       // + 0.5
	VROUNDPS $9, Y1, Y1       // k = floor
	VMULPS  Y11, Y1, Y2       // k*C1
	VSUBPS  Y2, Y0, Y2        // r = x - k*C1
	VMULPS  Y10, Y1, Y3       // k*C2
	VADDPS  Y3, Y2, Y2        // r += k*C2
	VBROADCASTSS expc<>+20(SB), Y3
	VMULPS  Y2, Y3, Y3
	VBROADCASTSS expc<>+24(SB), Y4
	VADDPS  Y4, Y3, Y3
	VMULPS  Y2, Y3, Y3
	VBROADCASTSS expc<>+28(SB), Y4
	VADDPS  Y4, Y3, Y3
	VMULPS  Y2, Y3, Y3
	VBROADCASTSS expc<>+32(SB), Y4
	VADDPS  Y4, Y3, Y3
	VMULPS  Y2, Y3, Y3
	VBROADCASTSS expc<>+36(SB), Y4
	VADDPS  Y4, Y3, Y3
	VMULPS  Y2, Y3, Y3
	VBROADCASTSS expc<>+40(SB), Y4
	VADDPS  Y4, Y3, Y3        // p
	VMULPS  Y2, Y3, Y3        // p*r
	VMULPS  Y2, Y3, Y3        // p*r*r
	VADDPS  Y2, Y3, Y3        // + r
	VBROADCASTSS expc<>+44(SB), Y4
	VADDPS  Y4, Y3, Y3        // + 1
	VCVTTPS2DQ Y1, Y1         // int32(k)
	VPBROADCASTD expc<>+48(SB), Y4
	VPADDD  Y4, Y1, Y1
	VPSLLD  $23, Y1, Y1       // 2^k
	VMULPS  Y1, Y3, Y3        // e * 2^k
	VANDNPS Y3, Y8, Y3        // 0 where x < -87.3
	VMOVUPS Y3, (DI)(AX*4)
	// z += float64(e[j]) for j = 0..7 in order.
	VCVTPS2PD X3, Y5
	VEXTRACTF128 $1, Y3, X6
	VCVTPS2PD X6, Y6
	VADDSD  X5, X9, X9
	VPERMILPD $1, X5, X7
	VADDSD  X7, X9, X9
	VEXTRACTF128 $1, Y5, X5
	VADDSD  X5, X9, X9
	VPERMILPD $1, X5, X7
	VADDSD  X7, X9, X9
	VADDSD  X6, X9, X9
	VPERMILPD $1, X6, X7
	VADDSD  X7, X9, X9
	VEXTRACTF128 $1, Y6, X6
	VADDSD  X6, X9, X9
	VPERMILPD $1, X6, X7
	VADDSD  X7, X9, X9
	ADDQ    $8, AX
	CMPQ    AX, CX
	JLT     ex8
	VZEROUPPER
	MOVSD   X9, ret+32(FP)
	RET

// func maxAVX(l *float32, n int) (m float32, nan bool)
// The largest of l[:n] by VMAXPS, and whether any element is NaN (VMAXPS drops NaNs and
// does not order -0 and +0, so the caller falls back to Go's max then, and for a zero max).
TEXT ·maxAVX(SB), NOSPLIT, $0-21
	MOVQ    l+0(FP), SI
	MOVQ    n+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	VXORPS  Y8, Y8, Y8
	VXORPS  Y9, Y9, Y9
	XORQ    AX, AX
	MOVQ    CX, BX
	ANDQ    $-32, BX
	JZ      mx8
mx32:
	VMOVUPS (SI)(AX*4), Y4
	VMOVUPS 32(SI)(AX*4), Y5
	VMOVUPS 64(SI)(AX*4), Y6
	VMOVUPS 96(SI)(AX*4), Y7
	VMAXPS  Y4, Y0, Y0
	VMAXPS  Y5, Y1, Y1
	VMAXPS  Y6, Y2, Y2
	VMAXPS  Y7, Y3, Y3
	VCMPPS  $3, Y5, Y4, Y10
	VCMPPS  $3, Y7, Y6, Y11
	VORPS   Y10, Y8, Y8
	VORPS   Y11, Y9, Y9
	ADDQ    $32, AX
	CMPQ    AX, BX
	JLT     mx32
mx8:
	CMPQ    AX, CX
	JGE     mxdone
	VMOVUPS (SI)(AX*4), Y4
	VMAXPS  Y4, Y0, Y0
	VCMPPS  $3, Y4, Y4, Y10
	VORPS   Y10, Y8, Y8
	ADDQ    $8, AX
	JMP     mx8
mxdone:
	VMAXPS       Y1, Y0, Y0
	VMAXPS       Y3, Y2, Y2
	VMAXPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VORPS        Y9, Y8, Y8
	VMOVMSKPS    Y8, DX
	TESTL        DX, DX
	SETNE        nan+20(FP)
	VMOVSS       X0, m+16(FP)
	VZEROUPPER
	RET
