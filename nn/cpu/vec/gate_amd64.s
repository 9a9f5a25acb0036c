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
