// Package x86 detects the instruction sets the hand-written amd64 kernels of nn/cpu/gemm and
// nn/cpu/vec need. On other architectures, and with -tags purego, HasAVX2FMA is false.
package x86
