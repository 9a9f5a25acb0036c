// Package nn holds what every backend shares: the Tensor type, the Backend interface at the
// granularity a GPU fuses, PixelCNN masks, the autograd tape and the optimizers. It knows no
// backend: nn/cpu and cuda implement Backend, and nn/backendtest checks them.
package nn

import "fmt"

// Levels is the number of values of an 8-bit subpixel: each subpixel's logits are Levels
// contiguous floats, and a sample draws one of Levels values.
const Levels = 256

// Tensor is a dense float32 array with a shape, stored by one backend.
//
// Activations are NHWC ([N, H, W, C], channels innermost). Why NHWC: every PixelCNN layer
// but the first is a 1x1 or 3x3 convolution, and in NHWC a 1x1 convolution over all
// positions is exactly one [N*H*W, In] x [In, Out] GEMM with no reshuffling, a k x k tap is
// the same GEMM on shifted rows, and the GPU's tensor-core paths want the reduction (channel)
// dimension contiguous. The 256-way logits of a subpixel are then 256 contiguous floats.
//
// Host is the storage of host-resident tensors (the CPU backend). Device is an opaque handle
// owned by a GPU backend; nn never looks inside it.
type Tensor struct {
	Shape  []int
	Host   []float32
	Device any
}

// Len is the number of elements.
func (t *Tensor) Len() int { return ShapeLen(t.Shape) }

// ShapeLen is the product of the dimensions.
func ShapeLen(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// CheckShape returns an error naming what when got differs from want.
func CheckShape(what string, got, want []int) error {
	if !SameShape(got, want) {
		return fmt.Errorf("%s: shape %v, want %v", what, got, want)
	}
	return nil
}
