//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/kernels"
	"pixelcnn/nn"
	"pixelcnn/pixelcnn/dist"
)

// Backend is the CUDA implementation of nn.Backend. It owns one device's primary context, the
// kernels loaded from the embedded PTX, a caching buffer pool and the multi-tensor tables.
// Every method takes b.mu and binds the context to a locked OS thread for its duration
// (enter), so the Backend is safe for concurrent use and goroutine moves never lose the
// context. Kernels go to the backend's own blocking stream and copies to the legacy default
// stream, which stay ordered with each other, so all work runs in issue order.
type Backend struct {
	mu       sync.Mutex
	dev      cu.Device
	ctx      cu.CUContext
	name     string
	modules  []cu.Module
	fns      map[string]cu.Function
	params   map[string]int // each kernel's parameter count, from its PTX (launch checks it)
	pool     *Pool
	debug    bool
	version  int // masked-conv kernel version: 2 (tiled, default), 1 (baseline) or 3 (TF32 tensor cores)
	dwBlocks int // dW's target grid size (dwTargetBlocks or PIXELCNN_CUDA_DW_BLOCKS)
	ccMajor  int // compute capability, for version 3's sm_80 check (checkConvVersion)
	ccMinor  int
	tables   map[string][]*chunkTable // multi-tensor tables by op, most recently used first
	deferred error                    // an error from a method with no error result, returned by the next op
	start    cu.Event
	stop     cu.Event
	closed   bool

	pos positionState // the sampler's switches and the launch stream (position.go)

	op   string    // the label of the op being run (enterOp), for the profiler
	prof *profiler // non-nil while Profile runs (profile.go)

	// capturing is true while Record captures a graph; every buffer freed meanwhile goes to
	// held instead of the pool, every chunk table used is pinned, and the graph keeps both
	// until its Release (graph.go).
	capturing  bool
	held       []*devBuf
	heldTables []*chunkTable // multi-tensor tables the capture launched with (pinned)
}

// requiredKernels are the kernels the Backend launches; New fails naming any that is missing
// from the embedded PTX.
var requiredKernels = []string{
	"maskedconv_forward_v1", "maskedconv_forward_v2",
	"maskedconv_backward_dx_v1", "maskedconv_backward_dx_v2",
	"maskedconv_backward_dw_v1", "maskedconv_backward_dw_v2", "maskedconv_reduce_dw",
	"maskedconv_forward_v3", "maskedconv_backward_dx_v3", "maskedconv_backward_dw_v3", "relu_mask_v3", "relu_mask_bias_v3",
	"bias_partial_v3", "reduce_bias_v3",
	"bias_backward_v1", "bias_backward_partial", "reduce_partials_add",
	"maskedconv_at_v1", "set_position_v1",
	"softmax_xent_v1",
	"relu_forward_v1", "relu_backward_v1", "add_v1", "add_into_v1",
	"zero_multi_v1", "scale_multi_v1", "sum_squares_multi_v1", "lerp_multi_v1",
	"adam_multi_v1", "rmsprop_multi_v1",
	"sample_categorical_v1",
	"step_loss_v1", "step_clip_v1", "scale_multi_v2", "adam_multi_v2", "rmsprop_multi_v2",
	"gate_forward_v1", "gate_backward_v1", "elu_forward_v1", "elu_backward_v1",
	"add_class_bias_v1", "class_bias_partial_v1", "class_bias_reduce_v1",
}

var (
	_ nn.Backend = (*Backend)(nil)
	_ nn.Ranger  = (*Backend)(nil)
)

func init() {
	nn.Register("cuda", func() (nn.Backend, error) { return New() })
}

