// Package cpu is the pure-Go reference backend: every GPU kernel is checked against it, and it
// is fast enough to train the mnist preset on two cores. Convolutions are GEMMs over NHWC
// activations (nn/cpu/gemm) that skip the masked taps; work is split into fixed chunks of
// positions handed out statically to workers, and partial sums are reduced in worker order,
// so results are deterministic for a given worker count.
package cpu

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu/isa"
	"pixelcnn/nn/cpu/vec"
)

// Backend is the CPU implementation of nn.Backend.
type Backend struct {
	workers   int
	precision nn.Precision // of the conv ops; "" is nn.FP32 (precision.go)

	mu   sync.Mutex
	pool map[int][][]float32 // released buffers by length
	// Stats of the buffer pool, for memory tests.
	allocs, reuses int
}

// New returns a CPU backend with one worker per available core (GOMAXPROCS).
func New() *Backend { return NewWorkers(runtime.GOMAXPROCS(0)) }

// NewWorkers returns a CPU backend with n workers (n >= 1).
func NewWorkers(n int) *Backend {
	if n < 1 {
		n = 1
	}
	return &Backend{workers: n, pool: map[int][][]float32{}}
}

func init() {
	nn.Register("cpu", func() (nn.Backend, error) {
		if err := isa.EnvError(); err != nil {
			return nil, err
		}
		return New(), nil
	})
}

// Name says what computes: the conv precision, the instruction set of the kernels and the
// worker count, e.g. "cpu/fp32/avx512(2 workers)".
func (b *Backend) Name() string {
	return fmt.Sprintf("cpu/%s/%s(%d workers)", b.Precision(), isa.FP32Kernels(), b.workers)
}

// Workers is the number of goroutines the backend splits work over.
func (b *Backend) Workers() int { return b.workers }

// PoolStats reports how many buffers were freshly allocated and how many were reused.
func (b *Backend) PoolStats() (allocs, reuses int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.allocs, b.reuses
}

// buffer returns a zeroed slice of length n, reusing a released one when possible.
func (b *Backend) buffer(n int) []float32 {
	buf, reused := b.take(n)
	if reused || poisonTaken {
		clear(buf)
	}
	return buf
}

// take returns a slice of length n with arbitrary contents: a released one when possible.
func (b *Backend) take(n int) (buf []float32, reused bool) {
	b.mu.Lock()
	if list := b.pool[n]; len(list) > 0 {
		buf = list[len(list)-1]
		b.pool[n] = list[:len(list)-1]
		b.reuses++
		reused = true
	} else {
		b.allocs++
	}
	b.mu.Unlock()
	if buf == nil {
		buf = make([]float32, n)
	}
	if poisonTaken {
		for i := range buf {
			buf[i] = float32(math.NaN())
		}
	}
	return buf, reused
}

// poisonTaken, set by tests, fills every buffer take hands out with NaN, so an op that reads
// a part of an uncleared buffer it did not write fails the conformance suite.
var poisonTaken = false

func (b *Backend) putBuffer(buf []float32) {
	if buf == nil {
		return
	}
	b.mu.Lock()
	b.pool[len(buf)] = append(b.pool[len(buf)], buf)
	b.mu.Unlock()
}

func (b *Backend) New(shape ...int) *nn.Tensor {
	return &nn.Tensor{Shape: append([]int(nil), shape...), Host: b.buffer(nn.ShapeLen(shape))}
}

// NewUninit returns a tensor whose contents are arbitrary (nn.UninitAllocator): for outputs
// that are overwritten in full.
func (b *Backend) NewUninit(shape ...int) *nn.Tensor {
	buf, _ := b.take(nn.ShapeLen(shape))
	return &nn.Tensor{Shape: append([]int(nil), shape...), Host: buf}
}

func (b *Backend) FromHost(data []float32, shape ...int) (*nn.Tensor, error) {
	if len(data) != nn.ShapeLen(shape) {
		return nil, fmt.Errorf("cpu: FromHost: %d values for shape %v", len(data), shape)
	}
	t := b.New(shape...)
	copy(t.Host, data)
	return t, nil
}

func (b *Backend) ToHost(dst []float32, t *nn.Tensor) error {
	if len(dst) != len(t.Host) {
		return fmt.Errorf("cpu: ToHost: destination has %d values, tensor %v has %d", len(dst), t.Shape, len(t.Host))
	}
	copy(dst, t.Host)
	return nil
}

func (b *Backend) Release(t *nn.Tensor) {
	if t == nil {
		return
	}
	b.putBuffer(t.Host)
	t.Host = nil
}

func (b *Backend) Zero(t *nn.Tensor) {
	if t != nil {
		clear(t.Host)
	}
}

