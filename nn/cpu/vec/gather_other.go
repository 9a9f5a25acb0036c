//go:build !amd64 || purego

package vec

func gatherSumAVX(d, src *float32, offs *int, k, n, acc int) { panic("vec: no assembly") }
