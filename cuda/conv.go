//go:build cuda

package cuda

import (
	"fmt"

	"pixelcnn/nn"
)

// Tile sizes of the version 2 conv kernels (kernels/maskedconv.cu: TILE_M, TILE_N, TILE_K).
const (
	tileM       = 64
	tileN       = 64
	tileK       = 16
	tileThreads = 256
	// dW version 2 splits the N*H*W reduction into slices so that the grid has about
	// dwTargetBlocks blocks (PIXELCNN_CUDA_DW_BLOCKS overrides it, for tuning: more blocks
	// fill the GPU, fewer write and re-read fewer partial sums), with at least dwMinSlice
	// positions per slice and at most dwMaxPartialBytes of partial sums. The split depends on
	// the shapes only, so the summation order (and the result) is the same on every run.
	dwTargetBlocks    = 1024
	dwMinSlice        = 256
	dwMaxPartialBytes = 256 << 20
	// dB version 2 sums slices of biasSlice positions. Version 3 cuts the positions into
	// about biasThreads3 / out slices (at most biasMaxSlices3, each at least biasSlice3
	// long), so that pass 1 has about biasThreads3 threads whatever the layer's width.
	biasSlice      = 256
	biasThreads3   = 1 << 16
	biasSlice3     = 16
	biasMaxSlices3 = 1024

	// Tile sizes of the version 3 (TF32 tensor-core) conv kernels (kernels/maskedconv.cu:
	// V3_BM, V3_BN, V3_THREADS; their K chunk V3_BK equals tileK). dW version 3 picks its
	// slices as version 2 does, for its own tiles.
	tile3M       = 128
	tile3N       = 64
	tile3Threads = 128
	// sm80 is the first compute capability with TF32 mma.sync (Ampere).
	tf32MinMajor = 8
)

// convCall holds the validated geometry of one conv call.
type convCall struct {
	spec    nn.ConvSpec
	n, h, w int
	m       int // positions N*H*W
	kw      int // rows of the live weight matrix: (Taps + centre)*In (kernels' conv_kw)
	region  int // the kernels' tap-region code (kernels/common.cuh REGION_*)
}

// regionCodes maps each nn.Region the kernels implement to its code in kernels/common.cuh
// (REGION_CAUSAL ... REGION_FULL). A region missing here has no kernel: newConvCall refuses it.
var regionCodes = map[nn.Region]int{nn.Causal: 0, nn.Row: 1, nn.Above: 2, nn.AboveAndRow: 3, nn.Full: 4}

// geom is the CONV_PARAMS argument list: n, h, w, in, out, k, colors, mask_b, relu, region,
// dil.
func (c convCall) geom() []uint64 {
	maskB, relu := 0, 0
	if c.spec.Mode == nn.MaskB {
		maskB = 1
	}
	if c.spec.ReLU {
		relu = 1
	}
	s := c.spec
	return []uint64{argInt(c.n), argInt(c.h), argInt(c.w), argInt(s.In), argInt(s.Out), argInt(s.K),
		argInt(s.Colors), argInt(maskB), argInt(relu), argInt(c.region), argInt(s.Dil())}
}

