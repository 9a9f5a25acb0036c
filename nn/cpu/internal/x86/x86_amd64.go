//go:build amd64 && !purego

package x86

import (
	"encoding/binary"
	"strings"
)

// HasAVX2FMA reports whether the CPU and the OS support AVX2 and FMA3 (YMM state enabled).
var HasAVX2FMA = detectAVX2FMA()

// HasAVX512F reports whether the CPU has AVX-512 Foundation and the OS saves the opmask and
// all 32 ZMM registers (XCR0 bits 5-7), so EVEX code may run.
var HasAVX512F = HasAVX2FMA && detectAVX512F()

// HasAVX512BF16 reports AVX512_BF16 (VDPBF16PS, VCVTNE2PS2BF16) on top of HasAVX512F.
var HasAVX512BF16 = HasAVX512F && detectAVX512BF16()

// HasAMXBF16 reports whether the CPU has AMX tiles with BF16 and the OS supports tile state
// (XCR0 bits 17-18). Linux still grants tile data per process on request
// (arch_prctl(ARCH_REQ_XCOMP_PERM)); that is not asked here.
var HasAMXBF16 = HasAVX512F && detectAMXBF16()

// CPUName is the processor brand string from CPUID (e.g. "Intel(R) Xeon(R) Processor"), for
// messages that name the CPU.
var CPUName = brandString()

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

func detectAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 { // XMM and YMM state enabled by the OS
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0 // AVX2
}

// detectAVX512F assumes detectAVX2FMA held (CPUID leaf 7 exists, OSXSAVE set).
func detectAVX512F() bool {
	const zmmState = 0xe0 // opmask, ZMM0-15 upper halves, ZMM16-31
	if xcr0, _ := xgetbv(); xcr0&zmmState != zmmState {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<16) != 0 // AVX512F
}

func detectAVX512BF16() bool {
	eax71, _, _, _ := cpuid(7, 1)
	return eax71&(1<<5) != 0
}

func detectAMXBF16() bool {
	const tileState = 3 << 17 // XTILECFG, XTILEDATA
	if xcr0, _ := xgetbv(); xcr0&tileState != tileState {
		return false
	}
	_, _, _, edx7 := cpuid(7, 0)
	const amxBF16, amxTile = 1 << 22, 1 << 24
	return edx7&(amxBF16|amxTile) == amxBF16|amxTile
}

func brandString() string {
	if maxExt, _, _, _ := cpuid(0x80000000, 0); maxExt < 0x80000004 {
		return "unknown x86-64 CPU"
	}
	var b [48]byte
	for i := uint32(0); i < 3; i++ {
		a, bx, c, d := cpuid(0x80000002+i, 0)
		for j, v := range [4]uint32{a, bx, c, d} {
			binary.LittleEndian.PutUint32(b[16*i+4*uint32(j):], v)
		}
	}
	return strings.TrimSpace(strings.TrimRight(string(b[:]), "\x00"))
}
