package cpu

import (
	"fmt"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu/gemm"
)

// The cached sampler's ops. One step of cached generation evaluates each layer at a single
// position of N images: an [N, kLive] x [kLive, Out] GEMM with only N (often 16) rows. That
// is far too little work to split by rows, and the per-call overhead matters, so the work is
// done on the caller's goroutine unless the product is big enough to pay for splitting the
// output columns over the workers.

// positionParallelMACs is the multiply-add count above which MaskedConvAt splits its output
// columns over the workers. Waking a goroutine costs several microseconds, about as long as
// 10^5 MACs of this small-row GEMM, so only the wide layers (the cifar10 head) are split.
const positionParallelMACs = 1 << 18

// newPositionShape validates a MaskedConvAt call (nn.CheckConvAt) and returns its geometry.
func newPositionShape(spec nn.ConvSpec, y, x, w, bias *nn.Tensor, i, j int) (convShape, error) {
	if err := nn.CheckConvAt(spec, y, x, w, bias, i, j); err != nil {
		return convShape{}, err
	}
	return newConvShape(spec, x, 1), nil // one position per image: no chunks
}

// MaskedConvAt implements nn.Backend. It runs exactly MaskedConv's GEMMs (gemmCols, same
// operand layout, same inner dimensions) on the im2col rows of position (i, j) of every
// image, so each output is summed the same way and the values are MaskedConv's bit for bit
// (the cached sampler relies on this to draw exactly SampleNaive's images). A 1x1 conv needs
// no im2col: its N input rows are only gathered.
//
// (With so few rows the GEMM reads the weights in place rather than packing them. Computing
// the transpose, W^T a^T, would block the inner dimension differently for a transposed A, so
// the sums would differ in the last bits and a draw could flip at a CDF boundary.)
func (b *Backend) MaskedConvAt(spec nn.ConvSpec, y, x, w, bias *nn.Tensor, i, j int) error {
	s, err := newPositionShape(spec, y, x, w, bias, i, j)
	if err != nil {
		return err
	}
	in, out := spec.In, spec.Out
	pos := i*s.w + j // position of (i, j) inside one image
	var col []float32
	var lda int
	if s.direct() {
		// A 1x1 conv's rows are x's, one per image, H*W*In apart: often a multiple of 4 KiB
		// (28*28*64 floats), so read in place they would all fall in one L1 set and evict
		// each other at every k step. Gathered, they are one contiguous block.
		col, _ = b.take(s.n * in)
		for n := 0; n < s.n; n++ {
			copy(col[n*in:(n+1)*in], x.Host[(n*s.h*s.w+pos)*in:])
		}
		lda = in
	} else {
		col, _ = b.take(s.n * s.kLive) // im2col writes every element
		for n := 0; n < s.n; n++ {
			s.im2col(col[n*s.kLive:], x.Host, n*s.h*s.w+pos, 1)
		}
		lda = s.kLive
	}
	a := col
	macs := s.n * out * s.kLive
	// Column chunks: a multiple of 16 (the GEMM's register tile width), one per worker.
	chunks := min(b.workers, out/64)
	if macs < positionParallelMACs || chunks <= 1 {
		s.gemmCols(gemm.Sgemm, s.n, a, lda, w.Host, bias.Host, y.Host, 0, out)
	} else {
		step := (out/chunks + 15) / 16 * 16
		b.parallel(chunks, func(_, c int) {
			o0, o1 := c*step, min(out, (c+1)*step)
			if c == chunks-1 {
				o1 = out
			}
			if o0 < o1 {
				s.gemmCols(gemm.Sgemm, s.n, a, lda, w.Host, bias.Host, y.Host, o0, o1)
			}
		})
	}
	b.putBuffer(col)
	return nil
}

// SetPosition implements nn.Backend.
func (b *Backend) SetPosition(dst, src *nn.Tensor, i, j int) error {
	ds := dst.Shape
	if len(ds) != 4 {
		return fmt.Errorf("cpu: SetPosition: destination shape %v, want [N,H,W,F]", ds)
	}
	n, h, w, f := ds[0], ds[1], ds[2], ds[3]
	if ss := [4]int{n, 1, 1, f}; !nn.SameShape(src.Shape, ss[:]) {
		return nn.CheckShape("cpu: SetPosition: source", src.Shape, ss[:])
	}
	if i < 0 || i >= h || j < 0 || j >= w {
		return fmt.Errorf("cpu: SetPosition: position (%d,%d) outside a %dx%d image", i, j, h, w)
	}
	for q := 0; q < n; q++ {
		off := ((q*h+i)*w + j) * f
		copy(dst.Host[off:off+f], src.Host[q*f:(q+1)*f])
	}
	return nil
}