// newConvCall returns the geometry of a conv call whose shapes nn.CheckConv (or
// CheckConvBackward, CheckConvAt) has validated. It checks what nn cannot: that x and each
// non-nil other tensor is this backend's live buffer, and the device's size limits.
func newConvCall(spec nn.ConvSpec, x, w, b, y *nn.Tensor, outs ...*nn.Tensor) (convCall, error) {
	layer := fmt.Sprintf("cuda: layer %q", spec.Name)
	// Every kernel (versions 1-3, the per-position ones) walks the live taps by index through
	// the region's tap offsets (kernels/common.cuh tap_offset, nn.ConvSpec.TapOffset), so
	// every region in regionCodes runs on every version, at any dilation.
	region, ok := regionCodes[spec.Region]
	if !ok {
		return convCall{}, fmt.Errorf("%s: the %v tap set has no CUDA kernel (run this architecture with --device cpu)", layer, spec.Region)
	}
	if _, err := buf(layer+": input", x); err != nil {
		return convCall{}, err
	}
	xs := x.Shape
	c := convCall{spec: spec, n: xs[0], h: xs[1], w: xs[2], kw: spec.Taps()*spec.In + spec.CentreWidth(), region: region}
	c.m = c.n * c.h * c.w
	check := func(what string, t *nn.Tensor) error {
		if t == nil {
			return nil
		}
		_, err := buf(layer+": "+what, t)
		return err
	}
	if err := check("weight", w); err != nil {
		return c, err
	}
	if err := check("bias", b); err != nil {
		return c, err
	}
	if err := check("output", y); err != nil {
		return c, err
	}
	for _, o := range outs {
		if err := check("gradient", o); err != nil {
			return c, err
		}
	}
	if c.m*max(spec.In, spec.Out) > maxElems || spec.KH()*spec.K*spec.In*spec.Out > maxElems {
		return c, fmt.Errorf("%s: too large for 32-bit indexing", layer)
	}
	if spec.K*spec.Dil() > 1<<16 { // a tap's offset times the row length must fit 32 bits
		return c, fmt.Errorf("%s: dilation %d too large for the kernels' 32-bit offsets", layer, spec.Dil())
	}
	if ceilDiv(spec.Out, tileN) > 65535 || ceilDiv(spec.In, tileN) > 65535 {
		return c, fmt.Errorf("%s: %d/%d features exceed the launch grid", layer, spec.In, spec.Out)
	}
	return c, nil
}

// MaskedConv computes y = act(conv(x, w) + b).
func (b *Backend) MaskedConv(spec nn.ConvSpec, y, x, w, bias *nn.Tensor) error {
	if err := nn.CheckConv(spec, y, x, w, bias); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return b.maskedConv(spec, y, x, w, bias, nil, nil)
}

// MaskedConvResidual is MaskedConv that also writes sum = res + y in its epilogue
// (nn.ResidualConv): a residual block's last conv and its add in one pass, the values of
// MaskedConv then Add bit for bit.
func (b *Backend) MaskedConvResidual(spec nn.ConvSpec, y, sum, x, w, bias, res *nn.Tensor) error {
	if err := nn.CheckConvResidual(spec, y, sum, x, w, bias, res); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return b.maskedConv(spec, y, x, w, bias, res, sum)
}

var _ nn.ResidualConv = (*Backend)(nil)

// maskedConv launches the forward kernel of the selected version; with sum not nil the
// epilogue also writes sum = res + y.
func (b *Backend) maskedConv(spec nn.ConvSpec, y, x, w, bias, res, sum *nn.Tensor) error {
	c, err := newConvCall(spec, x, w, bias, y)
	if err != nil {
		return err
	}
	if sum != nil {
		if _, err := buf(fmt.Sprintf("cuda: layer %q: residual input", spec.Name), res); err != nil {
			return err
		}
		if _, err := buf(fmt.Sprintf("cuda: layer %q: residual sum", spec.Name), sum); err != nil {
			return err
		}
	}
	exit, err := b.enterOp(fmt.Sprintf("cuda: layer %q", spec.Name))
	if err != nil {
		return err
	}
	defer exit()
	if c.m == 0 {
		return nil
	}
	args := append([]uint64{ptrOf(y), ptrOf(x), ptrOf(w), ptrOf(bias)}, c.geom()...)
	residual := []uint64{ptrOf(res), ptrOf(sum)}
	switch b.version {
	case 1:
		return b.launch("maskedconv_forward_v1", grid1(c.m*spec.Out, 256), 256, append(args, residual...)...)
	case 3:
		args = append(args, vec16(y, x, w, bias, res, sum))
		return b.launch("maskedconv_forward_v3", dim3{ceilDiv(c.m, tile3M), ceilDiv(spec.Out, tile3N), 1}, tile3Threads, append(args, residual...)...)
	}
	return b.launch("maskedconv_forward_v2", dim3{ceilDiv(c.m, tileM), ceilDiv(spec.Out, tileN), 1}, tileThreads, append(args, residual...)...)
}

