//go:build amd64 && !purego

package vec

// The gate kernels take n > 0, a multiple of 8.

//go:noescape
func gateAVX(y, a, gs *float32, n int)

//go:noescape
func gateGradAVX(da, dg, dy, a, gs *float32, n int)

// The AVX-512 kernels take n > 0, a multiple of 16.

//go:noescape
func gateAVX512(y, a, gs *float32, n int)

//go:noescape
func gateGradAVX512(da, dg, dy, a, gs *float32, n int)
