//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/nn"
)

// The cached sampler on the GPU (kernels/position.cu, kernels/sample.cu): the per-position
// conv kernel version 2, the device cursor, the draw on the device and CUDA graphs (graph.go).

var (
	_ nn.DeviceSampler = (*Backend)(nil)
	_ nn.MemoryInfo    = (*Backend)(nil)
)

// positionKernels are the kernels of this file; New requires them (initPosition).
var positionKernels = []string{
	"maskedconv_at_v2",
	"sample_categorical_v2", "sample_draw_v2", "sample_cursor_advance_v1",
}

const (
	atImgs      = 4         // images per thread of maskedconv_at_v2 (AT_IMGS)
	atMaxShared = 48 << 10  // dynamic shared memory without opting in to more
	drawWarps   = 4         // rows per block of the version 2 draws (DRAW_WARPS)
	warpSize    = 32        // threads per warp
	cursorWords = 1         // int32 words of a device cursor
	noCursor    = uint64(0) // the null cursor argument: the position is (i, j)
)

// positionState is the sampler's part of the Backend, set from the environment by New:
// PIXELCNN_CUDA_AT=1|2 (per-position kernel version, default 2; 1 is the baseline and also
// turns off the device draw), PIXELCNN_CUDA_DEVICE_DRAW=0 (sample on the host as before) and
// PIXELCNN_CUDA_GRAPHS=0 (plain launches instead of CUDA graphs, e.g. for profilers).
type positionState struct {
	atVersion  int
	deviceDraw bool
	graphs     bool
	// stream is where every launch goes: a stream the backend creates, so that it can be
	// captured into a CUDA graph (the legacy default stream cannot be). It is a blocking
	// stream, so it stays ordered with the host copies, which run on the legacy stream.
	stream cu.Stream
}

func envSwitch(name string, def bool) (bool, error) {
	switch v := os.Getenv(name); v {
	case "":
		return def, nil
	case "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("cuda: %s=%q: want 0 or 1", name, v)
	}
}

// initPosition reads the sampler's switches and creates the launch stream; the context must
// be current.
func (b *Backend) initPosition() error {
	for _, k := range positionKernels {
		if _, ok := b.fns[k]; !ok {
			return fmt.Errorf("cuda: kernel %s missing from the embedded PTX (stale kernels/ptx? run `make ptx`)", k)
		}
	}
	p := positionState{atVersion: 2}
	switch v := os.Getenv("PIXELCNN_CUDA_AT"); v {
	case "", "2":
	case "1":
		p.atVersion = 1
	default:
		return fmt.Errorf("cuda: PIXELCNN_CUDA_AT=%q: want 1 or 2", v)
	}
	var err error
	if p.deviceDraw, err = envSwitch("PIXELCNN_CUDA_DEVICE_DRAW", true); err != nil {
		return err
	}
	if p.graphs, err = envSwitch("PIXELCNN_CUDA_GRAPHS", true); err != nil {
		return err
	}
	if p.stream, err = cu.MakeStream(cu.DefaultStream); err != nil {
		return fmt.Errorf("cuda: %s: creating the launch stream: %w", b.name, err)
	}
	b.pos = p
	return nil
}

// closePosition destroys the launch stream; the context must be current.
func (b *Backend) closePosition() {
	if b.pos.stream != cu.NoStream {
		_ = b.pos.stream.Destroy()
	}
}

// SetAtVersion selects the per-position conv kernel: 2 (the default) or 1 (the baseline, one
// thread per output; version 1 also samples on the host, as before version 2 existed).
func (b *Backend) SetAtVersion(v int) error {
	if v != 1 && v != 2 {
		return fmt.Errorf("cuda: per-position kernel version %d: want 1 or 2", v)
	}
	b.mu.Lock()
	b.pos.atVersion = v
	b.mu.Unlock()
	return nil
}

// SetDeviceDraw turns the device draw (nn.DeviceSampler) on or off; off, the cached sampler
// draws on the host after each subpixel, as before.
func (b *Backend) SetDeviceDraw(on bool) {
	b.mu.Lock()
	b.pos.deviceDraw = on
	b.mu.Unlock()
}

// SetGraphs turns CUDA graphs on or off for Record; off, a replay launches the ops one by one.
func (b *Backend) SetGraphs(on bool) {
	b.mu.Lock()
	b.pos.graphs = on
	b.mu.Unlock()
}

// atQuads returns the image quads per block of maskedconv_at_v2 for kw live rows (2, or 1 when
// two do not fit the shared memory), or 0 when even one does not fit.
func atQuads(kw int) int {
	for q := 2; q >= 1; q-- {
		if q*atImgs*kw*4 <= atMaxShared {
			return q
		}
	}
	return 0
}