// New opens the GPU named by PIXELCNN_CUDA_DEVICE (an ordinal; without it, the launcher's
// local rank modulo the GPU count, dist.LocalRankFromEnv, else 0): it retains the
// device's primary context, loads every embedded PTX module (the driver JIT-compiles the
// compute_80 PTX for the actual GPU) and checks that every kernel the backend launches is
// there. PIXELCNN_CUDA_DEBUG=1 synchronizes after every launch and names the failing kernel;
// PIXELCNN_CUDA_CONV=1 selects the baseline (version 1) convolution kernels, =3 the TF32
// tensor-core ones (version 3; sm_80 or newer).
//
// Note: gorgonia.org/cu calls cuInit in its package init and exits the process (status 1)
// when that fails, e.g. on a machine with no NVIDIA driver or GPU. So a binary built with
// -tags cuda only starts where a GPU is usable; `--device auto` falls back to the CPU only in
// binaries built without the tag, or when cuInit succeeds but New fails (no device, bad PTX).
func New() (*Backend, error) {
	ordinal, fromLocalRank := 0, ""
	if s := os.Getenv("PIXELCNN_CUDA_DEVICE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("cuda: PIXELCNN_CUDA_DEVICE=%q is not a device ordinal", s)
		}
		ordinal = v
	} else if r, from, ok, err := dist.LocalRankFromEnv(nil); err != nil {
		return nil, fmt.Errorf("cuda: choosing the GPU: %w (or set PIXELCNN_CUDA_DEVICE)", err)
	} else if ok {
		// One of several ranks on this machine: the local rank picks the GPU (modulo the
		// count below, so that ranks beyond it share GPUs, as --comm mpi allows).
		ordinal, fromLocalRank = r, from
	}
	b := &Backend{fns: map[string]cu.Function{}, params: map[string]int{}, tables: map[string][]*chunkTable{}, version: 2, dwBlocks: dwTargetBlocks}
	if s := os.Getenv("PIXELCNN_CUDA_DW_BLOCKS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 1<<20 {
			return nil, fmt.Errorf("cuda: PIXELCNN_CUDA_DW_BLOCKS=%q: want a block count from 1 to %d", s, 1<<20)
		}
		b.dwBlocks = v
	}
	b.debug = os.Getenv("PIXELCNN_CUDA_DEBUG") == "1"
	switch v := os.Getenv("PIXELCNN_CUDA_CONV"); v {
	case "", "2":
	case "1":
		b.version = 1
	case "3":
		b.version = 3
	default:
		return nil, fmt.Errorf("cuda: PIXELCNN_CUDA_CONV=%q: want 1, 2 or 3", v)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	count, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: counting devices: %w", err)
	}
	if fromLocalRank != "" && count > 0 {
		ordinal %= count
	}
	if ordinal >= count {
		return nil, fmt.Errorf("cuda: device %d requested, %d present", ordinal, count)
	}
	if b.dev, err = cu.GetDevice(ordinal); err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	devName, err := b.dev.Name()
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d name: %w", ordinal, err)
	}
	major, minor, err := b.dev.ComputeCapability()
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	b.name = fmt.Sprintf("cuda:%d (%s, sm_%d%d)", ordinal, devName, major, minor)
	b.ccMajor, b.ccMinor = major, minor
	if err := b.checkConvVersion(b.version); err != nil {
		return nil, fmt.Errorf("PIXELCNN_CUDA_CONV=3: %w", err)
	}
	if b.ctx, err = b.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("cuda: %s: retaining the primary context: %w", b.name, err)
	}
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		_ = b.dev.ReleasePrimaryCtx()
		return nil, fmt.Errorf("cuda: %s: making the context current: %w", b.name, err)
	}
	if err := b.loadModules(); err != nil {
		b.release()
		return nil, err
	}
	if err := b.initPosition(); err != nil {
		b.release()
		return nil, err
	}
	if b.start, err = cu.MakeEvent(cu.DefaultEvent); err == nil {
		b.stop, err = cu.MakeEvent(cu.DefaultEvent)
	}
	if err != nil {
		b.release()
		return nil, fmt.Errorf("cuda: %s: creating timing events: %w", b.name, err)
	}
	b.pool = newPool()
	return b, nil
}

