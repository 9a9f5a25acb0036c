//go:build cuda

package cuda

/*
#cgo CFLAGS: -I/usr/include
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include <nvtx3/nvToolsExt.h>

static void pixelcnn_nvtx_push(const char* name) { nvtxRangePushA(name); }
static void pixelcnn_nvtx_pop(void) { nvtxRangePop(); }
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// PushRange opens an NVTX range named name on the calling thread (header-only NVTX v3: a
// no-op unless a profiler such as Nsight Systems injects itself). Ranges nest; close each
// with PopRange on the same OS thread.
func PushRange(name string) {
	cs := C.CString(name)
	C.pixelcnn_nvtx_push(cs)
	C.free(unsafe.Pointer(cs))
}

// PopRange closes the innermost NVTX range of the calling thread.
func PopRange() { C.pixelcnn_nvtx_pop() }

// Range opens an NVTX range and returns the func that closes it:
//
//	defer b.Range("forward")()
//
// NVTX ranges are per OS thread, so Range pins the calling goroutine to its thread until the
// returned func runs (LockOSThread calls nest).
func (b *Backend) Range(name string) func() {
	runtime.LockOSThread()
	PushRange(name)
	return func() {
		PopRange()
		runtime.UnlockOSThread()
	}
}
