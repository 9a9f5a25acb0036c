package backendtest

import (
	"math"
	"testing"

	"pixelcnn/nn"
)

// bf16 tolerances. At nn.BF16 a backend rounds both operands of every conv product to
// bfloat16 (nn.RoundBF16: 8-bit significands, ties to even) and accumulates the products in
// FP32, as AVX512_BF16's VDPBF16PS does: each accumulation a fused multiply-add rounded to
// nearest even, a subnormal bf16 input read as zero and a subnormal result flushed to zero.
// RunConvBF16 checks each output o of MaskedConv and MaskedConvBackward against the float64
// references of RunConvTF32 (on the exact operands, on the operands as the backend multiplies
// them, BF16Operand, and S = sum_k |a_k||b_k| over o's K terms on the latter, the bias or the
// pre-filled gradient counted as one more term with b = 1):
//
// (a) Tight, against the reference on the BF16Operand operands:
// |got - ref| <= BF16AccumBound(K)*S + BF16FlushBound(K). A product of two bf16 values has at
// most 16 significant bits, so it is exact in FP32 (and the fused multiply-add rounds only the
// sum). What is left is FP32 accumulation with round to nearest even, u = 2^-24: a term that
// passes through n roundings errs by at most gamma_n*|term|, gamma_n = n*u/(1-n*u) (Higham,
// Accuracy and Stability, 2nd ed., sec. 3.1). On the CPU a term passes through at most the
// K-1 additions of one chain plus one per k block (256 deep), per chunk and per worker
// partial of dW, and the centre GEMM's and the bias's additions: fewer than 2K+4, so
// BF16AccumBound(K) = gamma_{2K+4}(2^-24). The flushes of subnormal partial sums add at most
// 2^-126 each, once per rounding: BF16FlushBound(K) = (2K+4)*2^-126. On the cifar10 1x1
// 768->768 layer (K = 769) (a) is 9.2e-5*S; leaving one operand unrounded moves each product
// by up to 2^-8 relatively (3.9e-3), rounding by truncation by 2^-8 one way, and either fails it.
//
// (b) Against the exact reference: rounding moves each product by at most
// (1+2^-8)^2 - 1 = 2*2^-8 + 2^-16 relatively (nn.BF16UnitRoundoff each operand), so
// |got - exact| <= BF16ProductBound*S + (a). S is measured on the rounded operands, within a
// factor (1-2^-8)^-2 < 1.008 of the exact operands' sum; BF16ProductBound carries 1.01 for it.
// An operand flushed by BF16Operand (|v| < 2^-126) moves its product by less than 2^-126
// times the other operand, which is at most 1 in magnitude in these tests: within (a)'s
// absolute part.

// BF16Operand is a conv operand as a bf16 backend multiplies it: nn.RoundBF16, then a
// subnormal result read as zero (VDPBF16PS's DAZ), keeping its sign.
func BF16Operand(v float32) float32 {
	r := nn.RoundBF16(v)
	if r != 0 && math.Abs(float64(r)) < 0x1p-126 {
		return float32(math.Copysign(0, float64(r)))
	}
	return r
}

// BF16AccumBound is the tight bound (a) relative to S for a reduction of k terms.
func BF16AccumBound(k int) float64 {
	n := float64(2*k + 4)
	u := 0x1p-24
	return n * u / (1 - n*u)
}

// BF16FlushBound is bound (a)'s absolute part for k terms: a flushed subnormal partial sum
// (less than 2^-126) per rounding.
func BF16FlushBound(k int) float64 { return float64(2*k+4) * 0x1p-126 }

// BF16ProductBound is the relative bound (b) of the operand rounding on one product.
const BF16ProductBound = 1.01 * (2*nn.BF16UnitRoundoff + nn.BF16UnitRoundoff*nn.BF16UnitRoundoff)

var bf16Rounding = rounding{"bf16", BF16Operand, BF16AccumBound, BF16FlushBound, BF16ProductBound}

// RunConvBF16 checks b's MaskedConv and MaskedConvBackward (dx, dw, db) at bf16 on every
// ConvCases shape and, unless -short, on CifarConvCases, with bounds (a) and (b) above; b must
// already compute at bf16 (a backend that cannot is skipped by its caller, naming the missing
// feature: SetPrecision's error). As RunConvTF32 it also checks that the backward pass is
// bitwise deterministic, leaves masked dw entries untouched, and sums dB in FP32 from the
// unrounded dz.
func RunConvBF16(t *testing.T, b nn.Backend) {
	if p := nn.BackendPrecision(b); p != nn.BF16 {
		t.Fatalf("%s computes at %s, want %s", b.Name(), p, nn.BF16)
	}
	cases := ConvCases()
	if !testing.Short() {
		cases = append(cases, CifarConvCases()...)
	}
	for ci, c := range cases {
		t.Run(c.Spec.Name, func(t *testing.T) { checkConvRounded(t, b, c, uint64(ci), bf16Rounding) })
	}
}
