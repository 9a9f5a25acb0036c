//go:build cuda

package nccl

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Our own declarations of the few NCCL entry points we call, so that building needs no nccl.h
// (from src/nccl.h.in of github.com/NVIDIA/nccl, stable since NCCL 2.x):
//   ncclResult_t is an enum (an int; ncclSuccess = 0), ncclDataType_t and ncclRedOp_t are enums
//   passed as int (ncclUint8 = 1, ncclFloat32 = 7; ncclSum = 0), ncclComm_t is a pointer to an
//   opaque struct, cudaStream_t a pointer to the driver's opaque stream (the same handle as a
//   CUstream), and ncclUniqueId is struct { char internal[128]; }, passed by value.
typedef int pc_result;
typedef struct { char internal[128]; } pc_unique_id;
typedef void *pc_comm;
typedef void *pc_stream;

typedef struct {
	void *handle;
	pc_result (*getVersion)(int *);
	pc_result (*getUniqueId)(pc_unique_id *);
	pc_result (*commInitRank)(pc_comm *, int, pc_unique_id, int);
	pc_result (*allGather)(const void *, void *, size_t, int, pc_comm, pc_stream);
	pc_result (*allReduce)(const void *, void *, size_t, int, int, pc_comm, pc_stream);
	pc_result (*broadcast)(const void *, void *, size_t, int, int, pc_comm, pc_stream);
	const char *(*getErrorString)(pc_result);
	pc_result (*commDestroy)(pc_comm);
	pc_result (*commAbort)(pc_comm);
} pc_nccl;

// pc_open dlopens name and resolves every entry point into *l. It returns 0; 1 when dlopen
// failed (dlerror's text in err); 2 when a symbol is missing (its name in err).
static int pc_open(const char *name, pc_nccl *l, char *err, size_t errlen) {
	memset(l, 0, sizeof *l);
	l->handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (l->handle == NULL) {
		const char *e = dlerror();
		strncpy(err, e ? e : "dlopen failed", errlen - 1);
		err[errlen - 1] = 0;
		return 1;
	}
#define PC_SYM(field, sym) \
	if ((*(void **)&l->field = dlsym(l->handle, sym)) == NULL) { \
		strncpy(err, sym, errlen - 1); err[errlen - 1] = 0; \
		dlclose(l->handle); l->handle = NULL; return 2; }
	PC_SYM(getVersion, "ncclGetVersion")
	PC_SYM(getUniqueId, "ncclGetUniqueId")
	PC_SYM(commInitRank, "ncclCommInitRank")
	PC_SYM(allGather, "ncclAllGather")
	PC_SYM(allReduce, "ncclAllReduce")
	PC_SYM(broadcast, "ncclBroadcast")
	PC_SYM(getErrorString, "ncclGetErrorString")
	PC_SYM(commDestroy, "ncclCommDestroy")
	PC_SYM(commAbort, "ncclCommAbort")
#undef PC_SYM
	return 0;
}

static pc_result pc_get_version(pc_nccl *l, int *v) { return l->getVersion(v); }
static pc_result pc_get_unique_id(pc_nccl *l, void *id) { return l->getUniqueId((pc_unique_id *)id); }
static pc_result pc_comm_init_rank(pc_nccl *l, pc_comm *c, int n, void *id, int rank) {
	pc_unique_id u;
	memcpy(&u, id, sizeof u);
	return l->commInitRank(c, n, u, rank);
}
static pc_result pc_all_gather(pc_nccl *l, uintptr_t send, uintptr_t recv, size_t n, int type, pc_comm c, uintptr_t s) {
	return l->allGather((const void *)send, (void *)recv, n, type, c, (pc_stream)s);
}
static pc_result pc_all_reduce(pc_nccl *l, uintptr_t send, uintptr_t recv, size_t n, int type, int op, pc_comm c, uintptr_t s) {
	return l->allReduce((const void *)send, (void *)recv, n, type, op, c, (pc_stream)s);
}
static pc_result pc_broadcast(pc_nccl *l, uintptr_t send, uintptr_t recv, size_t n, int type, int root, pc_comm c, uintptr_t s) {
	return l->broadcast((const void *)send, (void *)recv, n, type, root, c, (pc_stream)s);
}
static const char *pc_error_string(pc_nccl *l, pc_result r) { return l->getErrorString(r); }
static pc_result pc_comm_destroy(pc_nccl *l, pc_comm c) { return l->commDestroy(c); }
static pc_result pc_comm_abort(pc_nccl *l, pc_comm c) { return l->commAbort(c); }
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// DefaultLibrary is the NCCL library dlopen looks for (through the loader's search path:
// LD_LIBRARY_PATH, ldconfig's cache) unless PIXELCNN_NCCL_LIB names another.
const DefaultLibrary = "libnccl.so.2"

// UniqueIDBytes is the size of NCCL's ncclUniqueId (NCCL_UNIQUE_ID_BYTES).
const UniqueIDBytes = 128

// NCCL's enums (src/nccl.h.in): ncclDataType_t and ncclRedOp_t.
const (
	ncclUint8   = 1
	ncclFloat32 = 7
	ncclSum     = 0
)

// NCCL's ncclResult_t values that get a hint (src/nccl.h.in).
const (
	ncclUnhandledCudaError = 1
	ncclSystemError        = 2
	ncclInternalError      = 3
	ncclRemoteError        = 6
)

// Lib is a loaded NCCL library (dlopen'd once, never closed).
type Lib struct {
	name    string
	fns     *C.pc_nccl
	version int
}

// Name is the library's name as dlopen was given it.
func (l *Lib) Name() string { return l.name }

