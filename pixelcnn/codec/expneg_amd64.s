//go:build amd64 && !purego

#include "textflag.h"

// func expNegAVX2(e, d *float64, n int)
// expNeg of d[0:n] into e (n > 0, a multiple of 4), four lanes at a time, with expNeg's
// float64 operations in its order: floor by VROUNDPD, and 2^k as the exponent field of
// k + 1023 (read from the low bits of k + 1023 + 1.5*2^52, exact for these k).
TEXT ·expNegAVX2(SB), NOSPLIT, $0-24
	MOVQ e+0(FP), DI
	MOVQ d+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD expc<>+0(SB), Y10  // 1/ln 2
	VBROADCASTSD expc<>+8(SB), Y11  // 0.5
	VBROADCASTSD expc<>+16(SB), Y12 // ln2Hi
	VBROADCASTSD expc<>+24(SB), Y13 // ln2Lo
	VBROADCASTSD expc<>+32(SB), Y14 // 1
	VBROADCASTSD expc<>+40(SB), Y15 // 1023 + 1.5*2^52
	LEAQ invc<>(SB), R8
	XORQ AX, AX

loop:
	VMOVUPD  (SI)(AX*8), Y0 // d
	VMULPD   Y10, Y0, Y1
	VADDPD   Y11, Y1, Y1
	VROUNDPD $9, Y1, Y1     // k = floor(d/ln2 + 0.5)
	VMULPD   Y12, Y1, Y2
	VSUBPD   Y2, Y0, Y2     // d - k*ln2Hi
	VMULPD   Y13, Y1, Y3
	VSUBPD   Y3, Y2, Y2     // r = (d - k*ln2Hi) - k*ln2Lo
	VMOVAPD  Y14, Y4        // p = 1
	MOVQ     $96, DX        // offset of inverse[12] in invc

horner:
	VBROADCASTSD (R8)(DX*1), Y5
	VMULPD   Y5, Y2, Y5     // r/n
	VMULPD   Y4, Y5, Y5     // * p
	VADDPD   Y14, Y5, Y4    // p = 1 + ...
	SUBQ     $8, DX
	JNZ      horner

	VADDPD   Y15, Y1, Y1
	VPSLLQ   $52, Y1, Y1    // 2^k
	VMULPD   Y1, Y4, Y4
	VMOVUPD  Y4, (DI)(AX*8)
	ADDQ     $4, AX
	CMPQ     AX, CX
	JLT      loop
	VZEROUPPER
	RET

DATA expc<>+0(SB)/8, $1.44269504088896338700e+00
DATA expc<>+8(SB)/8, $0.5
DATA expc<>+16(SB)/8, $6.93147180369123816490e-01
DATA expc<>+24(SB)/8, $1.90821492927058770002e-10
DATA expc<>+32(SB)/8, $1.0
DATA expc<>+40(SB)/8, $6755399441056767.0
GLOBL expc<>(SB), RODATA|NOPTR, $48

// invc[n] = 1/n, the bits of freq.go's inverse[n].
DATA invc<>+0(SB)/8, $0
DATA invc<>+8(SB)/8, $0x3ff0000000000000 // 1/1
DATA invc<>+16(SB)/8, $0x3fe0000000000000 // 1/2
DATA invc<>+24(SB)/8, $0x3fd5555555555555 // 1/3
DATA invc<>+32(SB)/8, $0x3fd0000000000000 // 1/4
DATA invc<>+40(SB)/8, $0x3fc999999999999a // 1/5
DATA invc<>+48(SB)/8, $0x3fc5555555555555 // 1/6
DATA invc<>+56(SB)/8, $0x3fc2492492492492 // 1/7
DATA invc<>+64(SB)/8, $0x3fc0000000000000 // 1/8
DATA invc<>+72(SB)/8, $0x3fbc71c71c71c71c // 1/9
DATA invc<>+80(SB)/8, $0x3fb999999999999a // 1/10
DATA invc<>+88(SB)/8, $0x3fb745d1745d1746 // 1/11
DATA invc<>+96(SB)/8, $0x3fb5555555555555 // 1/12
GLOBL invc<>(SB), RODATA|NOPTR, $104
