//go:build amd64 && !purego

#include "textflag.h"

// The gate kernels of gate.go, eight elements per step, with the float32 operations of
// TanhSigmoid and ExpNeg in their order (separate multiplies and adds, floor by VROUNDPS).

DATA gatec<>+0(SB)/4, $0xc2ae999a  // -87.3
DATA gatec<>+4(SB)/4, $0x3fb8aa3b  // log2(e)
DATA gatec<>+8(SB)/4, $0x3f000000  // 0.5
DATA gatec<>+12(SB)/4, $0x3f318000 // 0.693359375
DATA gatec<>+16(SB)/4, $0x395e8083 // 2.12194440e-4
DATA gatec<>+20(SB)/4, $0x39506967 // 1.9875691500e-4
DATA gatec<>+24(SB)/4, $0x3ab743ce // 1.3981999507e-3
DATA gatec<>+28(SB)/4, $0x3c088908 // 8.3334519073e-3
DATA gatec<>+32(SB)/4, $0x3d2aa9c1 // 4.1665795894e-2
DATA gatec<>+36(SB)/4, $0x3e2aaaaa // 1.6666665459e-1
DATA gatec<>+40(SB)/4, $0x3f000000 // 5.0000001201e-1
DATA gatec<>+44(SB)/4, $0x3f800000 // 1
DATA gatec<>+48(SB)/4, $127
DATA gatec<>+52(SB)/4, $0xc0000000 // -2
DATA gatec<>+56(SB)/4, $0x7fffffff // |.| mask
DATA gatec<>+60(SB)/4, $0x80000000 // sign bit
GLOBL gatec<>(SB), RODATA|NOPTR, $64

// LOADC broadcasts the constants EXPNEG keeps in registers: Y15 -87.3, Y14 log2(e), Y13 0.5,
// Y12 and Y11 the two parts of ln 2, Y10 1.
#define LOADC \
	VBROADCASTSS gatec<>+0(SB), Y15; \
	VBROADCASTSS gatec<>+4(SB), Y14; \
	VBROADCASTSS gatec<>+8(SB), Y13; \
	VBROADCASTSS gatec<>+12(SB), Y12; \
	VBROADCASTSS gatec<>+16(SB), Y11; \
	VBROADCASTSS gatec<>+44(SB), Y10