// Version is ncclGetVersion's code (FormatVersion writes it).
func (l *Lib) Version() int { return l.version }

var (
	loadOnce sync.Once
	loaded   *Lib
	loadErr  error
)

// Load loads the process's NCCL once: PIXELCNN_NCCL_LIB, else DefaultLibrary.
func Load() (*Lib, error) {
	loadOnce.Do(func() {
		name := os.Getenv("PIXELCNN_NCCL_LIB")
		if name == "" {
			name = DefaultLibrary
		}
		loaded, loadErr = LoadLibrary(name)
	})
	return loaded, loadErr
}

// LoadLibrary dlopens name (a file name the loader searches for, or a path), resolves the
// entry points and checks the version (MinVersion). Its errors name the library, the reason
// and what to install.
func LoadLibrary(name string) (*Lib, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	fns := (*C.pc_nccl)(C.calloc(1, C.size_t(unsafe.Sizeof(C.pc_nccl{}))))
	errbuf := (*C.char)(C.calloc(1, 1024))
	defer C.free(unsafe.Pointer(errbuf))
	switch rc := C.pc_open(cname, fns, errbuf, 1024); rc {
	case 0:
	case 1:
		C.free(unsafe.Pointer(fns))
		return nil, fmt.Errorf("nccl: cannot load %s (NCCL, for the GPUs' collectives): %s: %s", name, C.GoString(errbuf), installHint)
	default:
		C.free(unsafe.Pointer(fns))
		return nil, fmt.Errorf("nccl: %s has no %s: not a NCCL library, or one older than %s: %s", name, C.GoString(errbuf), FormatVersion(MinVersion), installHint)
	}
	l := &Lib{name: name, fns: fns}
	var v C.int
	if err := l.check("ncclGetVersion", C.pc_get_version(fns, &v)); err != nil {
		return nil, err
	}
	l.version = int(v)
	if err := checkVersion(name, l.version); err != nil {
		return nil, err
	}
	return l, nil
}

// check turns an ncclResult_t into an error naming the call and NCCL's message.
func (l *Lib) check(call string, r C.pc_result) error {
	if r == 0 {
		return nil
	}
	msg := C.GoString(C.pc_error_string(l.fns, r))
	hint := ""
	switch r {
	case ncclUnhandledCudaError:
		hint = " (a NCCL built for a newer CUDA than this driver supports, or a GPU shared by two ranks? NCCL_DEBUG=WARN prints NCCL's reason)"
	case ncclSystemError, ncclInternalError, ncclRemoteError:
		hint = " (NCCL_DEBUG=WARN prints NCCL's reason)"
	}
	return fmt.Errorf("nccl: %s: %s (ncclResult_t %d)%s", call, msg, int(r), hint)
}

// UniqueID returns a new ncclUniqueId (rank 0 makes it; every rank passes it to NewComm).
func (l *Lib) UniqueID() ([]byte, error) {
	id := make([]byte, UniqueIDBytes)
	buf := C.calloc(1, UniqueIDBytes)
	defer C.free(buf)
	if err := l.check("ncclGetUniqueId", C.pc_get_unique_id(l.fns, buf)); err != nil {
		return nil, err
	}
	copy(id, unsafe.Slice((*byte)(buf), UniqueIDBytes))
	return id, nil
}

// initRank is ncclCommInitRank (on the thread of the device's current context).
func (l *Lib) initRank(size int, id []byte, rank int) (unsafe.Pointer, error) {
	if len(id) != UniqueIDBytes {
		return nil, fmt.Errorf("nccl: a unique id of %d bytes, want %d", len(id), UniqueIDBytes)
	}
	buf := C.calloc(1, UniqueIDBytes)
	defer C.free(buf)
	copy(unsafe.Slice((*byte)(buf), UniqueIDBytes), id)
	var c C.pc_comm
	if err := l.check("ncclCommInitRank", C.pc_comm_init_rank(l.fns, &c, C.int(size), buf, C.int(rank))); err != nil {
		return nil, err
	}
	return unsafe.Pointer(c), nil
}

// The collectives and the communicator's end, on a communicator of initRank, with device
// pointers and a stream as integers (the C wrappers cast them back).

func (l *Lib) allGather(send, recv uintptr, n int, typ int, comm unsafe.Pointer, stream uintptr) error {
	return l.check("ncclAllGather", C.pc_all_gather(l.fns, C.uintptr_t(send), C.uintptr_t(recv), C.size_t(n), C.int(typ), C.pc_comm(comm), C.uintptr_t(stream)))
}

func (l *Lib) allReduceSum(call string, buf uintptr, n int, typ int, comm unsafe.Pointer, stream uintptr) error {
	return l.check(call, C.pc_all_reduce(l.fns, C.uintptr_t(buf), C.uintptr_t(buf), C.size_t(n), C.int(typ), ncclSum, C.pc_comm(comm), C.uintptr_t(stream)))
}

func (l *Lib) broadcast(buf uintptr, n int, typ int, root int, comm unsafe.Pointer, stream uintptr) error {
	return l.check("ncclBroadcast", C.pc_broadcast(l.fns, C.uintptr_t(buf), C.uintptr_t(buf), C.size_t(n), C.int(typ), C.int(root), C.pc_comm(comm), C.uintptr_t(stream)))
}

func (l *Lib) destroy(comm unsafe.Pointer) error {
	return l.check("ncclCommDestroy", C.pc_comm_destroy(l.fns, C.pc_comm(comm)))
}

func (l *Lib) abort(comm unsafe.Pointer) error {
	return l.check("ncclCommAbort", C.pc_comm_abort(l.fns, C.pc_comm(comm)))
}
