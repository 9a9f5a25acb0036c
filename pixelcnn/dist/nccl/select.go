// Package nccl is the dist.Comm of GPUs: NVIDIA's NCCL, loaded at run time with dlopen
// (libnccl.so.2, or PIXELCNN_NCCL_LIB) through our own declarations of its C API, so that
// building needs no nccl.h and the GPU host supplies a NCCL that matches its CUDA and glibc.
// One rank per GPU: the local rank (LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID or
// MPI's shared-memory rank) picks it, unless PIXELCNN_CUDA_DEVICE names one.
//
// The communicator stages host buffers: every collective copies its []float32 or []byte to a
// device buffer, runs on the GPU and copies the result back, so it plugs into dist.Reducer
// (the trainer's gradients are on the host when they are reduced) with no trainer change.
//
// The ranks share NCCL's unique id through the MPI world when mpirun started them, or through
// the torchrun rendezvous (dist.ShareID: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT) otherwise.
//
// The NCCL code is in files with the cuda build tag; this file (the selection of --comm) is in
// every build. The package does not import gorgonia.org/cu: the GPU memory and stream come
// through Device, which the cuda package registers (RegisterDevice), so the package's own
// tests run on machines with no GPU.
package nccl

import (
	"fmt"
	"unsafe"

	"pixelcnn/pixelcnn/dist"
)

// Device is the GPU side of a Comm: device memory, copies and a stream on one GPU's context.
// Every method but Run, Ordinal and Name is called inside Run.
type Device interface {
	Ordinal() int
	Name() string
	// Run calls fn on a locked OS thread with the device's context current (NCCL's calls need
	// it), one call at a time.
	Run(fn func() error) error
	Alloc(bytes int) (uintptr, error)
	Free(ptr uintptr) error
	// CopyToDevice and CopyToHost enqueue a copy on Stream (host memory is pageable: the copy
	// to the device has read it, the copy to the host has written it, when they return).
	CopyToDevice(dst uintptr, src unsafe.Pointer, bytes int) error
	CopyToHost(dst unsafe.Pointer, src uintptr, bytes int) error
	// Stream is the CUstream (a cudaStream_t) the collectives run on.
	Stream() uintptr
	// Sync waits for everything enqueued on Stream.
	Sync() error
	// Close frees the stream and releases the context (after Run's last call).
	Close() error
}

// DeviceOpener opens the GPU of an ordinal as a Device.
type DeviceOpener func(ordinal int) (Device, error)

var openDevice DeviceOpener

// RegisterDevice makes open the way this package reaches GPUs (the cuda package calls it from
// its init).
func RegisterDevice(open DeviceOpener) { openDevice = open }

// Comm kinds, the values of cmd/train's --comm.
const (
	Auto = "auto" // nccl for a cuda run of more than one rank in a cuda build; else mpi
	MPI  = "mpi"  // the world dist.Open returned (MPI, or the single process)
	NCCL = "nccl" // NCCL on the GPUs (the cuda build, --device cuda)
)

// Available reports whether this binary can open NCCL communicators: built with -tags cuda,
// with the cuda package linked in.
func Available() bool { return hasNCCL && openDevice != nil }

// Select returns the communicator of a run with --comm kind on --device device, given the
// world dist.Open returned. mpi, and auto in a build without cuda or on another device than
// cuda, return world itself. nccl (and auto on --device cuda for a world of more than one
// rank: MPI's, or WORLD_SIZE's when torchrun started this process) opens NCCL on this rank's
// GPU; the result owns world (its Close closes world too).
func Select(kind, device string, world dist.Comm) (dist.Comm, error) {
	switch kind {
	case Auto, MPI, NCCL:
	default:
		return nil, fmt.Errorf("--comm %q: want auto (nccl for --device cuda with more than one rank, else mpi), mpi or nccl", kind)
	}
	if kind == MPI || (kind == Auto && (!Available() || device != "cuda")) {
		return world, nil
	}
	if kind == NCCL {
		if !hasNCCL {
			return nil, fmt.Errorf("--comm nccl: this binary was built without -tags cuda, and NCCL runs only in the cuda build (make gpu-bins)")
		}
		if openDevice == nil {
			return nil, fmt.Errorf("--comm nccl: this binary has no GPU backend (it does not link pixelcnn/cuda)")
		}
		if device != "cuda" {
			return nil, fmt.Errorf("--comm nccl needs --device cuda (NCCL's collectives run on GPUs), not --device %s", device)
		}
	}
	var tr *dist.TorchrunEnv
	if world.Size() == 1 {
		e, ok, err := dist.TorchrunFromEnv(nil)
		if err != nil {
			return nil, err
		}
		if ok {
			tr = &e
		}
	}
	if kind == Auto && world.Size() == 1 && (tr == nil || tr.WorldSize == 1) {
		return world, nil
	}
	return openNCCL(world, tr)
}
