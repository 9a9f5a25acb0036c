//go:build cuda

package nccl

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"pixelcnn/pixelcnn/dist"
)

const hasNCCL = true

// Comm is a NCCL communicator of one rank on one GPU, staging host buffers through device
// buffers (grown as needed and kept). Calls are serialised.
type Comm struct {
	mu                    sync.Mutex
	lib                   *Lib
	dev                   Device
	comm                  unsafe.Pointer // ncclComm_t
	rank, size, localRank int
	boot                  dist.Comm // the world the unique id came through (MPI), or nil
	send, recv            devBuf
	closed                bool
}

var _ dist.Comm = (*Comm)(nil)

// devBuf is a device staging buffer.
type devBuf struct {
	ptr   uintptr
	bytes int
}

// NewComm joins rank of a NCCL world of size ranks on dev, with the unique id every rank got
// from rank 0 (Lib.UniqueID). Every rank must call it at once: ncclCommInitRank waits for all.
// localRank is what LocalRank reports.
func NewComm(lib *Lib, dev Device, id []byte, rank, size, localRank int) (*Comm, error) {
	if size < 1 || rank < 0 || rank >= size {
		return nil, fmt.Errorf("nccl: rank %d of a world of %d", rank, size)
	}
	c := &Comm{lib: lib, dev: dev, rank: rank, size: size, localRank: localRank}
	err := dev.Run(func() error {
		var err error
		c.comm, err = lib.initRank(size, id, rank)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w (rank %d/%d on %s, %s NCCL %s)", err, rank, size, dev.Name(), lib.Name(), FormatVersion(lib.Version()))
	}
	return c, nil
}

func (c *Comm) Size() int      { return c.size }
func (c *Comm) Rank() int      { return c.rank }
func (c *Comm) LocalRank() int { return c.localRank }
func (c *Comm) Name() string {
	return fmt.Sprintf("nccl rank %d/%d (gpu %d)", c.rank, c.size, c.dev.Ordinal())
}

// ensure grows b to at least n bytes (inside Run).
func (c *Comm) ensure(b *devBuf, n int) error {
	if b.bytes >= n {
		return nil
	}
	if b.ptr != 0 {
		if err := c.dev.Free(b.ptr); err != nil {
			return err
		}
		b.ptr, b.bytes = 0, 0
	}
	n = max(n, 4096)
	p, err := c.dev.Alloc(n)
	if err != nil {
		return fmt.Errorf("nccl: a staging buffer of %d bytes on %s: %w", n, c.dev.Name(), err)
	}
	b.ptr, b.bytes = p, n
	return nil
}

// run runs fn in the device's context, with the Comm locked and open.
func (c *Comm) run(fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("nccl: the communicator is closed")
	}
	return c.dev.Run(fn)
}

// allgather gathers n elements of elem bytes each from every rank: send to the device, the
// collective, the result back.
func (c *Comm) allgather(send unsafe.Pointer, recv unsafe.Pointer, n, elem int, typ int) error {
	bytes := n * elem
	return c.run(func() error {
		if err := c.ensure(&c.send, bytes); err != nil {
			return err
		}
		if err := c.ensure(&c.recv, bytes*c.size); err != nil {
			return err
		}
		if err := c.dev.CopyToDevice(c.send.ptr, send, bytes); err != nil {
			return err
		}
		if err := c.lib.allGather(c.send.ptr, c.recv.ptr, n, typ, c.comm, c.dev.Stream()); err != nil {
			return err
		}
		if err := c.dev.CopyToHost(recv, c.recv.ptr, bytes*c.size); err != nil {
			return err
		}
		return c.dev.Sync()
	})
}

func (c *Comm) gatherLengths(send, recv int) error {
	if recv != send*c.size {
		return fmt.Errorf("nccl: allgather of %d elements into %d (want %d: world size %d)", send, recv, send*c.size, c.size)
	}
	return nil
}

func (c *Comm) AllgatherFloat32(send, recv []float32) error {
	if err := c.gatherLengths(len(send), len(recv)); err != nil || len(send) == 0 {
		return err
	}
	return c.allgather(unsafe.Pointer(&send[0]), unsafe.Pointer(&recv[0]), len(send), 4, ncclFloat32)
}