// loadModules loads every embedded PTX module and resolves every .entry in it.
func (b *Backend) loadModules() error {
	mods, names, err := kernels.Modules()
	if err != nil {
		return fmt.Errorf("cuda: reading embedded PTX: %w", err)
	}
	if len(names) == 0 {
		return fmt.Errorf("cuda: no embedded PTX (run `make ptx` before building with -tags cuda)")
	}
	for _, name := range names {
		mod, err := cu.LoadData(mods[name])
		if err != nil {
			return fmt.Errorf("cuda: loading PTX module %s: %w", name, err)
		}
		b.modules = append(b.modules, mod)
		for kernel, params := range kernels.Entries(mods[name]) {
			fn, err := mod.Function(kernel)
			if err != nil {
				return fmt.Errorf("cuda: module %s: kernel %s: %w", name, kernel, err)
			}
			if _, dup := b.fns[kernel]; dup {
				return fmt.Errorf("cuda: kernel %s defined in two modules", kernel)
			}
			b.fns[kernel], b.params[kernel] = fn, params
		}
	}
	for _, k := range requiredKernels {
		if _, ok := b.fns[k]; !ok {
			return fmt.Errorf("cuda: kernel %s missing from the embedded PTX (stale kernels/ptx? run `make ptx`)", k)
		}
	}
	return nil
}

