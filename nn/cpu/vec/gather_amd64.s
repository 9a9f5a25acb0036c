//go:build amd64 && !purego

#include "textflag.h"

// func gatherSumAVX(d, src *float32, offs *int, k, n, acc int)
// For each block of d (32 elements, then 8): the accumulators start from d (acc) or from the
// first term, then every other term is added in order (VADDPS t, a, a is a = a + t, the
// operand order of Go's a += t); d is stored once per block.
TEXT ·gatherSumAVX(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ k+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ acc+40(FP), R10
	XORQ AX, AX             // element index of the block
	MOVQ CX, BX
	ANDQ $-32, BX
	JZ   gs8
gs32:
	LEAQ (DI)(AX*4), R11    // the block of d
	LEAQ (SI)(AX*4), R13    // the block's column in src
	TESTQ R10, R10
	JNZ  gs32fromd
	MOVQ (R8), DX
	LEAQ (R13)(DX*4), DX
	VMOVUPS (DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS 64(DX), Y2
	VMOVUPS 96(DX), Y3
	MOVQ $1, R12
	JMP  gs32terms
gs32fromd:
	VMOVUPS (R11), Y0
	VMOVUPS 32(R11), Y1
	VMOVUPS 64(R11), Y2
	VMOVUPS 96(R11), Y3
	XORQ R12, R12
gs32terms:
	CMPQ R12, R9
	JGE  gs32store
	MOVQ (R8)(R12*8), DX
	LEAQ (R13)(DX*4), DX
	VADDPS (DX), Y0, Y0
	VADDPS 32(DX), Y1, Y1
	VADDPS 64(DX), Y2, Y2
	VADDPS 96(DX), Y3, Y3
	INCQ R12
	JMP  gs32terms
gs32store:
	VMOVUPS Y0, (R11)
	VMOVUPS Y1, 32(R11)
	VMOVUPS Y2, 64(R11)
	VMOVUPS Y3, 96(R11)
	ADDQ $32, AX
	CMPQ AX, BX
	JLT  gs32
gs8:
	CMPQ AX, CX
	JGE  gsdone
	LEAQ (DI)(AX*4), R11
	LEAQ (SI)(AX*4), R13
	TESTQ R10, R10
	JNZ  gs8fromd
	MOVQ (R8), DX
	VMOVUPS (R13)(DX*4), Y0
	MOVQ $1, R12
	JMP  gs8terms
gs8fromd:
	VMOVUPS (R11), Y0
	XORQ R12, R12
gs8terms:
	CMPQ R12, R9
	JGE  gs8store
	MOVQ (R8)(R12*8), DX
	VADDPS (R13)(DX*4), Y0, Y0
	INCQ R12
	JMP  gs8terms
gs8store:
	VMOVUPS Y0, (R11)
	ADDQ $8, AX
	JMP  gs8
gsdone:
	VZEROUPPER
	RET
