//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/nn"
)

// devBuf is what a CUDA tensor's Device field holds: a pool buffer of class bytes holding n
// float32 (or int32) values.
type devBuf struct {
	ptr      cu.DevicePtr
	class    int64
	n        int
	released bool
}

// maxElems bounds every tensor (4 GiB of float32): the kernels index with 32-bit ints, and
// a grid-stride index plus its stride must not overflow either.
const maxElems = 1 << 30

// buf returns t's device buffer, or an error naming what when t is not a live tensor of this
// backend or its storage does not match its shape.
func buf(what string, t *nn.Tensor) (*devBuf, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: nil tensor", what)
	}
	d, ok := t.Device.(*devBuf)
	switch {
	case !ok || d == nil:
		return nil, fmt.Errorf("%s: tensor %v has no CUDA storage (another backend's tensor, or its allocation failed)", what, t.Shape)
	case d.released:
		return nil, fmt.Errorf("%s: tensor %v used after Release", what, t.Shape)
	case d.n != t.Len():
		return nil, fmt.Errorf("%s: tensor shape %v has %d elements but its storage %d", what, t.Shape, t.Len(), d.n)
	}
	return d, nil
}

// ptrOf is the kernel argument for an optional tensor: its pointer, or 0 for nil.
func ptrOf(t *nn.Tensor) uint64 {
	if t == nil {
		return 0
	}
	return argPtr(t.Device.(*devBuf).ptr)
}

// allocBuf allocates n elements from the pool (no storage for n == 0). Caller holds enter.
func (b *Backend) allocBuf(n int) (*devBuf, error) {
	if n < 0 || n > maxElems {
		return nil, fmt.Errorf("cuda: %d elements: the kernels index with 32-bit ints (max %d)", n, maxElems)
	}
	if n == 0 {
		return &devBuf{}, nil
	}
	ptr, class, err := b.pool.alloc(int64(n) * 4)
	if err != nil {
		return nil, err
	}
	return &devBuf{ptr: ptr, class: class, n: n}, nil
}

// allocLastingBuf is allocBuf for a buffer kept across steps (Pool.allocLasting).
func (b *Backend) allocLastingBuf(n int) (*devBuf, error) {
	if n <= 0 || n > maxElems {
		return b.allocBuf(n)
	}
	ptr, class, err := b.pool.allocLasting(int64(n) * 4)
	if err != nil {
		return nil, err
	}
	return &devBuf{ptr: ptr, class: class, n: n}, nil
}

// freeBuf hands d back to the pool; while a graph is being captured, to the graph instead
// (the graph's kernels keep using it at every replay). Caller holds b.mu.
func (b *Backend) freeBuf(d *devBuf) {
	if d == nil || d.released {
		return
	}
	d.released = true
	if d.class == 0 {
		return
	}
	if b.capturing {
		b.held = append(b.held, d)
		return
	}
	b.pool.put(d.ptr, d.class)
}

// newTensor allocates a tensor without clearing it. Caller holds enter.
func (b *Backend) newTensor(shape []int) (*nn.Tensor, error) {
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("cuda: negative dimension in shape %v", shape)
		}
	}
	n := nn.ShapeLen(shape)
	d, err := b.allocBuf(n)
	if err != nil {
		return nil, fmt.Errorf("cuda: tensor %v: %w", shape, err)
	}
	return &nn.Tensor{Shape: append([]int(nil), shape...), Device: d}, nil
}

// New returns a zero-filled tensor. It cannot return an error: on failure (out of memory) the
// tensor has no storage, and the error is returned by the next op that has an error result
// and by any op given this tensor.
func (b *Backend) New(shape ...int) *nn.Tensor {
	exit, err := b.enter()
	if err != nil {
		return &nn.Tensor{Shape: append([]int(nil), shape...)}
	}
	defer exit()
	t, err := b.newTensor(shape)
	if err != nil {
		b.keepErr(err)
		return &nn.Tensor{Shape: append([]int(nil), shape...)}
	}
	b.keepErr(b.memset(t.Device.(*devBuf)))
	return t
}