// Kernels lists the names of every kernel loaded from the embedded PTX.
func (b *Backend) Kernels() []string {
	var ks []string
	for k := range b.fns {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// release frees what New acquired; the context must be current.
func (b *Backend) release() {
	for _, m := range b.modules {
		_ = m.Unload()
	}
	b.modules = nil
	_ = b.dev.ReleasePrimaryCtx()
}

// Close frees every device buffer (in use or cached), unloads the modules and releases the
// primary context. The Backend and its tensors must not be used afterwards.
func (b *Backend) Close() error {
	exit, err := b.enter()
	if err != nil {
		return err
	}
	defer exit()
	if b.closed {
		return nil
	}
	b.closed = true
	syncErr := cu.Synchronize()
	b.pool.trim() // buffers still in use go with the context
	b.closePosition()
	_ = cu.DestroyEvent(&b.start)
	_ = cu.DestroyEvent(&b.stop)
	b.release()
	if syncErr != nil {
		return fmt.Errorf("cuda: close: %w", syncErr)
	}
	return nil
}

func (b *Backend) Name() string { return b.name }

// SetConvVersion selects the masked-conv kernels: 2 (tiled implicit GEMM, the default), 1
// (the naive baseline) or 3 (TF32 tensor cores, sm_80 or newer; the same as SetPrecision(
// nn.TF32)). cmd/bench uses it to time each.
func (b *Backend) SetConvVersion(v int) error {
	if v < 1 || v > 3 {
		return fmt.Errorf("cuda: conv version %d: want 1, 2 or 3", v)
	}
	if err := b.checkConvVersion(v); err != nil {
		return err
	}
	b.mu.Lock()
	b.version = v
	b.mu.Unlock()
	return nil
}

// enter locks b, pins the calling goroutine to its OS thread and makes the context current
// there; the returned func undoes both. CUDA binds a context to an OS thread, and Go moves
// goroutines between threads, so every entry point re-binds instead of trusting the thread.
func (b *Backend) enter() (func(), error) {
	b.mu.Lock()
	runtime.LockOSThread()
	exit := func() {
		runtime.UnlockOSThread()
		b.mu.Unlock()
	}
	if b.closed {
		exit()
		return nil, fmt.Errorf("cuda: backend is closed")
	}
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		exit()
		return nil, fmt.Errorf("cuda: binding the context: %w", err)
	}
	return exit, nil
}

// enterOp is enter for an op with an error result: it also hands back (once) any error kept
// from an earlier method that could not return one (New, Zero, Release).
func (b *Backend) enterOp(op string) (func(), error) {
	exit, err := b.enter()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if d := b.deferred; d != nil {
		b.deferred = nil
		exit()
		return nil, fmt.Errorf("%s: earlier failure: %w", op, d)
	}
	b.op = op
	return exit, nil
}

func (b *Backend) keepErr(err error) {
	if err != nil && b.deferred == nil {
		b.deferred = err
	}
}

// Kernel arguments. gorgonia.org/cu's Launch copies exactly 8 bytes from each parameter
// pointer into the driver's argument array, and the driver then reads as many bytes as the
// kernel's parameter has. So every argument lives in its own uint64 slot: pointers and
// 64-bit scalars fill it, 32-bit scalars sit in its low half (little-endian), and no kernel
// takes a parameter wider than 8 bytes (no structs by value).
func argPtr(p cu.DevicePtr) uint64 { return uint64(p) }
func argInt(v int) uint64          { return uint64(uint32(int32(v))) }
func argF32(v float32) uint64      { return uint64(math.Float32bits(v)) }
func argF64(v float64) uint64      { return math.Float64bits(v) }

// dim3 is a launch grid or block shape.
type dim3 struct{ x, y, z int }

func grid1(n, block int) dim3 { return dim3{ceilDiv(n, block), 1, 1} }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// launch runs kernel name on the backend's stream (a blocking stream it creates, so that the
// launches can be captured into a CUDA graph; being blocking, it stays ordered with the host
// copies on the legacy default stream). It checks the launch itself and, in debug
// mode (PIXELCNN_CUDA_DEBUG=1), synchronizes and reports the kernel's own failure by name.
// The caller holds enter.
func (b *Backend) launch(name string, grid dim3, block int, args ...uint64) error {
	return b.launchShared(name, grid, block, 0, args...)
}

// launchShared is launch with shared bytes of dynamic shared memory per block, on the
// backend's stream (b.pos.stream).
func (b *Backend) launchShared(name string, grid dim3, block, shared int, args ...uint64) error {
	fn, ok := b.fns[name]
	if !ok {
		return fmt.Errorf("cuda: kernel %s not loaded", name)
	}
	if want := b.params[name]; len(args) != want { // a host/kernel signature mismatch
		return fmt.Errorf("cuda: kernel %s takes %d parameters, launched with %d (stale kernels/ptx? run `make ptx`)", name, want, len(args))
	}
	if grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.x > math.MaxInt32 || grid.y > 65535 || grid.z > 65535 || block < 1 || block > 1024 {
		return fmt.Errorf("cuda: kernel %s: bad launch shape grid %v block %d", name, grid, block)
	}
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	timed := false
	if b.prof != nil {
		var err error
		if timed, err = b.prof.begin(b.pos.stream); err != nil {
			return err
		}
	}
	if err := fn.Launch(grid.x, grid.y, grid.z, block, 1, 1, shared, b.pos.stream, params); err != nil {
		return fmt.Errorf("cuda: launching %s (grid %v, block %d): %w", name, grid, block, err)
	}
	if timed {
		if err := b.prof.end(b.pos.stream, name, b.op, grid, block); err != nil {
			return err
		}
	}
	if b.debug {
		if err := cu.Synchronize(); err != nil {
			return fmt.Errorf("cuda: kernel %s (grid %v, block %d) failed: %w", name, grid, block, err)
		}
	}
	return nil
}

// Synchronize waits for all queued work and returns the first asynchronous error.
func (b *Backend) Synchronize() error {
	exit, err := b.enter()
	if err != nil {
		return err
	}
	defer exit()
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("cuda: synchronize: %w", err)
	}
	return nil
}

// Time runs fn (which may call any Backend method) between two CUDA events on the default
// stream and returns the GPU time in milliseconds: the device time of the work fn queued,
// not the host time of queuing it.
func (b *Backend) Time(fn func() error) (float64, error) {
	exit, err := b.enter()
	if err != nil {
		return 0, err
	}
	err = b.start.Record(cu.NoStream)
	exit()
	if err != nil {
		return 0, fmt.Errorf("cuda: recording start event: %w", err)
	}
	if err := fn(); err != nil {
		return 0, err
	}
	if exit, err = b.enter(); err != nil {
		return 0, err
	}
	defer exit()
	if err := b.stop.Record(cu.NoStream); err != nil {
		return 0, fmt.Errorf("cuda: recording stop event: %w", err)
	}
	if err := b.stop.Synchronize(); err != nil {
		return 0, fmt.Errorf("cuda: waiting for stop event: %w", err)
	}
	ms, err := b.start.Elapsed(b.stop)
	if err != nil {
		return 0, fmt.Errorf("cuda: event time: %w", err)
	}
	return ms, nil
}