// atPlace is where maskedconv_at_v2 works (kernels/position.cu): at (i, j), or at the pixel of
// a cursor (device pointer, colours, image width), with the fused epilogue: the output also
// written into cache [N,cacheH,width,Out] at that pixel, and/or added to y (accumulate).
type atPlace struct {
	i, j          int
	cursor        uint64
	colors, width int
	cache         *nn.Tensor
	cacheH        int
	accumulate    bool
}

// launchAt runs the conv of c at (i, j), or at the cursor's pixel when cursor is not 0. The
// caller holds enter and has validated the shapes.
func (b *Backend) launchAt(c convCall, y, x, w, bias *nn.Tensor, i, j int, cursor uint64, cursorColors int) error {
	return b.launchAtPlace(c, y, x, w, bias, atPlace{i: i, j: j, cursor: cursor, colors: cursorColors, width: c.w})
}

func (b *Backend) launchAtPlace(c convCall, y, x, w, bias *nn.Tensor, p atPlace) error {
	args := append([]uint64{ptrOf(y), ptrOf(x), ptrOf(w), ptrOf(bias)}, c.geom()...)
	args = append(args, argInt(p.i), argInt(p.j))
	q := atQuads(c.kw)
	plain := p.cursor == noCursor && p.cache == nil && !p.accumulate
	if plain && (b.pos.atVersion == 1 || q == 0) {
		return b.launch("maskedconv_at_v1", grid1(c.n*c.spec.Out, 128), 128, args...)
	}
	if q == 0 {
		return fmt.Errorf("cuda: layer %q: %d live rows exceed the position kernel's shared memory", c.spec.Name, c.kw)
	}
	acc := 0
	if p.accumulate {
		acc = 1
	}
	args = append(args, p.cursor, argInt(p.colors), argInt(p.width), ptrOf(p.cache), argInt(p.cacheH), argInt(acc))
	grid := dim3{ceilDiv(c.spec.Out, warpSize), ceilDiv(c.n, q*atImgs), 1}
	if grid.y > 65535 {
		return fmt.Errorf("cuda: layer %q: %d images exceed the position kernel's grid", c.spec.Name, c.n)
	}
	return b.launchShared("maskedconv_at_v2", grid, q*warpSize, q*atImgs*c.kw*4, args...)
}

// atCall validates a MaskedConvAt-style call (y [N,1,1,Out]) and returns its geometry.
func atCall(spec nn.ConvSpec, y, x, w, bias *nn.Tensor) (convCall, error) {
	if err := nn.CheckConvAt(spec, y, x, w, bias, 0, 0); err != nil { // the cursor is on the device
		return convCall{}, fmt.Errorf("cuda: %w", err)
	}
	c, err := newConvCall(spec, x, w, bias, nil)
	if err != nil {
		return c, err
	}
	layer := fmt.Sprintf("cuda: layer %q", spec.Name)
	if _, err := buf(layer+": position output", y); err != nil {
		return c, err
	}
	return c, nil
}

// cursorBuf returns the cursor's device buffer, checking that it is this backend's and live.
func cursorBuf(op string, cur *nn.Cursor) (*devBuf, error) {
	if cur == nil {
		return nil, fmt.Errorf("%s: nil cursor", op)
	}
	d, ok := cur.Device.(*devBuf)
	if !ok || d == nil || d.released {
		return nil, fmt.Errorf("%s: cursor has no live CUDA storage", op)
	}
	return d, nil
}

// checkPixels checks that t is [N, cur.H, cur.W, F].
func checkPixels(what string, t *nn.Tensor, cur *nn.Cursor) error {
	if len(t.Shape) != 4 || t.Shape[1] != cur.H || t.Shape[2] != cur.W {
		return fmt.Errorf("%s: shape %v, want [N,%d,%d,F] (the cursor's images)", what, t.Shape, cur.H, cur.W)
	}
	return nil
}

// NewCursor allocates a device cursor at subpixel sub. With the device draw off (or the
// version 1 position kernel) it returns an error wrapping errors.ErrUnsupported.
func (b *Backend) NewCursor(h, w, c, sub int) (*nn.Cursor, error) {
	if h < 1 || w < 1 || c < 1 || sub < 0 || sub > h*w*c || h*w*c > maxElems {
		return nil, fmt.Errorf("cuda: cursor: subpixel %d of %dx%dx%d images", sub, h, w, c)
	}
	exit, err := b.enterOp("cuda: cursor")
	if err != nil {
		return nil, err
	}
	defer exit()
	if !b.pos.deviceDraw || b.pos.atVersion == 1 {
		return nil, fmt.Errorf("cuda: device draw switched off: %w", errors.ErrUnsupported)
	}
	d, err := b.allocBuf(cursorWords)
	if err != nil {
		return nil, fmt.Errorf("cuda: cursor: %w", err)
	}
	v := int32(sub)
	if err := cu.MemcpyHtoD(d.ptr, unsafe.Pointer(&v), 4); err != nil {
		b.freeBuf(d)
		return nil, fmt.Errorf("cuda: cursor: %w", err)
	}
	return &nn.Cursor{H: h, W: w, C: c, Device: d}, nil
}

