#!/usr/bin/env python3
"""Writes gemm_bf16_amd64.s, the AVX512_BF16 micro-kernels of Bgemm (go generate runs it):
14x32 (28 accumulators) for tall GEMMs and 8x32 (16) for those of a few rows, as
gen_avx512.py's FP32 kernels. Run: python3 gen_bf16.py > gemm_bf16_amd64.s

Operands are packed (bgemm.go) as bfloat16 pairs along k: A's panel holds, for each k pair p
and row r, the dword a[p*MR + r] = bf16(A[r][2p]) | bf16(A[r][2p+1]) << 16; B's panel, for each
k pair and column j, b[p*32 + j] = bf16(B[2p][j]) | bf16(B[2p+1][j]) << 16 (an odd k is padded
with a zero pair half). One k pair is, per row r, a 32-bit broadcast of A's dword and two
VDPBF16PS, one per 16 columns:

    acc[r][j] += B[2p+1][j]*A[r][2p+1]; acc[r][j] += B[2p][j]*A[r][2p]

each += an FP32 fused multiply-add (the bf16 product is exact) rounded to nearest even, with
subnormal inputs read as zero and subnormal results flushed to zero (Intel SDM, VDPBF16PS;
MXCSR is neither read nor written). bgemm_test.go emulates this bit for bit.

The Go assembler has no AVX512_BF16 mnemonics, so VDPBF16PS is written as its EVEX bytes,
register operands only: EVEX.512.F3.0F38.W0 52 /r, i.e. 62 P0 P1 P2 52 ModRM with
  P0 = R X B R' 0 0 1 0   (R, R': inverted bits 3 and 4 of the destination; B, X: of src2;
                           mm = 10, map 0F38)
  P1 = W vvvv 1 p p       (W = 0; vvvv: inverted bits 0-3 of src1; pp = 10, prefix F3)
  P2 = z L'L b V' a a a   (z = 0, L'L = 10 for 512 bits, b = 0, V': inverted bit 4 of src1,
                           aaa = 000: no mask)
  ModRM = 11 dst[2:0] src2[2:0]
(the same encoder as gen_peak.py's). bf16_asm_amd64_test.go disassembles the built kernels
with GNU objdump and checks every VDPBF16PS against the comment written beside its bytes.
"""

from gen_peak import vdpbf16ps  # the one EVEX encoder of VDPBF16PS (the peak loop uses it too)

MR = 14  # set per kernel by kernel()
NR = 32


def dp(dst, src1, src2):
    """The instruction as BYTE directives, with the Go-order mnemonic as a comment (the
    disassembly test reads it)."""
    return "\tBYTE " + "; BYTE ".join(f"${v:#04x}" for v in vdpbf16ps(dst, src1, src2)) + \
        f" // VDPBF16PS Z{src2}, Z{src1}, Z{dst}"


def acc(r, h):
    return f"Z{2 + 2 * r + h}"


def kstep(out, u):
    """k pair u of the unrolled body: B's row pair at BX + 128u, A's at AX + 4*MR*u."""
    out.append(f"\tVMOVUPS {128 * u}(BX), Z0")
    out.append(f"\tVMOVUPS {128 * u + 64}(BX), Z1")
    for r in range(MR):
        bc = 30 if r % 2 == 0 else 31
        out.append(f"\tVBROADCASTSS {4 * (MR * u + r)}(AX), Z{bc}")
        out.append(dp(2 + 2 * r, 0, bc))
        out.append(dp(3 + 2 * r, 1, bc))


def store(out, kind):
    for r in range(MR):
        a, b = acc(r, 0), acc(r, 1)
        if kind == "beta0":
            out += [f"\tVMULPS Z30, {a}, {a}", f"\tVMULPS Z30, {b}, {b}"]
        elif kind == "beta1":
            out += [f"\tVFMADD213PS (DX), Z30, {a}", f"\tVFMADD213PS 64(DX), Z30, {b}"]
        else:
            out += [f"\tVMULPS Z30, {a}, {a}", f"\tVMULPS Z30, {b}, {b}",
                    f"\tVFMADD231PS (DX), Z31, {a}", f"\tVFMADD231PS 64(DX), Z31, {b}"]
        out += [f"\tVMOVUPS {a}, (DX)", f"\tVMOVUPS {b}, 64(DX)"]
        if r != MR - 1:
            out.append("\tADDQ R10, DX")
    out += ["\tVZEROUPPER", "\tRET"]


def kernel(o, mr):
    global MR
    MR = mr
    name = f"bkern{mr}x32"
    o.append(f"// func {name}(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32)")
    o.append("//")
    o.append(f"// C = alpha*A*B + beta*C for a {mr}x32 tile over kp k pairs (C not read when beta == 0;")
    o.append("// ldc in bytes). Accumulators Z2..Z%d (row r in Z(2+2r), Z(3+2r)), B's pair row in Z0, Z1," % (1 + 2 * mr))
    o.append("// A's pair broadcast in Z30, Z31 (alternating rows); alpha and beta reuse Z30, Z31.")
    o.append(f"TEXT ·{name}(SB), NOSPLIT, $0-48")
    o += ["\tMOVQ kp+0(FP), CX", "\tMOVQ a+8(FP), AX", "\tMOVQ b+16(FP), BX",
          "\tMOVQ c+24(FP), DX", "\tMOVQ ldc+32(FP), R10"]
    for r in range(MR):
        for h in range(2):
            a = acc(r, h)
            o.append(f"\tVPXORD {a}, {a}, {a}")
    o += ["\tCMPQ CX, $4", f"\tJL   {name}_tail", "", f"{name}_loop4:"]
    for u in range(4):
        kstep(o, u)
    o += [f"\tADDQ ${4 * 4 * MR}, AX", f"\tADDQ ${4 * 128}, BX",
          "\tSUBQ $4, CX", "\tCMPQ CX, $4", f"\tJGE  {name}_loop4", "", f"{name}_tail:",
          "\tTESTQ CX, CX", f"\tJE    {name}_done", "", f"{name}_loop1:"]
    kstep(o, 0)
    o += [f"\tADDQ ${4 * MR}, AX", "\tADDQ $128, BX", "\tDECQ CX", f"\tJNE  {name}_loop1", "",
          f"{name}_done:",
          "\tVBROADCASTSS alpha+40(FP), Z30", "\tMOVL beta+44(FP), DI", "\tANDL $0x7fffffff, DI",
          f"\tJEQ  {name}_beta0", "\tCMPL beta+44(FP), $0x3f800000", f"\tJEQ  {name}_beta1",
          "\tVBROADCASTSS beta+44(FP), Z31"]
    store(o, "general")
    o += ["", f"{name}_beta1:"]
    store(o, "beta1")
    o += ["", f"{name}_beta0:"]
    store(o, "beta0")
    o.append("")


def main():
    o = ["// Code generated by gen_bf16.py; DO NOT EDIT.", "", "//go:build amd64 && !purego", "",
         '#include "textflag.h"', ""]
    for mr in (14, 8):
        kernel(o, mr)
    print("\n".join(o))


main()
