package nn

import (
	"fmt"
	"math"
)

// Precision is the arithmetic a backend uses for the masked convolutions' multiplications.
// Accumulation is always FP32, and every other op (loss, optimizer, elementwise) is FP32 at
// either precision. Checkpoints are F32 whatever the precision.
type Precision string

const (
	// FP32 multiplies full float32 operands: the exact mode, the one that matches the CPU
	// reference to float32 rounding.
	FP32 Precision = "fp32"
	// TF32 rounds both operands of every conv product to TF32 (1 sign, 8 exponent, 10
	// mantissa bits; RoundTF32) and accumulates in FP32: what tensor cores compute with
	// mma.sync .tf32, and what PyTorch's cuDNN convolutions do by default on Ampere and later.
	TF32 Precision = "tf32"
	// BF16 rounds both operands of every conv product to bfloat16 (1 sign, 8 exponent, 7
	// mantissa bits; RoundBF16, ties to even) and accumulates in FP32: what AVX512_BF16's
	// VDPBF16PS computes. Only backends with such an instruction accept it (the CPU backend on
	// a CPU with AVX512_BF16); SetPrecision refuses it elsewhere, naming the device.
	BF16 Precision = "bf16"
)

// Precisions lists the valid values, for flag help and error messages.
var Precisions = []Precision{TF32, FP32, BF16}

// ParsePrecision parses a --precision value. Anything but a listed value, "" included, is an
// error listing the choices (ChoosePrecision treats "" as the backend's default).
func ParsePrecision(s string) (Precision, error) {
	for _, p := range Precisions {
		if s == string(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("precision %q: unknown (choose one of %v)", s, Precisions)
}

// PrecisionSetter is implemented by backends whose convolutions can run at more than one
// precision. A backend without it computes in FP32.
type PrecisionSetter interface {
	// SetPrecision selects the precision of later conv calls. It returns an error naming the
	// device when the device cannot compute at p (e.g. TF32 before sm_80).
	SetPrecision(p Precision) error
	// Precision reports the precision in use.
	Precision() Precision
}

// PrecisionDefaulter is implemented by a PrecisionSetter whose default precision for the
// commands is not TF32: the CPU backend emulates TF32 (for tests) but computes in FP32 unless
// asked.
type PrecisionDefaulter interface {
	DefaultPrecision() Precision
}

// DefaultPrecision is the precision the commands use when --precision is not given: the
// backend's DefaultPrecision when it has one, else TF32 for a PrecisionSetter (tensor cores,
// what PyTorch users get from cuDNN by default) and FP32 for any other backend.
func DefaultPrecision(b Backend) Precision {
	if d, ok := b.(PrecisionDefaulter); ok {
		return d.DefaultPrecision()
	}
	if _, ok := b.(PrecisionSetter); ok {
		return TF32
	}
	return FP32
}

// ChoosePrecision applies a --precision flag value to b. A value the user gave must be valid
// and available: an unknown one is an error listing the choices, and one the device cannot
// compute at is the backend's error (naming the device). With "" it takes DefaultPrecision,
// falling back to FP32 when the device cannot do that, and then says so in notice.
func ChoosePrecision(b Backend, flag string) (p Precision, notice string, err error) {
	if flag != "" {
		if p, err = ParsePrecision(flag); err != nil {
			return "", "", fmt.Errorf("--precision: %w", err)
		}
		if err = SetBackendPrecision(b, p); err != nil {
			return "", "", err
		}
		return p, "", nil
	}
	p = DefaultPrecision(b)
	if err = SetBackendPrecision(b, p); err == nil {
		return p, "", nil
	}
	if ferr := SetBackendPrecision(b, FP32); ferr != nil {
		return "", "", ferr
	}
	return FP32, fmt.Sprintf("note: default precision %s unavailable (%v); computing in %s", p, err, FP32), nil
}

// BackendPrecision reports b's precision (FP32 for a backend without PrecisionSetter).
func BackendPrecision(b Backend) Precision {
	if ps, ok := b.(PrecisionSetter); ok {
		return ps.Precision()
	}
	return FP32
}

// SetBackendPrecision sets b's precision; asking a backend without PrecisionSetter for
// anything but FP32 is an error.
func SetBackendPrecision(b Backend, p Precision) error {
	if ps, ok := b.(PrecisionSetter); ok {
		return ps.SetPrecision(p)
	}
	if p != FP32 {
		return fmt.Errorf("backend %s: computes in %s only, not %s", b.Name(), FP32, p)
	}
	return nil
}

// RoundTF32 rounds v to TF32 (10 explicit mantissa bits) to nearest, ties away from zero:
// PTX's cvt.rna.tf32.f32, which the version 3 (tensor-core) conv kernels apply to both
// operands before each mma.sync. The result is a float32 whose low 13 mantissa bits are 0.
// NaN and ±Inf are returned unchanged; a value that rounds past the largest finite TF32
// becomes ±Inf, as cvt.rna does.
func RoundTF32(v float32) float32 {
	bits := math.Float32bits(v)
	if bits&0x7f800000 == 0x7f800000 { // Inf or NaN: adding the rounding bias could carry into the sign
		return v
	}
	return math.Float32frombits((bits + 0x1000) &^ 0x1fff)
}

// TF32UnitRoundoff is the relative error bound of RoundTF32 on normal numbers: 2^-11 (half
// an ulp of a 10-bit mantissa). A product of two rounded operands is within
// 2*2^-11 + 2^-22 of the exact product, relatively; tolerances in nn/backendtest derive from it.
const TF32UnitRoundoff = 1.0 / 2048

// RoundBF16 rounds v to bfloat16 (7 explicit mantissa bits) to nearest, ties to even: what
// VCVTNE2PS2BF16 and PyTorch's float-to-bfloat16 conversion do to a normal number. The result
// is a float32 whose low 16 bits are 0, its high 16 bits the bfloat16. Subnormals are rounded
// like normals (to a multiple of 2^-133), not flushed: VDPBF16PS treats a subnormal bf16
// input as zero itself. ±Inf is returned unchanged and NaN stays NaN (quieted, sign and high
// payload kept); a finite value that rounds past the largest finite bfloat16 becomes ±Inf.
func RoundBF16(v float32) float32 {
	bits := math.Float32bits(v)
	if bits&0x7fffffff > 0x7f800000 { // NaN: truncating a low-payload NaN would give Inf
		return math.Float32frombits((bits | 0x00400000) &^ 0xffff)
	}
	bits += 0x7fff + (bits>>16)&1 // Inf has low bits 0 and an even last kept bit: unchanged
	return math.Float32frombits(bits &^ 0xffff)
}

// BF16UnitRoundoff is the relative error bound of RoundBF16 on normal numbers: 2^-8 (half an
// ulp of a 7-bit mantissa). A product of two rounded operands is within 2*2^-8 + 2^-16 of the
// exact product, relatively; tolerances in nn/backendtest derive from it.
const BF16UnitRoundoff = 1.0 / 256
