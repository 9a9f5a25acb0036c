// Package x86 detects the instruction sets the hand-written amd64 kernels of nn/cpu/gemm and
// nn/cpu/vec can use (CPUID for the CPU, XGETBV for the register state the OS saves). On other
// architectures, and with -tags purego, every Has* is false.
package x86
