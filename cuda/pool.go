//go:build cuda

package cuda

import (
	"fmt"
	"math/bits"

	"gorgonia.org/cu"
)

// Pool is a caching allocator over cuMemAlloc. Requests are rounded up to a size class (a
// multiple of 256 bytes; above 1 KiB, a quarter of the power of two below the size, so at most
// 25% is wasted), and a released buffer goes on its class's free list for the next request of
// that class instead of back to the driver. A training step allocates the same sizes every
// step, so after the first step every request is a reuse and the driver's allocator (slow,
// and cuMemFree synchronizes the device) is never called again.
//
// Reuse is safe without events because all work runs in issue order (kernels, memsets and
// device copies on the backend's blocking launch stream, host copies on the legacy stream,
// which it is ordered with): work queued after a Release runs after the work that used the
// buffer before it. A buffer released while a CUDA graph is captured goes to the graph, not
// here (graph.go), since the graph's replays use it later.
type Pool struct {
	free map[int64][]cu.DevicePtr
	st   PoolStats
}

// PoolStats are the pool's counters.
type PoolStats struct {
	InUse   int64 // bytes handed out and not released (by size class)
	Cached  int64 // bytes on free lists
	Peak    int64 // largest InUse seen
	Allocs  int64 // cuMemAlloc calls
	Reuses  int64 // requests served from a free list
	Frees   int64 // cuMemFree calls (on out-of-memory retry and Close)
	Buffers int64 // buffers handed out and not released
}

func (s PoolStats) String() string {
	return fmt.Sprintf("in use %d B in %d buffers, cached %d B, peak %d B, %d cuMemAlloc, %d reuses, %d cuMemFree",
		s.InUse, s.Buffers, s.Cached, s.Peak, s.Allocs, s.Reuses, s.Frees)
}

func newPool() *Pool { return &Pool{free: map[int64][]cu.DevicePtr{}} }

// sizeClass rounds a request up to its class.
func sizeClass(n int64) int64 {
	const minClass = 256
	if n <= minClass {
		return minClass
	}
	step := int64(minClass)
	if n > 1024 {
		step = int64(1) << (bits.Len64(uint64(n-1)) - 3) // a quarter of the power of two below
	}
	return (n + step - 1) / step * step
}

// alloc returns a buffer of at least n bytes (n > 0) and its class size. The caller holds
// the backend's enter.
func (p *Pool) alloc(n int64) (cu.DevicePtr, int64, error) {
	class := sizeClass(n)
	if list := p.free[class]; len(list) > 0 {
		ptr := list[len(list)-1]
		p.free[class] = list[:len(list)-1]
		p.st.Cached -= class
		p.st.Reuses++
		p.use(class)
		return ptr, class, nil
	}
	ptr, err := cu.MemAlloc(class)
	if err != nil {
		// Give the cached buffers back to the driver and try once more.
		p.trim()
		ptr, err = cu.MemAlloc(class)
	}
	if err != nil {
		free, total, merr := cu.MemInfo()
		dev := fmt.Sprintf("device free %d of %d B", free, total)
		if merr != nil {
			dev = "device memory unknown"
		}
		return 0, 0, fmt.Errorf("cuda: out of device memory allocating %d B (class %d B): pool %v; %s: %w",
			n, class, p.st, dev, err)
	}
	p.st.Allocs++
	p.use(class)
	return ptr, class, nil
}

// allocLasting returns a buffer for an object kept across steps (a multi-tensor chunk table):
// always a fresh cuMemAlloc, never a buffer from a free list. Taken from a free list it would
// keep, for the rest of the run, a buffer that a per-step temporary of the same size class
// released earlier in the first step, and that temporary would call cuMemAlloc again in the
// second step. (The H200 run's one cuMemAlloc in step 2 of TestPoolNoAllocAfterFirstStep:
// the loss's partial sums, 48 float64s, and the chunk tables, 35 words, share the 512-byte
// class; the sum-of-squares table, built after the loss in step 1, kept the loss's buffer.)
func (p *Pool) allocLasting(n int64) (cu.DevicePtr, int64, error) {
	class := sizeClass(n)
	ptr, err := cu.MemAlloc(class)
	if err != nil {
		return p.alloc(n) // alloc trims the cache and retries, and reports the pool's state
	}
	p.st.Allocs++
	p.use(class)
	return ptr, class, nil
}

func (p *Pool) use(class int64) {
	p.st.InUse += class
	p.st.Buffers++
	if p.st.InUse > p.st.Peak {
		p.st.Peak = p.st.InUse
	}
}

// put returns a buffer of the given class to its free list.
func (p *Pool) put(ptr cu.DevicePtr, class int64) {
	p.free[class] = append(p.free[class], ptr)
	p.st.InUse -= class
	p.st.Buffers--
	p.st.Cached += class
}

// trim frees every cached buffer.
func (p *Pool) trim() {
	for class, list := range p.free {
		for _, ptr := range list {
			if cu.MemFree(ptr) == nil {
				p.st.Frees++
			}
			p.st.Cached -= class
		}
		delete(p.free, class)
	}
}

// PoolStats returns the buffer pool's counters.
func (b *Backend) PoolStats() PoolStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pool.st
}

// TrimPool frees every cached (released) buffer back to the driver.
func (b *Backend) TrimPool() error {
	exit, err := b.enter()
	if err != nil {
		return err
	}
	defer exit()
	b.pool.trim()
	return nil
}