func (b *Backend) memset(d *devBuf) error {
	if d.n == 0 {
		return nil
	}
	// On the launch stream (not the legacy one, which a graph capture cannot contain), in
	// order with the kernels around it.
	if err := cu.MemsetD32Async(d.ptr, 0, int64(d.n), b.pos.stream); err != nil {
		return fmt.Errorf("cuda: clearing %d elements: %w", d.n, err)
	}
	return nil
}

func (b *Backend) FromHost(data []float32, shape ...int) (*nn.Tensor, error) {
	if len(data) != nn.ShapeLen(shape) {
		return nil, fmt.Errorf("cuda: FromHost: %d values for shape %v", len(data), shape)
	}
	exit, err := b.enterOp("cuda: FromHost")
	if err != nil {
		return nil, err
	}
	defer exit()
	t, err := b.newTensor(shape)
	if err != nil {
		return nil, err
	}
	if len(data) > 0 {
		d := t.Device.(*devBuf)
		if err := cu.MemcpyHtoD(d.ptr, unsafe.Pointer(&data[0]), int64(len(data))*4); err != nil {
			b.freeBuf(d)
			return nil, fmt.Errorf("cuda: FromHost %v: copy to device: %w", shape, err)
		}
	}
	return t, nil
}

func (b *Backend) ToHost(dst []float32, t *nn.Tensor) error {
	d, err := buf("cuda: ToHost", t)
	if err != nil {
		return err
	}
	if len(dst) != d.n {
		return fmt.Errorf("cuda: ToHost: destination has %d values, tensor %v has %d", len(dst), t.Shape, d.n)
	}
	exit, err := b.enterOp("cuda: ToHost")
	if err != nil {
		return err
	}
	defer exit()
	if d.n == 0 {
		return nil
	}
	// cuMemcpyDtoH waits for the queued kernels, so an asynchronous kernel failure shows here.
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), d.ptr, int64(d.n)*4); err != nil {
		return fmt.Errorf("cuda: ToHost %v: copy from device (or an earlier kernel failed; rerun with PIXELCNN_CUDA_DEBUG=1): %w", t.Shape, err)
	}
	return nil
}

// Release hands t's buffer back to the pool (not to the driver). Releasing a nil tensor, a
// tensor without storage, or one already released does nothing.
func (b *Backend) Release(t *nn.Tensor) {
	if t == nil {
		return
	}
	d, ok := t.Device.(*devBuf)
	if !ok || d == nil {
		return
	}
	b.mu.Lock()
	b.freeBuf(d)
	b.mu.Unlock()
	t.Device = nil
}

func (b *Backend) Zero(t *nn.Tensor) {
	if t == nil { // nn.Backend: Zero(nil) does nothing
		return
	}
	d, err := buf("cuda: Zero", t)
	exit, eerr := b.enter()
	if eerr != nil {
		return
	}
	defer exit()
	if err != nil {
		b.keepErr(err)
		return
	}
	b.keepErr(b.memset(d))
}

func (b *Backend) Copy(dst, src *nn.Tensor) error {
	if err := nn.CheckCopy(dst, src); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	dd, err := buf("cuda: Copy: dst", dst)
	if err != nil {
		return err
	}
	sd, err := buf("cuda: Copy: src", src)
	if err != nil {
		return err
	}
	if dd.n != sd.n {
		return fmt.Errorf("cuda: Copy: %v into %v", src.Shape, dst.Shape)
	}
	exit, err := b.enterOp("cuda: Copy")
	if err != nil {
		return err
	}
	defer exit()
	if dd.n == 0 || dd.ptr == sd.ptr {
		return nil
	}
	if err := cu.MemcpyDtoDAsync(dd.ptr, sd.ptr, int64(dd.n)*4, b.pos.stream); err != nil { // as memset
		return fmt.Errorf("cuda: Copy %v: %w", src.Shape, err)
	}
	return nil
}
