package cpu

import (
	"fmt"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu/gemm"
	"pixelcnn/nn/cpu/isa"
)

// TF32 emulation. At nn.TF32 the backend computes what a tensor core's mma.sync .tf32 does:
// both operands of every masked-conv product are rounded with nn.RoundTF32 before the GEMM
// (forward: the im2col rows, or x itself for a 1x1 conv, and w; dX: dz and w; dW: the im2col
// rows and dz), and the products are accumulated in FP32 by the same GEMMs as at FP32. A
// product of two TF32 values has at most 22 significant bits, so it is exact in FP32: the
// emulation differs from the GPU's version 3 kernels only in the order of the FP32 additions,
// which is what lets nn/backendtest and cuda's TestTrainMatchesCPU compare them tightly.
// dB is summed from the unrounded dz, and every other op (MaskedConvAt included: the cached
// sampler's pass is FP32 at every precision) is unchanged. The rounding is an O(rows*K) pass
// beside an O(rows*K*Out) GEMM; at FP32 nothing is rounded or copied. Results stay
// deterministic: the rounding is elementwise, the GEMMs and reductions are those of FP32.

// bf16. At nn.BF16 the same three GEMMs per conv (forward, dX, dW) run on gemm.Bgemm instead
// of gemm.Sgemm: Bgemm rounds both operands to bfloat16 (nn.RoundBF16, ties to even) as it
// packs them and accumulates in FP32 with AVX512_BF16's VDPBF16PS, which reads a subnormal
// bf16 as zero and flushes subnormal partial sums. The operands are the ones TF32 rounds (the
// im2col rows or x, w, dz); nothing is copied or rounded beforehand. dB (from the unrounded
// dz) and every other op stay FP32, and MaskedConvAt stays FP32 as at TF32. bf16 needs
// isa.BF16(): a CPU with AVX512_BF16 and the avx512 level or above, else SetPrecision refuses
// it naming the CPU and the missing feature (or PIXELCNN_CPU_ISA). Results are deterministic:
// each element's sum is formed in a fixed order whatever the chunking.

var (
	_ nn.PrecisionSetter    = (*Backend)(nil)
	_ nn.PrecisionDefaulter = (*Backend)(nil)
)

// SetPrecision selects FP32 (the default), the TF32 emulation or bf16 (on AVX512_BF16) for
// later conv calls. It must not be called while an op runs.
func (b *Backend) SetPrecision(p nn.Precision) error {
	switch p {
	case nn.FP32, nn.TF32:
		b.precision = p
		return nil
	case nn.BF16:
		if err := isa.BF16(); err != nil {
			return fmt.Errorf("%s: precision %s: %w", b.Name(), p, err)
		}
		b.precision = p
		return nil
	}
	_, err := nn.ParsePrecision(string(p))
	return err
}

// gemmFunc is gemm.Sgemm's signature (gemm.Sgemm, gemm.Bgemm).
type gemmFunc = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// convGemm is the GEMM of the conv products at the backend's precision: gemm.Bgemm at bf16,
// gemm.Sgemm otherwise (TF32's operands are rounded before it). At bf16 it is an error when the
// instruction set was lowered after SetPrecision (isa.Set, tests), never an illegal instruction.
func (b *Backend) convGemm() (gemmFunc, error) {
	if b.precision != nn.BF16 {
		return gemm.Sgemm, nil
	}
	if err := isa.BF16(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return gemm.Bgemm, nil
}

// Precision reports the precision of the conv ops.
func (b *Backend) Precision() nn.Precision {
	if b.precision == "" {
		return nn.FP32
	}
	return b.precision
}

// DefaultPrecision is FP32: the CPU's TF32 is an emulation for checking GPU results (it is
// slower than FP32 and no more accurate), and bf16 loses 16 bits of every operand, so the
// commands use them only when asked.
func (b *Backend) DefaultPrecision() nn.Precision { return nn.FP32 }

func (b *Backend) tf32() bool { return b.precision == nn.TF32 }

// roundTF32 rounds every element of v to TF32 in place.
func roundTF32(v []float32) {
	for i, e := range v {
		v[i] = nn.RoundTF32(e)
	}
}

// liveWeights returns the live part of w (its first kLive*Out values, every weight a conv
// reads) for the GEMMs: w itself at FP32, a TF32-rounded copy at TF32, which the caller
// hands back with putBuffer.
func (b *Backend) liveWeights(s convShape, w []float32) (live []float32, copied bool) {
	if !b.tf32() {
		return w, false
	}
	n := s.kLive * s.spec.Out
	live, _ = b.take(n)
	copy(live, w[:n])
	roundTF32(live)
	return live, true
}