// MaskedConvBackward accumulates dx, dw (live entries only) and db; any may be nil. The fused
// ReLU's mask (y > 0) is applied inside each kernel (version 3: once, into dz).
func (b *Backend) MaskedConvBackward(spec nn.ConvSpec, dx, dw, db, dy, x, w, y *nn.Tensor) error {
	return b.maskedConvBackward(spec, dx, dw, db, dy, x, w, y, 1)
}

// MaskedConvBackwardFresh is MaskedConvBackward with dx written, not accumulated into
// (nn.FreshGradConv): the dX kernels add their sums to 0 instead of reading dx, so a fresh
// gradient needs no clearing launch and no read.
func (b *Backend) MaskedConvBackwardFresh(spec nn.ConvSpec, dx, dw, db, dy, x, w, y *nn.Tensor) error {
	return b.maskedConvBackward(spec, dx, dw, db, dy, x, w, y, 0)
}

var _ nn.FreshGradConv = (*Backend)(nil)

// maskedConvBackward is MaskedConvBackward; accumulate 0 writes dx (0 + the sum).
func (b *Backend) maskedConvBackward(spec nn.ConvSpec, dx, dw, db, dy, x, w, y *nn.Tensor, accumulate int) error {
	if err := nn.CheckConvBackward(spec, dx, dw, db, dy, x, w, y); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	c, err := newConvCall(spec, x, w, db, y, dy)
	if err != nil {
		return err
	}
	layer := fmt.Sprintf("cuda: layer %q", spec.Name)
	if dx != nil {
		if _, err := buf(layer+": dx", dx); err != nil {
			return err
		}
	}
	if dw != nil {
		if _, err := buf(layer+": dw", dw); err != nil {
			return err
		}
	}
	op := layer
	if dx != nil && accumulate == 0 {
		op += " fresh dx" // the profile's cost model: dx is written, not read (cmd/bench)
	}
	exit, err := b.enterOp(op)
	if err != nil {
		return err
	}
	defer exit()
	if c.m == 0 {
		return nil
	}
	if b.version == 3 && (dx != nil || dw != nil) {
		return b.convBackwardV3(c, dx, dw, db, dy, x, w, y, accumulate)
	}
	if dx != nil {
		if err := b.convDX(c, dx, dy, y, w, accumulate); err != nil {
			return err
		}
	}
	if dw != nil {
		if err := b.convDW(c, dw, dy, y, x); err != nil {
			return err
		}
	}
	if db != nil {
		if err := b.convDB(c, db, dy, y); err != nil {
			return err
		}
	}
	return nil
}

func (b *Backend) convDX(c convCall, dx, dy, y, w *nn.Tensor, accumulate int) error {
	args := append([]uint64{ptrOf(dx), ptrOf(dy), ptrOf(y), ptrOf(w)}, c.geom()...)
	args = append(args, argInt(accumulate))
	if b.version == 1 {
		return b.launch("maskedconv_backward_dx_v1", grid1(c.m*c.spec.In, 256), 256, args...)
	}
	return b.launch("maskedconv_backward_dx_v2", dim3{ceilDiv(c.m, tileM), ceilDiv(c.spec.In, tileN), 1}, tileThreads, args...)
}