func (b *Backend) Copy(dst, src *nn.Tensor) error {
	if err := nn.CheckCopy(dst, src); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	copy(dst.Host, src.Host)
	return nil
}

// parallel runs fn(worker, chunk) for chunk in [0, chunks), chunk c going to worker
// c % workers, so which worker sums which chunk never depends on timing.
func (b *Backend) parallel(chunks int, fn func(worker, chunk int)) {
	workers := min(b.workers, chunks)
	if workers <= 1 {
		for c := 0; c < chunks; c++ {
			fn(0, c)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for c := w; c < chunks; c += workers {
				fn(w, c)
			}
		}(w)
	}
	wg.Wait()
}

// parallelAny runs fn(worker, chunk) for chunk in [0, chunks), each worker taking the next
// chunk not yet taken: a worker slowed down (the other ops of a shared machine, a core taken
// by the host) leaves its share to the others instead of holding every worker at the op's
// end. Which worker runs a chunk then depends on timing, so fn must write results that do
// not: per-chunk outputs, and per-worker scratch only (no per-worker sums; those use
// parallel).
func (b *Backend) parallelAny(chunks int, fn func(worker, chunk int)) {
	workers := min(b.workers, chunks)
	if workers <= 1 {
		for c := 0; c < chunks; c++ {
			fn(0, c)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for c := int(next.Add(1) - 1); c < chunks; c = int(next.Add(1) - 1) {
				fn(w, c)
			}
		}(w)
	}
	wg.Wait()
}

// elementGrain is the elements of an elementwise chunk: big enough that a chunk's work
// dwarfs starting it, small enough that the chunks spread over the workers.
const elementGrain = 1 << 15

// elementwise splits n elements into chunks and runs fn on each [lo, hi) range in parallel.
func (b *Backend) elementwise(n int, fn func(lo, hi int)) {
	b.rowwise(n, 1, fn)
}

// rowwise splits n rows of rowLen elements each into chunks of about elementGrain elements
// and runs fn on each [lo, hi) range of rows in parallel. (Splitting rows by elementwise's
// element grain would leave a whole layer's rows, fewer than the grain, on one worker.)
func (b *Backend) rowwise(n, rowLen int, fn func(lo, hi int)) {
	grain := max(1, elementGrain/max(1, rowLen))
	chunks := (n + grain - 1) / grain
	b.parallelAny(chunks, func(_, c int) { fn(c*grain, min(n, (c+1)*grain)) })
}

func sameLen(op string, ts ...*nn.Tensor) error {
	for _, t := range ts[1:] {
		if len(t.Host) != len(ts[0].Host) {
			return fmt.Errorf("cpu: %s: shapes %v and %v differ", op, ts[0].Shape, t.Shape)
		}
	}
	return nil
}

func (b *Backend) ReLU(y, x *nn.Tensor) error {
	if err := sameLen("relu", y, x); err != nil {
		return err
	}
	b.elementwise(len(x.Host), func(lo, hi int) { vec.ReLU(y.Host[lo:hi], x.Host[lo:hi]) })
	return nil
}

func (b *Backend) ReLUBackward(dx, dy, y *nn.Tensor) error {
	if err := sameLen("relu backward", dx, dy, y); err != nil {
		return err
	}
	b.elementwise(len(y.Host), func(lo, hi int) { vec.ReLUGradAdd(dx.Host[lo:hi], dy.Host[lo:hi], y.Host[lo:hi]) })
	return nil
}

func (b *Backend) Add(y, a, c *nn.Tensor) error {
	if err := sameLen("add", y, a, c); err != nil {
		return err
	}
	b.elementwise(len(y.Host), func(lo, hi int) { vec.Add(y.Host[lo:hi], a.Host[lo:hi], c.Host[lo:hi]) })
	return nil
}

func (b *Backend) AddInto(dst, src *nn.Tensor) error {
	if err := sameLen("add into", dst, src); err != nil {
		return err
	}
	b.elementwise(len(dst.Host), func(lo, hi int) { vec.AddTo(dst.Host[lo:hi], src.Host[lo:hi]) })
	return nil
}

func (b *Backend) SumSquares(ts []*nn.Tensor) (float64, error) {
	var s float64
	for _, t := range ts {
		for _, v := range t.Host {
			s += float64(v) * float64(v)
		}
	}
	return s, nil
}

func (b *Backend) Scale(ts []*nn.Tensor, s float32) error {
	for _, t := range ts {
		vec.Scale(t.Host, s)
	}
	return nil
}

// Lerp implements nn.Averager.
func (b *Backend) Lerp(dst, src []*nn.Tensor, w float32) error {
	if err := nn.CheckLerp(dst, src, w); err != nil {
		return err
	}
	for i := range dst {
		nn.LerpHost(dst[i].Host, src[i].Host, w)
	}
	return nil
}