func (c *Comm) AllgatherBytes(send, recv []byte) error {
	if err := c.gatherLengths(len(send), len(recv)); err != nil || len(send) == 0 {
		return err
	}
	return c.allgather(unsafe.Pointer(&send[0]), unsafe.Pointer(&recv[0]), len(send), 1, ncclUint8)
}

// AllreduceSumFloat32 is ncclAllReduce with ncclSum, in place on the device: NCCL's order
// (not bit-reproducible).
func (c *Comm) AllreduceSumFloat32(buf []float32) error {
	if len(buf) == 0 {
		return nil
	}
	bytes := 4 * len(buf)
	return c.run(func() error {
		if err := c.ensure(&c.send, bytes); err != nil {
			return err
		}
		if err := c.dev.CopyToDevice(c.send.ptr, unsafe.Pointer(&buf[0]), bytes); err != nil {
			return err
		}
		if err := c.lib.allReduceSum("ncclAllReduce", c.send.ptr, len(buf), ncclFloat32, c.comm, c.dev.Stream()); err != nil {
			return err
		}
		if err := c.dev.CopyToHost(unsafe.Pointer(&buf[0]), c.send.ptr, bytes); err != nil {
			return err
		}
		return c.dev.Sync()
	})
}

func (c *Comm) Broadcast(buf []byte, root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("nccl: broadcast from rank %d in a world of %d", root, c.size)
	}
	if len(buf) == 0 {
		return nil
	}
	return c.run(func() error {
		if err := c.ensure(&c.send, len(buf)); err != nil {
			return err
		}
		if err := c.dev.CopyToDevice(c.send.ptr, unsafe.Pointer(&buf[0]), len(buf)); err != nil {
			return err
		}
		if err := c.lib.broadcast(c.send.ptr, len(buf), ncclUint8, root, c.comm, c.dev.Stream()); err != nil {
			return err
		}
		if err := c.dev.CopyToHost(unsafe.Pointer(&buf[0]), c.send.ptr, len(buf)); err != nil {
			return err
		}
		return c.dev.Sync()
	})
}

// Barrier is an allreduce of one float on the device, waited for.
func (c *Comm) Barrier() error {
	return c.run(func() error {
		if err := c.ensure(&c.send, 4); err != nil {
			return err
		}
		if err := c.lib.allReduceSum("ncclAllReduce (barrier)", c.send.ptr, 1, ncclFloat32, c.comm, c.dev.Stream()); err != nil {
			return err
		}
		return c.dev.Sync()
	})
}

