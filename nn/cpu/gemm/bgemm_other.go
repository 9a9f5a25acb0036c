//go:build !amd64 || purego

package gemm

import (
	"fmt"

	"pixelcnn/nn/cpu/isa"
)

// bgemmAsm is never reached here: isa.BF16() is an error off amd64 and with -tags purego.
func bgemmAsm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic(fmt.Sprintf("gemm: no bf16 kernel in this build (%v)", isa.BF16()))
}