// dwSlices picks the dW reduction split for tiles of tm x tn (kk, o) entries: the slice
// length is a multiple of tileK (both versions' K chunk) and the number of slices is ceil(m / sliceLen).
func (c convCall) dwSlices(tm, tn, targetBlocks int) (slices, sliceLen int) {
	tiles := ceilDiv(c.kw, tm) * ceilDiv(c.spec.Out, tn)
	slices = max(1, min(ceilDiv(targetBlocks, tiles), c.m/dwMinSlice))
	perSlice := int64(c.kw) * int64(c.spec.Out) * 4
	slices = max(1, min(slices, int(dwMaxPartialBytes/perSlice), 65535))
	sliceLen = ceilDiv(ceilDiv(c.m, slices), tileK) * tileK
	return ceilDiv(c.m, sliceLen), sliceLen
}

func (b *Backend) convDW(c convCall, dw, dy, y, x *nn.Tensor) error {
	geom := c.geom()
	if b.version == 1 {
		args := append([]uint64{ptrOf(dw), ptrOf(dy), ptrOf(y), ptrOf(x)}, geom...)
		return b.launch("maskedconv_backward_dw_v1", grid1(c.kw*c.spec.Out, 256), 256, args...)
	}
	slices, sliceLen := c.dwSlices(tileM, tileN, b.dwBlocks)
	if int64(slices)*int64(c.kw)*int64(c.spec.Out) > maxElems {
		return fmt.Errorf("cuda: layer %q: dW partials too large", c.spec.Name)
	}
	partial, err := b.allocBuf(slices * c.kw * c.spec.Out)
	if err != nil {
		return fmt.Errorf("cuda: layer %q: dW partials: %w", c.spec.Name, err)
	}
	// The launches below are queued on the one stream before any later use of this buffer.
	defer b.freeBuf(partial)
	args := append([]uint64{argPtr(partial.ptr), ptrOf(dy), ptrOf(y), ptrOf(x)}, geom...)
	args = append(args, argInt(sliceLen))
	grid := dim3{ceilDiv(c.kw, tileM), ceilDiv(c.spec.Out, tileN), slices}
	if err := b.launch("maskedconv_backward_dw_v2", grid, tileThreads, args...); err != nil {
		return err
	}
	rargs := append([]uint64{ptrOf(dw), argPtr(partial.ptr), argInt(slices)}, geom...)
	return b.launch("maskedconv_reduce_dw", grid1(c.kw*c.spec.Out, 256), 256, rargs...)
}

func (b *Backend) convDB(c convCall, db, dy, y *nn.Tensor) error {
	relu := 0
	if c.spec.ReLU {
		relu = 1
	}
	out := c.spec.Out
	if b.version == 1 {
		return b.launch("bias_backward_v1", grid1(out, 256), 256, ptrOf(db), ptrOf(dy), ptrOf(y), argInt(relu), argInt(c.m), argInt(out))
	}
	if b.version == 3 {
		return b.convDB3(c, db, dy, y, 0)
	}
	sliceLen := max(biasSlice, ceilDiv(c.m, 65535))
	slices := ceilDiv(c.m, sliceLen)
	partial, err := b.allocBuf(slices * out)
	if err != nil {
		return fmt.Errorf("cuda: layer %q: dB partials: %w", c.spec.Name, err)
	}
	defer b.freeBuf(partial)
	if err := b.launch("bias_backward_partial", dim3{ceilDiv(out, 256), slices, 1}, 256,
		argPtr(partial.ptr), ptrOf(dy), ptrOf(y), argInt(relu), argInt(c.m), argInt(out), argInt(sliceLen)); err != nil {
		return err
	}
	return b.launch("reduce_partials_add", grid1(out, 256), 256, ptrOf(db), argPtr(partial.ptr), argInt(slices), argInt(out))
}

// biasSlices3 is how dB version 3 cuts the c.m positions: about biasThreads3 / out slices,
// at most biasMaxSlices3 (a grid's rows), each at least biasSlice3 long.
func (c convCall) biasSlices3() (slices, sliceLen int) {
	want := min(biasMaxSlices3, max(1, ceilDiv(biasThreads3, c.spec.Out)))
	sliceLen = max(biasSlice3, ceilDiv(c.m, want))
	return ceilDiv(c.m, sliceLen), sliceLen
}

