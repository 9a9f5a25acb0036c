package nn

// DeviceSampler is an optional extension of Backend for the cached sampler on a GPU: the
// categorical draw runs on the device and writes straight into the image cache, the position
// of the per-subpixel ops comes from a cursor in device memory, and the per-subpixel sequence
// of ops can be recorded once and replayed. Nothing goes back to the host per subpixel; the
// host reads the images once at the end. A backend without it (the CPU) samples with
// MaskedConvAt, SetPosition and SampleCategorical at host positions.
type DeviceSampler interface {
	// NewCursor returns a cursor at subpixel sub of h x w images with c colours (sub =
	// (i*w+j)*c + colour). It returns an error wrapping errors.ErrUnsupported when device
	// sampling is switched off, so the caller samples on the host.
	NewCursor(h, w, c, sub int) (*Cursor, error)
	// ReleaseCursor frees the cursor's storage.
	ReleaseCursor(cur *Cursor)
	// MaskedConvAtCursor is MaskedConvAt at the cursor's pixel of x [N,cur.H,cur.W,In].
	MaskedConvAtCursor(spec ConvSpec, y, x, w, b *Tensor, cur *Cursor) error
	// VectorConvAtCursor is MaskedConvAt at (0, 0) of a vector x [N,1,1,In] into y
	// [N,1,1,Out] with the op that follows it in a residual block fused in: when cache is not
	// nil, the output is also written into cache [N,cur.H,cur.W,Out] at the cursor's pixel (as
	// SetPosition(cache, y)); when accumulate, y = y + output (as AddInto) instead of y =
	// output. The values are exactly those of the separate ops.
	VectorConvAtCursor(spec ConvSpec, y, x, w, b *Tensor, cur *Cursor, cache *Tensor, accumulate bool) error
	// DrawAtCursor draws the cursor's subpixel s (colour s % C) of every image n from logits
	// [N,1,1,256*C], the same value SampleCategorical draws with offset (s%C)*256, counter s
	// and row n, writes value/255 into img [N,H,W,C] at that subpixel, and then advances the
	// cursor by one subpixel.
	DrawAtCursor(img, logits *Tensor, temperature float32, seed uint64, cur *Cursor) error
	Recorder
}

// Recorder is the part of DeviceSampler and StepRecorder that records a sequence of ops.
type Recorder interface {
	// Record returns a Replayer whose Replay queues the ops fn queues, in order, as one unit
	// (a CUDA graph) when the backend can record them, else by calling fn. Record itself runs
	// nothing. fn may only queue device work (no reads to the host), and nothing else may use
	// the backend while Record runs. Every buffer fn releases stays with the Replayer until
	// its Release (a recorded graph keeps using it).
	Record(fn func() error) (Replayer, error)
	// Synchronize waits for every queued op and returns the first asynchronous error.
	Synchronize() error
}

// Cursor is a subpixel position kept in device memory, for images of H x W pixels and C
// colours. Device is the backend's handle.
type Cursor struct {
	H, W, C int
	Device  any
}

// Replayer queues a recorded sequence of ops again. Release frees it (a no-op for a sequence
// that was not recorded).
type Replayer interface {
	Replay() error
	Release()
}

// MemoryInfo is an optional extension of Backend: the device memory free and in total, in
// bytes, so that a caller can refuse work that cannot fit before launching any of it.
type MemoryInfo interface {
	MemInfo() (free, total int64, err error)
}
