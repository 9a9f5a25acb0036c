//go:build mpi

package dist

/*
#cgo pkg-config: ompi-c
#include <stdlib.h>
#include <mpi.h>

// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, ...) are macros over addresses of its
// globals, which cgo cannot name: these one-line wrappers can.
static int pc_init(int *provided) {
	return MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
}
static int pc_errors_return(void) {
	return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}
static int pc_size(int *n) { return MPI_Comm_size(MPI_COMM_WORLD, n); }
static int pc_rank(int *r) { return MPI_Comm_rank(MPI_COMM_WORLD, r); }
static int pc_local_rank(int *r) {
	MPI_Comm local;
	int err = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
	if (err != MPI_SUCCESS) return err;
	err = MPI_Comm_rank(local, r);
	MPI_Comm_free(&local);
	return err;
}
static int pc_allgather_float(float *send, int n, float *recv) {
	return MPI_Allgather(send, n, MPI_FLOAT, recv, n, MPI_FLOAT, MPI_COMM_WORLD);
}
static int pc_allgather_bytes(void *send, int n, void *recv) {
	return MPI_Allgather(send, n, MPI_BYTE, recv, n, MPI_BYTE, MPI_COMM_WORLD);
}
static int pc_allreduce_sum_float(float *buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static int pc_bcast(void *buf, int n, int root) {
	return MPI_Bcast(buf, n, MPI_BYTE, root, MPI_COMM_WORLD);
}
static int pc_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static int pc_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }
static int pc_error_string(int code, char *buf, int *len) { return MPI_Error_string(code, buf, len); }
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"
)

// HasMPI reports whether this binary was built with the MPI implementation (-tags mpi).
const HasMPI = true

// launcherVars are set by the launchers that start MPI ranks (Open MPI's mpirun, PMIx as
// used by srun, MPICH's hydra). Without any of them this process was started by hand.
var launcherVars = []string{"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}

// Open returns the MPI world when a launcher started this process, and the single process
// with a notice otherwise (MPI's singleton start would work too, but a hand-started binary is
// most often a mistake worth naming).
func Open() (c Comm, notice string, err error) {
	if !launched() {
		return Single{}, "note: this MPI build was not started by mpirun or srun: world size 1 (launch it with e.g. mpirun -np 2)", nil
	}
	m, err := openMPI()
	if err != nil {
		return nil, "", err
	}
	return m, "", nil
}

func launched() bool {
	for _, v := range launcherVars {
		if os.Getenv(v) != "" {
			return true
		}
	}
	return false
}

// MPI is the world of MPI_COMM_WORLD. Calls are serialised (MPI_THREAD_SERIALIZED): Go may run
// them on any OS thread, never two at once.
type MPI struct {
	mu                    sync.Mutex
	size, rank, localRank int
	closed                bool
}

func openMPI() (*MPI, error) {
	var provided C.int
	if err := check("MPI_Init_thread", C.pc_init(&provided)); err != nil {
		return nil, err
	}
	if provided < C.MPI_THREAD_SERIALIZED {
		return nil, fmt.Errorf("dist: MPI provides thread level %d, this program needs MPI_THREAD_SERIALIZED (%d): use an MPI built with thread support", int(provided), int(C.MPI_THREAD_SERIALIZED))
	}
	// Errors return to us (the default handler aborts the job with MPI's own message).
	if err := check("MPI_Comm_set_errhandler", C.pc_errors_return()); err != nil {
		return nil, err
	}
	var size, rank, local C.int
	if err := check("MPI_Comm_size", C.pc_size(&size)); err != nil {
		return nil, err
	}
	if err := check("MPI_Comm_rank", C.pc_rank(&rank)); err != nil {
		return nil, err
	}
	if err := check("MPI_Comm_split_type", C.pc_local_rank(&local)); err != nil {
		return nil, err
	}
	return &MPI{size: int(size), rank: int(rank), localRank: int(local)}, nil
}

// check turns an MPI return code into an error naming the call and MPI's message.
func check(call string, code C.int) error {
	if code == C.MPI_SUCCESS {
		return nil
	}
	buf := make([]byte, C.MPI_MAX_ERROR_STRING)
	var n C.int
	msg := fmt.Sprintf("error code %d", int(code))
	if C.pc_error_string(code, (*C.char)(unsafe.Pointer(&buf[0])), &n) == C.MPI_SUCCESS {
		msg = string(buf[:n])
	}
	return fmt.Errorf("dist: %s: %s", call, msg)
}

func (m *MPI) Size() int      { return m.size }
func (m *MPI) Rank() int      { return m.rank }
func (m *MPI) LocalRank() int { return m.localRank }
func (m *MPI) Name() string {
	return fmt.Sprintf("mpi rank %d/%d (local rank %d)", m.rank, m.size, m.localRank)
}

// count checks that an MPI message length fits MPI's int count.
func count(what string, n int) (C.int, error) {
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("dist: %s of %d elements: more than MPI's int count holds", what, n)
	}
	return C.int(n), nil
}

func (m *MPI) gatherLengths(what string, send, recv int) (C.int, error) {
	if recv != send*m.size {
		return 0, fmt.Errorf("dist: %s of %d elements into %d (want %d: world size %d)", what, send, recv, send*m.size, m.size)
	}
	return count(what, send)
}

func (m *MPI) AllgatherFloat32(send, recv []float32) error {
	n, err := m.gatherLengths("allgather", len(send), len(recv))
	if err != nil || n == 0 {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return check("MPI_Allgather", C.pc_allgather_float((*C.float)(&send[0]), n, (*C.float)(&recv[0])))
}

func (m *MPI) AllgatherBytes(send, recv []byte) error {
	n, err := m.gatherLengths("allgather", len(send), len(recv))
	if err != nil || n == 0 {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return check("MPI_Allgather", C.pc_allgather_bytes(unsafe.Pointer(&send[0]), n, unsafe.Pointer(&recv[0])))
}

func (m *MPI) AllreduceSumFloat32(buf []float32) error {
	n, err := count("allreduce", len(buf))
	if err != nil || n == 0 {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return check("MPI_Allreduce", C.pc_allreduce_sum_float((*C.float)(&buf[0]), n))
}

func (m *MPI) Broadcast(buf []byte, root int) error {
	if root < 0 || root >= m.size {
		return fmt.Errorf("dist: broadcast from rank %d in a world of %d", root, m.size)
	}
	n, err := count("broadcast", len(buf))
	if err != nil || n == 0 {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return check("MPI_Bcast", C.pc_bcast(unsafe.Pointer(&buf[0]), n, C.int(root)))
}

func (m *MPI) Barrier() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return check("MPI_Barrier", C.pc_barrier())
}

// Abort ends every rank: mpirun kills the job and exits with code. It does not return (when
// MPI_Abort itself fails, the process exits on its own).
func (m *MPI) Abort(code int) {
	C.pc_abort(C.int(code))
	os.Exit(code)
}

// Close finalises MPI (a collective: every rank must call it). Closing twice is a no-op.
func (m *MPI) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return check("MPI_Finalize", C.MPI_Finalize())
}