// convDB3 is dB version 3: pass 1 into transposed partials, pass 2 a warp per output. With dz
// not 0 (a layer with a ReLU whose dX or dW follows), pass 1 also writes the masked gradient
// there (relu_mask_bias_v3).
func (b *Backend) convDB3(c convCall, db, dy, y *nn.Tensor, dz uint64) error {
	out := c.spec.Out
	slices, sliceLen := c.biasSlices3()
	partial, err := b.allocBuf(slices * out)
	if err != nil {
		return fmt.Errorf("cuda: layer %q: dB partials: %w", c.spec.Name, err)
	}
	defer b.freeBuf(partial)
	grid := dim3{ceilDiv(out, 256), slices, 1}
	if dz != 0 {
		err = b.launch("relu_mask_bias_v3", grid, 256, dz, argPtr(partial.ptr), ptrOf(dy), ptrOf(y),
			argInt(c.m), argInt(out), argInt(sliceLen), argInt(slices))
	} else {
		relu := 0
		if c.spec.ReLU {
			relu = 1
		}
		err = b.launch("bias_partial_v3", grid, 256, argPtr(partial.ptr), ptrOf(dy), ptrOf(y),
			argInt(relu), argInt(c.m), argInt(out), argInt(sliceLen), argInt(slices))
	}
	if err != nil {
		return err
	}
	const warps = 8
	return b.launch("reduce_bias_v3", dim3{ceilDiv(out, warps), 1, 1}, warps*warpSize, ptrOf(db), argPtr(partial.ptr), argInt(slices), argInt(out))
}

// convBackwardV3 is MaskedConvBackward on the version 3 kernels (dx or dw non-nil): the
// upstream gradient is ReLU-masked once into dz (when the layer has a ReLU; in the same pass
// as dB's partial sums when db is wanted), then the dX and dW tensor-core GEMMs read dz; dB
// in fixed slices reduced in order (deterministic).
func (b *Backend) convBackwardV3(c convCall, dx, dw, db, dy, x, w, y *nn.Tensor, accumulate int) error {
	geom := c.geom()
	dz := ptrOf(dy)
	if c.spec.ReLU {
		n := c.m * c.spec.Out
		buf, err := b.allocBuf(n)
		if err != nil {
			return fmt.Errorf("cuda: layer %q: masked gradient: %w", c.spec.Name, err)
		}
		// Queued on the one stream before any later use of the buffer.
		defer b.freeBuf(buf)
		dz = argPtr(buf.ptr)
		if db != nil {
			err = b.convDB3(c, db, dy, y, dz)
			db = nil // done
		} else {
			err = b.launch("relu_mask_v3", dim3{min(ceilDiv(n, 256), 4096), 1, 1}, 256, dz, ptrOf(dy), ptrOf(y), argInt(n))
		}
		if err != nil {
			return err
		}
	}
	vec := vec16(dx, dw, dy, x, w) & vecPtr(dz)
	if dx != nil {
		args := append([]uint64{ptrOf(dx), dz, ptrOf(w)}, geom...)
		args = append(args, vec, argInt(accumulate))
		if err := b.launch("maskedconv_backward_dx_v3", dim3{ceilDiv(c.m, tile3M), ceilDiv(c.spec.In, tile3N), 1}, tile3Threads, args...); err != nil {
			return err
		}
	}
	if dw != nil {
		slices, sliceLen := c.dwSlices(tile3M, tile3N, b.dwBlocks)
		if int64(slices)*int64(c.kw)*int64(c.spec.Out) > maxElems {
			return fmt.Errorf("cuda: layer %q: dW partials too large", c.spec.Name)
		}
		partial, err := b.allocBuf(slices * c.kw * c.spec.Out)
		if err != nil {
			return fmt.Errorf("cuda: layer %q: dW partials: %w", c.spec.Name, err)
		}
		defer b.freeBuf(partial)
		args := append([]uint64{argPtr(partial.ptr), dz, ptrOf(x)}, geom...)
		args = append(args, argInt(sliceLen), vec&vecPtr(argPtr(partial.ptr)))
		grid := dim3{ceilDiv(c.kw, tile3M), ceilDiv(c.spec.Out, tile3N), slices}
		if err := b.launch("maskedconv_backward_dw_v3", grid, tile3Threads, args...); err != nil {
			return err
		}
		rargs := append([]uint64{ptrOf(dw), argPtr(partial.ptr), argInt(slices)}, geom...)
		if err := b.launch("maskedconv_reduce_dw", grid1(c.kw*c.spec.Out, 256), 256, rargs...); err != nil {
			return err
		}
	}
	if db != nil {
		return b.convDB(c, db, dy, y)
	}
	return nil
}

