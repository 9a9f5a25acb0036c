//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/nn"
)

// softmax_xent_v1 launch: 8 warps per block, one warp per subpixel, at most xentMaxBlocks
// blocks striding over the subpixels. The grid depends on the subpixel count only, so the
// partial sums, added here in block order, are the same on every run.
const (
	xentBlock     = 256
	xentMaxBlocks = 1024
)

func (b *Backend) SoftmaxXent(logits, x, dlogits *nn.Tensor, scale float32) (float64, error) {
	exit, err := b.enterOp("cuda: softmax xent")
	if err != nil {
		return 0, err
	}
	defer exit()
	partial, blocks, err := b.xentPartials(logits, x, dlogits, scale)
	if err != nil || blocks == 0 {
		return 0, err
	}
	defer b.freeBuf(partial)
	return sumPartials("cuda: softmax xent", partial, blocks)
}

// sumPartials reads n float64 partial sums back and adds them in order from 0 (what
// step_loss_v1 and step_clip_v1 do on the device for a recorded step).
func sumPartials(what string, partial *devBuf, n int) (float64, error) {
	host := make([]float64, n)
	if err := cu.MemcpyDtoH(unsafe.Pointer(&host[0]), partial.ptr, int64(n)*8); err != nil {
		return 0, fmt.Errorf("%s: reading partials: %w", what, err)
	}
	var total float64
	for _, v := range host {
		total += v
	}
	return total, nil
}

// xentPartials checks the arguments and queues softmax_xent_v1, which writes one float64
// partial sum of the NLL per block into the returned buffer (blocks of them; the caller frees
// it) and, when dlogits is not nil, the gradient. No subpixels: no buffer and 0 blocks.
// Caller holds enter.
func (b *Backend) xentPartials(logits, x, dlogits *nn.Tensor, scale float32) (*devBuf, int, error) {
	if _, err := buf("cuda: softmax xent: image", x); err != nil {
		return nil, 0, err
	}
	xs := x.Shape
	if len(xs) != 4 {
		return nil, 0, fmt.Errorf("cuda: softmax xent: image shape %v, want [N,H,W,C]", xs)
	}
	want := []int{xs[0], xs[1], xs[2], xs[3] * 256}
	if _, err := buf("cuda: softmax xent: logits", logits); err != nil {
		return nil, 0, err
	}
	if err := nn.CheckShape("cuda: softmax xent: logits", logits.Shape, want); err != nil {
		return nil, 0, err
	}
	if dlogits != nil {
		if _, err := buf("cuda: softmax xent: dlogits", dlogits); err != nil {
			return nil, 0, err
		}
		if err := nn.CheckShape("cuda: softmax xent: dlogits", dlogits.Shape, want); err != nil {
			return nil, 0, err
		}
	}
	subpixels := x.Len()
	if subpixels == 0 {
		return nil, 0, nil
	}
	blocks := min(ceilDiv(subpixels, xentBlock/32), xentMaxBlocks)
	partial, err := b.allocBuf(blocks * 2) // float64s
	if err != nil {
		return nil, 0, fmt.Errorf("cuda: softmax xent: %w", err)
	}
	if err := b.launch("softmax_xent_v1", dim3{blocks, 1, 1}, xentBlock,
		argPtr(partial.ptr), ptrOf(dlogits), ptrOf(logits), ptrOf(x), argInt(subpixels), argF32(scale)); err != nil {
		b.freeBuf(partial)
		return nil, 0, err
	}
	return partial, blocks, nil
}

// SampleCategorical draws one value per row with sample_categorical_v2 (one warp per row;
// sample_categorical_v1, one thread per row, with SetAtVersion(1)): the same draws.
func (b *Backend) SampleCategorical(out []int32, logits *nn.Tensor, offset int, temperature float32, seed, counter uint64) error {
	if err := nn.CheckSample(out, logits, offset, temperature); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	rows := len(out)
	if rows == 0 {
		return nil
	}
	d, err := buf("cuda: sample: logits", logits)
	if err != nil {
		return err
	}
	if d.n%rows != 0 {
		return fmt.Errorf("cuda: sample: %d logits do not split into %d rows", d.n, rows)
	}
	rowLen := d.n / rows
	if offset < 0 || offset+256 > rowLen {
		return fmt.Errorf("cuda: sample: offset %d outside a row of %d logits", offset, rowLen)
	}
	exit, err := b.enterOp("cuda: sample")
	if err != nil {
		return err
	}
	defer exit()
	res, err := b.allocBuf(rows)
	if err != nil {
		return fmt.Errorf("cuda: sample: %w", err)
	}
	defer b.freeBuf(res)
	invT := 1 / float64(temperature)
	args := []uint64{argPtr(res.ptr), argPtr(d.ptr), argInt(rows), argInt(rowLen), argInt(offset), argF64(invT), seed, counter}
	if b.pos.atVersion == 1 { // the baseline sampler, one thread per row
		err = b.launch("sample_categorical_v1", grid1(rows, 128), 128, args...)
	} else { // the same draws, one warp per row (position.go)
		err = b.launch("sample_categorical_v2", grid1(rows, drawWarps), drawWarps*warpSize, args...)
	}
	if err != nil {
		return err
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&out[0]), res.ptr, int64(rows)*4); err != nil {
		return fmt.Errorf("cuda: sample: reading draws: %w", err)
	}
	return nil
}
