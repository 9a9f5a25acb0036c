// Package isa chooses, once per process, which instruction set the CPU backend's kernels use:
// the best the machine has, or a lower one named in PIXELCNN_CPU_ISA (to compare paths, or to
// reproduce a result from a machine without the newer units).
//
// Levels are ordered: each one's kernels need the instructions of the levels below it. The
// GEMM kernels of avx2 and avx512 accumulate every output element in the same order (one FMA
// chain per k block, the same k blocks), so they give bit-identical results; generic Go code
// rounds each multiply before the add and differs in the last bits.
package isa

import (
	"fmt"
	"os"
	"strings"

	"pixelcnn/nn/cpu/internal/x86"
)

// Level is an instruction-set level of the CPU kernels.
type Level int

const (
	Generic Level = iota // portable Go
	AVX2                 // AVX2 + FMA3, 256-bit
	AVX512               // AVX-512F, 512-bit, 32 vector registers
	AMX                  // AMX-BF16 tiles: detected, but no kernel uses them yet (FP32 runs AVX-512)
)

var names = [...]string{Generic: "generic", AVX2: "avx2", AVX512: "avx512", AMX: "amx"}

func (l Level) String() string {
	if l < 0 || int(l) >= len(names) {
		return fmt.Sprintf("isa(%d)", int(l))
	}
	return names[l]
}

// EnvVar names the environment variable that forces a lower level.
const EnvVar = "PIXELCNN_CPU_ISA"

// Detected is the best level this CPU and OS support.
var Detected = detect()

// active is the level in use; envErr says why PIXELCNN_CPU_ISA could not be honoured.
var active, envErr = fromEnv(os.Getenv(EnvVar))

func detect() Level {
	switch {
	case x86.HasAMXBF16:
		return AMX
	case x86.HasAVX512F:
		return AVX512
	case x86.HasAVX2FMA:
		return AVX2
	}
	return Generic
}

// Active is the level chosen (PIXELCNN_CPU_ISA or Detected).
func Active() Level { return active }

// FP32Kernels is the level of the FP32 kernels that run at the active level (AMX has no FP32
// tiles, so its FP32 work is AVX-512's).
func FP32Kernels() Level { return FP32KernelsAt(active) }

// FP32KernelsAt is the level of the FP32 kernels that run at level l.
func FP32KernelsAt(l Level) Level { return min(l, AVX512) }

// EnvError is nil, or says why PIXELCNN_CPU_ISA was refused (the backend then refuses to open,
// so a run never silently uses another path than the one asked for).
func EnvError() error { return envErr }

// Parse reads a level's name.
func Parse(s string) (Level, error) {
	for l, n := range names {
		if strings.EqualFold(s, n) {
			return Level(l), nil
		}
	}
	return 0, fmt.Errorf("%s=%q: unknown instruction set (choices: %s)", EnvVar, s, strings.Join(names[:], ", "))
}

// Set makes the kernels use l from now on; l must be at most Detected. Not safe to call while
// kernels run (tests call it between runs; commands never call it).
func Set(l Level) error {
	if l > Detected {
		return fmt.Errorf("%s=%s: this CPU (%s) lacks it; it supports %s", EnvVar, l, x86.CPUName, strings.Join(names[:Detected+1], ", "))
	}
	active = l
	return nil
}

// Available is the levels this machine can run, lowest first.
func Available() []Level {
	var ls []Level
	for l := Generic; l <= Detected; l++ {
		ls = append(ls, l)
	}
	return ls
}

func fromEnv(v string) (Level, error) {
	if v == "" {
		return Detected, nil
	}
	l, err := Parse(v)
	if err == nil && l > Detected {
		err = fmt.Errorf("%s=%s: this CPU (%s) lacks it; it supports up to %s (unset %s to use %s)", EnvVar, l, x86.CPUName, Detected, EnvVar, Detected)
	}
	if err != nil {
		return Detected, err
	}
	return l, nil
}

// HasBF16 reports whether this CPU and OS can run the bf16 GEMM kernels: AVX512_BF16
// (VDPBF16PS) with the ZMM state saved by the OS. It does not depend on the active level.
var HasBF16 = x86.HasAVX512BF16

// BF16 is nil when the bf16 kernels may run now, else an error naming the CPU and the missing
// feature: this CPU lacks AVX512_BF16, or PIXELCNN_CPU_ISA (or Set) chose a level below
// avx512, where no EVEX code runs.
func BF16() error { return bf16At(active, HasBF16) }

func bf16At(l Level, has bool) error {
	if !has {
		return fmt.Errorf("this CPU (%s) lacks AVX512_BF16 (VDPBF16PS), which bf16 needs", x86.CPUName)
	}
	if l < AVX512 {
		return fmt.Errorf("bf16 needs AVX512_BF16, which %s=%s turns off on this CPU (%s): unset %s or choose %s or above", EnvVar, l, x86.CPUName, EnvVar, AVX512)
	}
	return nil
}
