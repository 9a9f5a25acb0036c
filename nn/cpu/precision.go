package cpu

import (
	"fmt"

	"pixelcnn/nn"
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

var (
	_ nn.PrecisionSetter    = (*Backend)(nil)
	_ nn.PrecisionDefaulter = (*Backend)(nil)
)

// SetPrecision selects FP32 (the default) or the TF32 emulation for later conv calls. It must
// not be called while an op runs.
func (b *Backend) SetPrecision(p nn.Precision) error {
	switch p {
	case nn.FP32, nn.TF32:
		b.precision = p
		return nil
	}
	if _, err := nn.ParsePrecision(string(p)); err != nil {
		return err
	}
	return fmt.Errorf("%s: precision %s: not implemented on the CPU", b.Name(), p)
}

// Precision reports the precision of the conv ops.
func (b *Backend) Precision() nn.Precision {
	if b.precision == "" {
		return nn.FP32
	}
	return b.precision
}

// DefaultPrecision is FP32: the CPU's TF32 is an emulation for checking GPU results (it is
// slower than FP32 and no more accurate), so the commands use it only when asked.
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
