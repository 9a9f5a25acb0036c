//go:build cuda

package cuda

// CUDA graphs through the driver API: gorgonia.org/cu v0.9.6 has no stream capture,
// instantiation or graph launch (../shared/gpu.md), so these few calls are cgo here.
// cuGraphInstantiateWithFlags is used because cuGraphInstantiate changed its signature in
// CUDA 12; the WithFlags form is the same in 11.4+ and 12.x/13.x headers.

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

static CUresult pixelcnn_capture_begin(CUstream s) {
	return cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED);
}
static CUresult pixelcnn_capture_end(CUstream s, CUgraph* g) { return cuStreamEndCapture(s, g); }
static CUresult pixelcnn_graph_instantiate(CUgraphExec* e, CUgraph g) {
	return cuGraphInstantiateWithFlags(e, g, 0);
}
static CUresult pixelcnn_graph_launch(CUgraphExec e, CUstream s) { return cuGraphLaunch(e, s); }
static void pixelcnn_graph_destroy(CUgraphExec e, CUgraph g) {
	if (e) cuGraphExecDestroy(e);
	if (g) cuGraphDestroy(g);
}
static const char* pixelcnn_error_name(CUresult r) {
	const char* s = 0;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || !s) return "unknown CUDA error";
	return s;
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/nn"
)

// cStream is the driver handle of s (cu.Stream is a struct holding just that handle).
func cStream(s cu.Stream) C.CUstream { return *(*C.CUstream)(unsafe.Pointer(&s)) }

func cuResult(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %s (%d)", what, C.GoString(C.pixelcnn_error_name(r)), int(r))
}

// plainReplay replays by calling the recording function again: plain launches.
type plainReplay func() error

func (p plainReplay) Replay() error { return p() }
func (plainReplay) Release()        {}

// graphReplay is an instantiated CUDA graph launched on the backend's stream, with the
// buffers released during its capture, which its kernels still use (freeBuf).
type graphReplay struct {
	b      *Backend
	graph  C.CUgraph
	exec   C.CUgraphExec
	held   []*devBuf
	tables []*chunkTable
}

// Record captures the launches fn queues into a CUDA graph (stream capture on the backend's
// stream, relaxed mode) and returns it for replay. With graphs off (PIXELCNN_CUDA_GRAPHS=0,
// SetGraphs(false), or debug mode, which synchronizes after each launch), or when capture or
// instantiation fails, the replay calls fn instead; a failure prints a notice and is never
// an error here (an error of fn itself shows again at the first replay). While Profile runs,
// graphs are off too: it times every launch with its own events.
func (b *Backend) Record(fn func() error) (nn.Replayer, error) {
	b.mu.Lock()
	on := b.pos.graphs && !b.debug && b.prof == nil
	b.mu.Unlock()
	if !on {
		return plainReplay(fn), nil
	}
	r, err := b.capture(fn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cuda: no CUDA graph (%v); launching the ops one by one\n", err)
		return plainReplay(fn), nil
	}
	return r, nil
}

func (b *Backend) capture(fn func() error) (*graphReplay, error) {
	// Capture begins and ends on one OS thread (enter's lock nests inside this one).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// enter, not enterOp: an error kept from an earlier op is left for fn's first op (or the
	// plain replay's) to return, not spent on this notice.
	exit, err := b.enter()
	if err != nil {
		return nil, err
	}
	s := cStream(b.pos.stream)
	err = cuResult("beginning the capture", C.pixelcnn_capture_begin(s))
	b.capturing = err == nil
	exit()
	if err != nil {
		return nil, err
	}
	fnErr := fn()
	b.mu.Lock()
	b.capturing = false
	held, tables := b.held, b.heldTables
	b.held, b.heldTables = nil, nil
	b.mu.Unlock()
	r, err := b.endCapture(s, fnErr)
	if err != nil {
		b.mu.Lock()
		b.giveBack(held, tables) // nothing will run the failed capture's kernels
		b.mu.Unlock()
		return nil, err
	}
	r.held, r.tables = held, tables
	return r, nil
}

// giveBack returns a graph's buffers to the pool and drops its table pins. Caller holds b.mu.
func (b *Backend) giveBack(held []*devBuf, tables []*chunkTable) {
	for _, d := range held {
		b.pool.put(d.ptr, d.class)
	}
	for _, c := range tables {
		b.unpin(c)
	}
}

// endCapture ends the capture on s and instantiates the graph, unless fn failed.
func (b *Backend) endCapture(s C.CUstream, fnErr error) (*graphReplay, error) {
	exit, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer exit()
	var g C.CUgraph
	endErr := cuResult("ending the capture", C.pixelcnn_capture_end(s, &g))
	if fnErr != nil || endErr != nil {
		C.pixelcnn_graph_destroy(nil, g)
		if fnErr != nil {
			return nil, fmt.Errorf("recording: %w", fnErr)
		}
		return nil, endErr
	}
	var e C.CUgraphExec
	if err := cuResult("instantiating the graph", C.pixelcnn_graph_instantiate(&e, g)); err != nil {
		C.pixelcnn_graph_destroy(nil, g)
		return nil, err
	}
	return &graphReplay{b: b, graph: g, exec: e}, nil
}

// Graph reports that the replay is a CUDA graph (pixelcnn.Trainer.StepMode).
func (r *graphReplay) Graph() bool { return true }

// Replay launches the graph on the backend's stream.
func (r *graphReplay) Replay() error {
	if r.exec == nil {
		return fmt.Errorf("cuda: graph replay after Release")
	}
	exit, err := r.b.enterOp("cuda: graph replay")
	if err != nil {
		return err
	}
	defer exit()
	return cuResult("cuda: launching the recorded graph", C.pixelcnn_graph_launch(r.exec, cStream(r.b.pos.stream)))
}

// Release destroys the graph and gives its buffers back to the pool (after the queued
// replays: the pool's reuse is stream-ordered). With the backend closed, the graph and the
// buffers went with its context.
func (r *graphReplay) Release() {
	if r.exec == nil {
		return
	}
	if exit, err := r.b.enter(); err == nil {
		C.pixelcnn_graph_destroy(r.exec, r.graph)
		r.b.giveBack(r.held, r.tables)
		exit()
	}
	r.exec, r.graph, r.held, r.tables = nil, nil, nil, nil
}
