//go:build amd64 && !purego

package vec

// gatherSumAVX is GatherSum's first n elements (n > 0, a multiple of 8; k >= 1 offsets;
// acc 1 to start from d).
//
//go:noescape
func gatherSumAVX(d, src *float32, offs *int, k, n, acc int)