// EXPNEG sets E = ExpNeg(X) for X <= 0; K, T and M are clobbered, X too.
#define EXPNEG(X, E, K, T, M) \
	VCMPPS       $0x11, Y15, X, M; \
	VMULPS       Y14, X, K; \
	VADDPS       Y13, K, K; \
	VROUNDPS     $9, K, K; \
	VMULPS       Y12, K, T; \
	VSUBPS       T, X, T; \
	VMULPS       Y11, K, E; \
	VADDPS       E, T, T; \
	VBROADCASTSS gatec<>+20(SB), E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+24(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+28(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+32(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+36(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+40(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VMULPS       T, E, E; \
	VADDPS       T, E, E; \
	VADDPS       Y10, E, E; \
	VCVTTPS2DQ   K, K; \
	VPBROADCASTD gatec<>+48(SB), X; \
	VPADDD       X, K, K; \
	VPSLLD       $23, K, K; \
	VMULPS       K, E, E; \
	VANDNPS      E, M, E

// TANHSIG sets Y2 = tanh(a) and Y9 = sigmoid(g) from Y0 = a and Y1 = g (kept), with
// Y5 = 1 + e1 and Y7 = 1/((1 + e1)(1 + e2)); Y3, Y4, Y6 and Y8 are clobbered.
// func gateAVX(y, a, gs *float32, n int)
TEXT ·gateAVX(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ gs+16(FP), DX
	MOVQ n+24(FP), CX
	LOADC
	XORQ AX, AX
gate8:
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS (DX)(AX*4), Y1
	VBROADCASTSS gatec<>+56(SB), Y4
	VANDPS       Y0, Y4, Y2
	VANDPS       Y1, Y4, Y3
	VBROADCASTSS gatec<>+52(SB), Y4
	VMULPS       Y4, Y2, Y2
	VBROADCASTSS gatec<>+60(SB), Y4
	VXORPS       Y4, Y3, Y3
	EXPNEG(Y2, Y4, Y5, Y6, Y7)
	EXPNEG(Y3, Y8, Y5, Y6, Y7)
	VADDPS       Y10, Y4, Y5
	VADDPS       Y10, Y8, Y6
	VMULPS       Y6, Y5, Y7
	VDIVPS       Y7, Y10, Y7
	VSUBPS       Y4, Y10, Y2
	VMULPS       Y6, Y2, Y2
	VMULPS       Y7, Y2, Y2
	VBROADCASTSS gatec<>+60(SB), Y3
	VANDPS       Y0, Y3, Y3
	VORPS        Y3, Y2, Y2
	VXORPS       Y3, Y3, Y3
	VCMPPS       $0x1d, Y3, Y1, Y3
	VBLENDVPS    Y3, Y10, Y8, Y9
	VMULPS       Y5, Y9, Y9
	VMULPS       Y7, Y9, Y9
	VMULPS  Y9, Y2, Y2
	VMOVUPS Y2, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, CX
	JLT     gate8
	VZEROUPPER
	RET

// func gateGradAVX(da, dg, dy, a, gs *float32, n int)
TEXT ·gateGradAVX(SB), NOSPLIT, $0-48
	MOVQ da+0(FP), DI
	MOVQ dg+8(FP), BX
	MOVQ dy+16(FP), R8
	MOVQ a+24(FP), SI
	MOVQ gs+32(FP), DX
	MOVQ n+40(FP), CX
	LOADC
	XORQ AX, AX
grad8:
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS (DX)(AX*4), Y1
	VBROADCASTSS gatec<>+56(SB), Y4
	VANDPS       Y0, Y4, Y2
	VANDPS       Y1, Y4, Y3
	VBROADCASTSS gatec<>+52(SB), Y4
	VMULPS       Y4, Y2, Y2
	VBROADCASTSS gatec<>+60(SB), Y4
	VXORPS       Y4, Y3, Y3
	EXPNEG(Y2, Y4, Y5, Y6, Y7)
	EXPNEG(Y3, Y8, Y5, Y6, Y7)
	VADDPS       Y10, Y4, Y5
	VADDPS       Y10, Y8, Y6
	VMULPS       Y6, Y5, Y7
	VDIVPS       Y7, Y10, Y7
	VSUBPS       Y4, Y10, Y2
	VMULPS       Y6, Y2, Y2
	VMULPS       Y7, Y2, Y2
	VBROADCASTSS gatec<>+60(SB), Y3
	VANDPS       Y0, Y3, Y3
	VORPS        Y3, Y2, Y2
	VXORPS       Y3, Y3, Y3
	VCMPPS       $0x1d, Y3, Y1, Y3
	VBLENDVPS    Y3, Y10, Y8, Y9
	VMULPS       Y5, Y9, Y9
	VMULPS       Y7, Y9, Y9
	VMOVUPS (R8)(AX*4), Y3  // v = dy
	VMULPS  Y2, Y2, Y4      // t*t
	VSUBPS  Y4, Y10, Y4     // 1 - t*t
	VMULPS  Y4, Y3, Y4      // v*(1 - t*t)
	VMULPS  Y9, Y4, Y4      // * s
	VADDPS  (DI)(AX*4), Y4, Y4
	VMOVUPS Y4, (DI)(AX*4)  // da +=
	VMULPS  Y2, Y3, Y6      // v*t
	VMULPS  Y9, Y6, Y6      // * s
	VSUBPS  Y9, Y10, Y7     // 1 - s
	VMULPS  Y7, Y6, Y6
	VADDPS  (BX)(AX*4), Y6, Y6
	VMOVUPS Y6, (BX)(AX*4)  // dg +=
	ADDQ    $8, AX
	CMPQ    AX, CX
	JLT     grad8
	VZEROUPPER
	RET

// The same kernels at AVX-512F, sixteen elements per step: gate_amd64.s's
// instructions one for one on zmm registers, with the same float32 operations in the same
// order, so both give the same bits. What AVX-512F spells differently: the compares write
// mask registers, so EXPNEG's final VANDNPS (zero where x < -87.3) is a zeroing move under
// the negated compare (NLT_UQ, true for NaN as ANDN's complement of LT_OQ is), and the blend
// is VBLENDMPS; floor is VRNDSCALEPS with the VROUNDPS immediate above (scale 0); and the
// bitwise ops are the integer VPANDD/VPXORD/VPORD (VANDPS on zmm needs AVX512DQ), the same
// bits. The constants are the gatec table above.

#define LOADC512 \
	VBROADCASTSS gatec<>+0(SB), Z15; \
	VBROADCASTSS gatec<>+4(SB), Z14; \
	VBROADCASTSS gatec<>+8(SB), Z13; \
	VBROADCASTSS gatec<>+12(SB), Z12; \
	VBROADCASTSS gatec<>+16(SB), Z11; \
	VBROADCASTSS gatec<>+44(SB), Z10

// EXPNEG512 sets E = ExpNeg(X) for X <= 0; K, T and X are clobbered, mask register M too.
#define EXPNEG512(X, E, K, T, M) \
	VCMPPS       $0x15, Z15, X, M; \
	VMULPS       Z14, X, K; \
	VADDPS       Z13, K, K; \
	VRNDSCALEPS  $9, K, K; \
	VMULPS       Z12, K, T; \
	VSUBPS       T, X, T; \
	VMULPS       Z11, K, E; \
	VADDPS       E, T, T; \
	VBROADCASTSS gatec<>+20(SB), E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+24(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+28(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+32(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+36(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VBROADCASTSS gatec<>+40(SB), X; \
	VADDPS       X, E, E; \
	VMULPS       T, E, E; \
	VMULPS       T, E, E; \
	VADDPS       T, E, E; \
	VADDPS       Z10, E, E; \
	VCVTTPS2DQ   K, K; \
	VPBROADCASTD gatec<>+48(SB), X; \
	VPADDD       X, K, K; \
	VPSLLD       $23, K, K; \
	VMULPS       K, E, E; \
	VMOVAPS.Z    E, M, E

// TANHSIG512 sets Z2 = tanh(a) and Z9 = sigmoid(g) from Z0 = a and Z1 = g (kept), with
// Z5 = 1 + e1 and Z7 = 1/((1 + e1)(1 + e2)); Z3, Z4, Z6, Z8, K1 and K2 are clobbered.
#define TANHSIG512 \
	VPBROADCASTD gatec<>+56(SB), Z4; \
	VPANDD       Z0, Z4, Z2; \
	VPANDD       Z1, Z4, Z3; \
	VBROADCASTSS gatec<>+52(SB), Z4; \
	VMULPS       Z4, Z2, Z2; \
	VPBROADCASTD gatec<>+60(SB), Z4; \
	VPXORD       Z4, Z3, Z3; \
	EXPNEG512(Z2, Z4, Z5, Z6, K1); \
	EXPNEG512(Z3, Z8, Z5, Z6, K1); \
	VADDPS       Z10, Z4, Z5; \
	VADDPS       Z10, Z8, Z6; \
	VMULPS       Z6, Z5, Z7; \
	VDIVPS       Z7, Z10, Z7; \
	VSUBPS       Z4, Z10, Z2; \
	VMULPS       Z6, Z2, Z2; \
	VMULPS       Z7, Z2, Z2; \
	VPBROADCASTD gatec<>+60(SB), Z3; \
	VPANDD       Z0, Z3, Z3; \
	VPORD        Z3, Z2, Z2; \
	VPXORD       Z3, Z3, Z3; \
	VCMPPS       $0x1d, Z3, Z1, K2; \
	VBLENDMPS    Z10, Z8, K2, Z9; \
	VMULPS       Z5, Z9, Z9; \
	VMULPS       Z7, Z9, Z9

// func gateAVX512(y, a, gs *float32, n int)
TEXT ·gateAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ gs+16(FP), DX
	MOVQ n+24(FP), CX
	LOADC512
	XORQ AX, AX
gate16:
	VMOVUPS (SI)(AX*4), Z0
	VMOVUPS (DX)(AX*4), Z1
	TANHSIG512
	VMULPS  Z9, Z2, Z2
	VMOVUPS Z2, (DI)(AX*4)
	ADDQ    $16, AX
	CMPQ    AX, CX
	JLT     gate16
	VZEROUPPER
	RET

// func gateGradAVX512(da, dg, dy, a, gs *float32, n int)
TEXT ·gateGradAVX512(SB), NOSPLIT, $0-48
	MOVQ da+0(FP), DI
	MOVQ dg+8(FP), BX
	MOVQ dy+16(FP), R8
	MOVQ a+24(FP), SI
	MOVQ gs+32(FP), DX
	MOVQ n+40(FP), CX
	LOADC512
	XORQ AX, AX
grad16:
	VMOVUPS (SI)(AX*4), Z0
	VMOVUPS (DX)(AX*4), Z1
	TANHSIG512
	VMOVUPS (R8)(AX*4), Z3  // v = dy
	VMULPS  Z2, Z2, Z4      // t*t
	VSUBPS  Z4, Z10, Z4     // 1 - t*t
	VMULPS  Z4, Z3, Z4      // v*(1 - t*t)
	VMULPS  Z9, Z4, Z4      // * s
	VADDPS  (DI)(AX*4), Z4, Z4
	VMOVUPS Z4, (DI)(AX*4)  // da +=
	VMULPS  Z2, Z3, Z6      // v*t
	VMULPS  Z9, Z6, Z6      // * s
	VSUBPS  Z9, Z10, Z7     // 1 - s
	VMULPS  Z7, Z6, Z6
	VADDPS  (BX)(AX*4), Z6, Z6
	VMOVUPS Z6, (BX)(AX*4)  // dg +=
	ADDQ    $16, AX
	CMPQ    AX, CX
	JLT     grad16
	VZEROUPPER
	RET
