//go:build !amd64 || purego

package x86

import "runtime"

// Off amd64, and with -tags purego, no x86 kernel is used.
const (
	HasAVX2FMA    = false
	HasAVX512F    = false
	HasAVX512BF16 = false
	HasAMXBF16    = false
)

// CPUName names the platform when there is no CPUID to ask.
var CPUName = runtime.GOARCH + " CPU"
