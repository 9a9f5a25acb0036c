//go:build cuda

package cuda

import (
	"fmt"

	"gorgonia.org/cu"
)

// The per-launch profiler (cmd/bench --profile): while Profile runs its function, every
// kernel launch is bracketed by a pair of CUDA events on the launch stream, with the kernel's
// name, the op it belongs to (the label its method passed to enterOp, such as
// `cuda: layer "blocks.3.conv_mid"`) and its grid. The events come from a pool created
// before the function runs, so a profiled launch allocates nothing and costs two event
// records; with no profiler (b.prof == nil) a launch pays one nil check. The elapsed times
// are read after one synchronize at the end. It does not depend on nsys or CUPTI.

// KernelTime is one profiled kernel launch.
type KernelTime struct {
	Kernel string  // the kernel's entry name, e.g. "maskedconv_forward_v2"
	Op     string  // the backend op that launched it, e.g. `cuda: layer "final_conv"` or "cuda: add"
	Grid   [3]int  // the launch grid
	Block  int     // threads per block
	Ms     float64 // GPU time between the events around the launch
}

// profiler holds the event pool and the launches recorded so far: launch i used events
// 2i and 2i+1.
type profiler struct {
	events   []cu.Event
	launches []KernelTime // len = capacity; the first n are recorded
	n        int
	dropped  int // launches beyond the capacity, not timed
}

// begin records launch n's start event on stream s; it reports false (and counts the launch
// as dropped) when the pool is full.
func (p *profiler) begin(s cu.Stream) (bool, error) {
	if p.n == len(p.launches) {
		p.dropped++
		return false, nil
	}
	if err := p.events[2*p.n].Record(s); err != nil {
		return false, fmt.Errorf("cuda: profiler: recording a start event: %w", err)
	}
	return true, nil
}

// end records the stop event of the launch begun last and its description.
func (p *profiler) end(s cu.Stream, kernel, op string, grid dim3, block int) error {
	if err := p.events[2*p.n+1].Record(s); err != nil {
		return fmt.Errorf("cuda: profiler: recording a stop event: %w", err)
	}
	p.launches[p.n] = KernelTime{Kernel: kernel, Op: op, Grid: [3]int{grid.x, grid.y, grid.z}, Block: block}
	p.n++
	return nil
}

// Profile runs fn (which may call any Backend method; it must not capture a CUDA graph) with
// every kernel launch timed by CUDA events, and returns the launches in issue order and the
// GPU time of the whole of fn (events on the default stream around it, as Time measures:
// the launches, the copies and memsets between them and the host gaps). At most capacity
// launches are timed; more is an error naming both counts. Profiles do not nest.
func (b *Backend) Profile(capacity int, fn func() error) ([]KernelTime, float64, error) {
	if capacity < 1 {
		return nil, 0, fmt.Errorf("cuda: profile capacity %d must be positive", capacity)
	}
	exit, err := b.enter()
	if err != nil {
		return nil, 0, err
	}
	if b.prof != nil {
		exit()
		return nil, 0, fmt.Errorf("cuda: a profile is already running")
	}
	p := &profiler{events: make([]cu.Event, 0, 2*capacity), launches: make([]KernelTime, capacity)}
	for len(p.events) < 2*capacity {
		ev, err := cu.MakeEvent(cu.DefaultEvent)
		if err != nil {
			destroyEvents(p.events)
			exit()
			return nil, 0, fmt.Errorf("cuda: profiler: creating %d events: %w", 2*capacity, err)
		}
		p.events = append(p.events, ev)
	}
	b.prof = p
	err = b.start.Record(cu.NoStream)
	if err != nil {
		b.prof = nil
		destroyEvents(p.events)
		exit()
		return nil, 0, fmt.Errorf("cuda: recording start event: %w", err)
	}
	exit()
	fnErr := fn()
	exit, err = b.enter()
	if err != nil { // closed by fn: the events went with the context
		b.stopProfile()
		return nil, 0, err
	}
	defer func() {
		destroyEvents(p.events)
		exit()
	}()
	b.prof = nil
	if fnErr != nil {
		_ = cu.Synchronize()
		return nil, 0, fnErr
	}
	if err := b.stop.Record(cu.NoStream); err != nil {
		return nil, 0, fmt.Errorf("cuda: recording stop event: %w", err)
	}
	if err := cu.Synchronize(); err != nil {
		return nil, 0, fmt.Errorf("cuda: profile: synchronize: %w", err)
	}
	if p.dropped > 0 {
		return nil, 0, fmt.Errorf("cuda: profile: %d launches, only %d can be timed (raise the capacity)", p.n+p.dropped, capacity)
	}
	total, err := b.start.Elapsed(b.stop)
	if err != nil {
		return nil, 0, fmt.Errorf("cuda: profile: step time: %w", err)
	}
	out := p.launches[:p.n]
	for i := range out {
		if out[i].Ms, err = p.events[2*i].Elapsed(p.events[2*i+1]); err != nil {
			return nil, 0, fmt.Errorf("cuda: profile: launch %d (%s): %w", i, out[i].Kernel, err)
		}
	}
	return out, total, nil
}

// stopProfile turns the profiler off after a failure outside enter.
func (b *Backend) stopProfile() {
	b.mu.Lock()
	b.prof = nil
	b.mu.Unlock()
}

func destroyEvents(evs []cu.Event) {
	for i := range evs {
		_ = cu.DestroyEvent(&evs[i])
	}
}
