//go:build !amd64 || purego

package gemm

// useAsm is false where no assembly kernel exists.
func useAsm() bool { return false }

func sgemmAsm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
