package gemm

import "syscall"

// threadCPUSeconds returns the CPU time consumed by the calling OS thread, so
// benchmarks can report a rate that is insensitive to other load on the machine.
func threadCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