// vec16 is the version 3 kernels' vec argument: 1 when every given tensor (nil ones are
// skipped) starts on a 16-byte boundary, so the kernels may use 16-byte copies wherever the
// shapes allow. Pool buffers are 256-byte aligned, so this is 1 in practice.
func vec16(ts ...*nn.Tensor) uint64 {
	v := uint64(1)
	for _, t := range ts {
		if t != nil {
			v &= vecPtr(ptrOf(t))
		}
	}
	return v
}

func vecPtr(p uint64) uint64 {
	if p%16 == 0 {
		return 1
	}
	return 0
}

// checkConvVersion refuses version 3 on a GPU without TF32 mma.sync (before sm_80).
func (b *Backend) checkConvVersion(v int) error {
	if v == 3 && b.ccMajor < tf32MinMajor {
		return fmt.Errorf("cuda: %s: %s (conv version 3) needs TF32 tensor cores, compute capability 8.0 or newer; this GPU has %d.%d (use %s)",
			b.name, nn.TF32, b.ccMajor, b.ccMinor, nn.FP32)
	}
	return nil
}

var _ nn.PrecisionSetter = (*Backend)(nil)

// SetPrecision selects the conv kernels by precision: nn.TF32 runs version 3 (tensor cores,
// an error naming the GPU before sm_80), nn.FP32 version 2. MaskedConvAt (the cached
// sampler's kernel) computes in FP32 at either precision.
func (b *Backend) SetPrecision(p nn.Precision) error {
	switch p {
	case nn.TF32:
		return b.SetConvVersion(3)
	case nn.FP32:
		return b.SetConvVersion(2)
	case nn.BF16:
		return fmt.Errorf("cuda: %s: precision %s: the CUDA backend has no bf16 kernels (it has %s and %s; bf16 is the CPU's, on AVX512_BF16)", b.name, p, nn.TF32, nn.FP32)
	}
	return fmt.Errorf("cuda: %s: precision %q: unknown (choose one of %v)", b.name, p, nn.Precisions)
}

// Precision reports nn.TF32 when the version 3 kernels are selected, else nn.FP32 (versions
// 1 and 2 multiply in full FP32).
func (b *Backend) Precision() nn.Precision {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.version == 3 {
		return nn.TF32
	}
	return nn.FP32
}

// MaskedConvAt computes the conv at position (i, j) of every image: y [N,1,1,Out]. It runs
// maskedconv_at_v2 (position.go; maskedconv_at_v1 with SetAtVersion(1)), whose sums are
// formed exactly as MaskedConv's (versions 1 and 2), so the values agree bit for bit.
func (b *Backend) MaskedConvAt(spec nn.ConvSpec, y, x, w, bias *nn.Tensor, i, j int) error {
	if err := nn.CheckConvAt(spec, y, x, w, bias, i, j); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	c, err := newConvCall(spec, x, w, bias, nil)
	if err != nil {
		return err
	}
	layer := fmt.Sprintf("cuda: layer %q", spec.Name)
	if _, err := buf(layer+": position output", y); err != nil {
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
	return b.launchAt(c, y, x, w, bias, i, j, noCursor, 0)
}
