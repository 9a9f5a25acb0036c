//go:build !amd64 || purego

package vec

func gateAVX(y, a, gs *float32, n int)                 { panic("vec: no assembly") }
func gateGradAVX(da, dg, dy, a, gs *float32, n int)    { panic("vec: no assembly") }
func gateAVX512(y, a, gs *float32, n int)              { panic("vec: no assembly") }
func gateGradAVX512(da, dg, dy, a, gs *float32, n int) { panic("vec: no assembly") }
