//go:build !amd64 || purego

package vec

// useAsm is false where no assembly exists; the stubs below are never called.
func useAsm() bool    { return false }
func useAVX512() bool { return false }

func addAVX(d, a, b *float32, n int)           { panic("vec: no assembly") }
func addToAVX(d, s *float32, n int)            { panic("vec: no assembly") }
func biasReLUAVX(row, bias *float32, n int)    { panic("vec: no assembly") }
func reluAVX(d, x *float32, n int)             { panic("vec: no assembly") }
func reluGradAddAVX(dx, dy, y *float32, n int) { panic("vec: no assembly") }
func reluMaskAVX(dz, dy, y *float32, n int)    { panic("vec: no assembly") }
func scaleAVX(d *float32, n int, s float32)    { panic("vec: no assembly") }
func expNegSumAVX(d, l *float32, n int, m float32) float64 {
	panic("vec: no assembly")
}
func columnSumsAVX(sums, m *float32, rows, cols, n int) { panic("vec: no assembly") }

func maxAVX(l *float32, n int) (float32, bool) { panic("vec: no assembly") }