// Abort ends this rank at once: ncclCommAbort (which also ends this rank's part in any
// collective in flight; given 10 s, and called outside Run, which a collective in flight may
// hold), then the bootstrap world's Abort when there is one of more than one rank (mpirun then
// ends the job), else os.Exit (torchrun then ends the other ranks).
func (c *Comm) Abort(code int) {
	if c.comm != nil {
		done := make(chan struct{})
		go func() {
			_ = c.lib.abort(c.comm)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
	if c.boot != nil && c.boot.Size() > 1 {
		c.boot.Abort(code)
	}
	os.Exit(code)
}

// Close destroys the communicator, frees the staging buffers, closes the device and then the
// bootstrap world. Closing twice is a no-op.
func (c *Comm) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.dev.Run(func() error {
		err := c.lib.destroy(c.comm)
		for _, b := range []*devBuf{&c.send, &c.recv} {
			if b.ptr != 0 {
				if ferr := c.dev.Free(b.ptr); err == nil {
					err = ferr
				}
				b.ptr, b.bytes = 0, 0
			}
		}
		return err
	})
	if derr := c.dev.Close(); err == nil {
		err = derr
	}
	if c.boot != nil {
		if berr := c.boot.Close(); err == nil {
			err = berr
		}
	}
	return err
}

// openNCCL opens this rank's NCCL communicator: the rank, world size and local rank come from
// world when it has more than one rank (MPI: the id is broadcast over it), else from tr (the
// torchrun rendezvous), else this is a world of one. PIXELCNN_CUDA_DEVICE, else the local rank,
// picks the GPU; PIXELCNN_CUDA_DEVICE is then set to it, so that the cuda backend opens the
// same GPU.
func openNCCL(world dist.Comm, tr *dist.TorchrunEnv) (dist.Comm, error) {
	rank, size, local := 0, 1, 0
	switch {
	case world.Size() > 1:
		rank, size, local = world.Rank(), world.Size(), world.LocalRank()
	case tr != nil:
		rank, size, local = tr.Rank, tr.WorldSize, tr.LocalRank
	}
	where := fmt.Sprintf("nccl rank %d/%d", rank, size)
	lib, dev, err := openLocal(local)
	if world.Size() > 1 {
		// Every rank learns whether every other could load NCCL and open its GPU before any
		// waits in a broadcast or in ncclCommInitRank.
		if aerr := agreeOpen(world, err); aerr != nil {
			if dev != nil {
				_ = dev.Close()
			}
			return nil, fmt.Errorf("%s: %w", where, aerr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	fail := func(err error) (dist.Comm, error) {
		_ = dev.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var id []byte
	newID := func() ([]byte, error) {
		var id []byte
		err := dev.Run(func() error {
			var err error
			id, err = lib.UniqueID()
			return err
		})
		return id, err
	}
	switch {
	case world.Size() > 1:
		id = make([]byte, UniqueIDBytes)
		var idErr error
		if rank == 0 {
			var made []byte
			if made, idErr = newID(); idErr == nil {
				copy(id, made)
			}
		}
		// A failure of rank 0 travels as an id of zeros and a status byte.
		msg := append([]byte{0}, id...)
		if idErr != nil {
			msg[0] = 1
		}
		if err := world.Broadcast(msg, 0); err != nil {
			return fail(err)
		}
		if idErr != nil {
			return fail(idErr)
		}
		if msg[0] != 0 {
			return fail(fmt.Errorf("rank 0 failed to make NCCL's unique id (its error is printed above)"))
		}
		id = msg[1:]
	case tr != nil && tr.WorldSize > 1:
		if id, err = dist.ShareID(*tr, newID); err != nil {
			return fail(err)
		}
	default:
		if id, err = newID(); err != nil {
			return fail(err)
		}
	}
	c, err := NewComm(lib, dev, id, rank, size, local)
	if err != nil {
		return fail(err)
	}
	if world.Size() > 1 {
		c.boot = world
	}
	return c, nil
}

// openLocal loads NCCL and opens this rank's GPU (PIXELCNN_CUDA_DEVICE, else the local rank).
func openLocal(local int) (*Lib, Device, error) {
	lib, err := Load()
	if err != nil {
		return nil, nil, err
	}
	if openDevice == nil {
		return nil, nil, fmt.Errorf("nccl: no GPU device provider (the binary must link pixelcnn/cuda)")
	}
	ordinal := local
	if s := os.Getenv("PIXELCNN_CUDA_DEVICE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return nil, nil, fmt.Errorf("nccl: PIXELCNN_CUDA_DEVICE=%q is not a device ordinal", s)
		}
		ordinal = v
	} else if err := os.Setenv("PIXELCNN_CUDA_DEVICE", strconv.Itoa(ordinal)); err != nil {
		return nil, nil, err
	}
	dev, err := openDevice(ordinal)
	if err != nil {
		return nil, nil, fmt.Errorf("nccl: GPU %d (local rank %d; one rank per GPU): %w", ordinal, local, err)
	}
	return lib, dev, nil
}

// agreeOpen gathers every rank's status: nil when all opened, err on a rank that failed, an
// error naming the failed ranks on the others.
func agreeOpen(world dist.Comm, err error) error {
	status := []byte{0}
	if err != nil {
		status[0] = 1
	}
	all := make([]byte, world.Size())
	if gerr := world.AllgatherBytes(status, all); gerr != nil {
		return gerr
	}
	if err != nil {
		return err
	}
	var failed []int
	for r, s := range all {
		if s != 0 {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("rank %v could not open NCCL on its GPU (its error is printed above); every rank stops", failed)
	}
	return nil
}