// ReleaseCursor hands the cursor's buffer back to the pool.
func (b *Backend) ReleaseCursor(cur *nn.Cursor) {
	if cur == nil {
		return
	}
	if d, ok := cur.Device.(*devBuf); ok && d != nil {
		b.mu.Lock()
		b.freeBuf(d)
		b.mu.Unlock()
	}
	cur.Device = nil
}

// MaskedConvAtCursor is MaskedConvAt at the cursor's pixel of x [N,cur.H,cur.W,In].
func (b *Backend) MaskedConvAtCursor(spec nn.ConvSpec, y, x, w, bias *nn.Tensor, cur *nn.Cursor) error {
	c, err := atCall(spec, y, x, w, bias)
	if err != nil {
		return err
	}
	layer := fmt.Sprintf("cuda: layer %q", spec.Name)
	d, err := cursorBuf(layer, cur)
	if err != nil {
		return err
	}
	if err := checkPixels(layer+": input", x, cur); err != nil {
		return err
	}
	exit, err := b.enterOp(layer)
	if err != nil {
		return err
	}
	defer exit()
	if c.n == 0 {
		return nil
	}
	return b.launchAt(c, y, x, w, bias, 0, 0, argPtr(d.ptr), cur.C)
}

// VectorConvAtCursor is MaskedConvAt at (0, 0) of a vector x [N,1,1,In] with the next op fused
// in: cache (when not nil) [N,cur.H,cur.W,Out] gets the output at the cursor's pixel, and with
// accumulate y = y + output.
func (b *Backend) VectorConvAtCursor(spec nn.ConvSpec, y, x, w, bias *nn.Tensor, cur *nn.Cursor, cache *nn.Tensor, accumulate bool) error {
	c, err := atCall(spec, y, x, w, bias)
	if err != nil {
		return err
	}
	layer := fmt.Sprintf("cuda: layer %q", spec.Name)
	d, err := cursorBuf(layer, cur)
	if err != nil {
		return err
	}
	if err := nn.CheckShape(layer+": vector input", x.Shape, []int{c.n, 1, 1, spec.In}); err != nil {
		return err
	}
	if cache != nil {
		if _, err := buf(layer+": cache", cache); err != nil {
			return err
		}
		if err := nn.CheckShape(layer+": cache", cache.Shape, []int{c.n, cur.H, cur.W, spec.Out}); err != nil {
			return err
		}
	}
	exit, err := b.enterOp(layer)
	if err != nil {
		return err
	}
	defer exit()
	if c.n == 0 {
		return nil
	}
	return b.launchAtPlace(c, y, x, w, bias, atPlace{cursor: argPtr(d.ptr), colors: cur.C, width: cur.W,
		cache: cache, cacheH: cur.H, accumulate: accumulate})
}

// DrawAtCursor draws the cursor's subpixel of every image on the device, writes value/255
// into img there and advances the cursor (sample_draw_v2, then sample_cursor_advance_v1).
func (b *Backend) DrawAtCursor(img, logits *nn.Tensor, temperature float32, seed uint64, cur *nn.Cursor) error {
	const op = "cuda: draw at cursor"
	if err := nn.CheckTemperature(temperature); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	d, err := cursorBuf(op, cur)
	if err != nil {
		return err
	}
	if _, err := buf(op+": image", img); err != nil {
		return err
	}
	if err := nn.CheckShape(op+": image", img.Shape, []int{img.Shape[0], cur.H, cur.W, cur.C}); err != nil {
		return err
	}
	n := img.Shape[0]
	if _, err := buf(op+": logits", logits); err != nil {
		return err
	}
	if err := nn.CheckShape(op+": logits", logits.Shape, []int{n, 1, 1, 256 * cur.C}); err != nil {
		return err
	}
	exit, err := b.enterOp(op)
	if err != nil {
		return err
	}
	defer exit()
	if n == 0 {
		return nil
	}
	invT := 1 / float64(temperature)
	if err := b.launch("sample_draw_v2", grid1(n, drawWarps), drawWarps*warpSize, ptrOf(img), ptrOf(logits),
		argInt(n), argInt(cur.H*cur.W), argInt(cur.C), argF64(invT), seed, argPtr(d.ptr)); err != nil {
		return err
	}
	return b.launch("sample_cursor_advance_v1", dim3{1, 1, 1}, warpSize, argPtr(d.ptr))
}

// MemInfo returns the device memory free and in total (cuMemGetInfo), in bytes. Buffers the
// pool keeps for reuse count as used.
func (b *Backend) MemInfo() (free, total int64, err error) {
	exit, err := b.enter()
	if err != nil {
		return 0, 0, err
	}
	defer exit()
	if free, total, err = cu.MemInfo(); err != nil {
		return 0, 0, fmt.Errorf("cuda: memory info: %w", err)
	}
	return free, total, nil
}
