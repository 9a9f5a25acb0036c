//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/pixelcnn/dist/nccl"
)

// The GPU side of NCCL's communicator (pixelcnn/dist/nccl, which does not import
// gorgonia.org/cu): device memory, copies and a stream on a device's primary context, the
// context the Backend of the same ordinal uses.

func init() {
	nccl.RegisterDevice(func(ordinal int) (nccl.Device, error) { return openNCCLDevice(ordinal) })
}

type ncclDevice struct {
	mu      sync.Mutex
	ordinal int
	dev     cu.Device
	ctx     cu.CUContext
	name    string
	stream  cu.Stream
	closed  bool
}

func openNCCLDevice(ordinal int) (*ncclDevice, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	count, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: counting devices: %w", err)
	}
	if ordinal < 0 || ordinal >= count {
		return nil, fmt.Errorf("cuda: device %d requested, %d present (one rank per GPU: start at most %d ranks on this machine, or set PIXELCNN_CUDA_DEVICE)", ordinal, count, count)
	}
	d := &ncclDevice{ordinal: ordinal}
	if d.dev, err = cu.GetDevice(ordinal); err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	name, err := d.dev.Name()
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d name: %w", ordinal, err)
	}
	d.name = fmt.Sprintf("cuda:%d (%s)", ordinal, name)
	if d.ctx, err = d.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("cuda: %s: retaining the primary context: %w", d.name, err)
	}
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		_ = d.dev.ReleasePrimaryCtx()
		return nil, fmt.Errorf("cuda: %s: making the context current: %w", d.name, err)
	}
	// A blocking stream: ordered with the legacy default stream, where the Backend copies.
	if d.stream, err = cu.MakeStream(cu.DefaultStream); err != nil {
		_ = d.dev.ReleasePrimaryCtx()
		return nil, fmt.Errorf("cuda: %s: creating NCCL's stream: %w", d.name, err)
	}
	return d, nil
}

func (d *ncclDevice) Ordinal() int { return d.ordinal }
func (d *ncclDevice) Name() string { return d.name }

func (d *ncclDevice) Run(fn func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("cuda: %s: NCCL's device is closed", d.name)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuda: %s: binding the context: %w", d.name, err)
	}
	return fn()
}

func (d *ncclDevice) Alloc(bytes int) (uintptr, error) {
	p, err := cu.MemAlloc(int64(bytes))
	if err != nil {
		return 0, fmt.Errorf("cuda: %s: allocating %d bytes: %w", d.name, bytes, err)
	}
	return uintptr(p), nil
}

func (d *ncclDevice) Free(p uintptr) error {
	if err := cu.MemFree(cu.DevicePtr(p)); err != nil {
		return fmt.Errorf("cuda: %s: freeing: %w", d.name, err)
	}
	return nil
}

func (d *ncclDevice) CopyToDevice(dst uintptr, src unsafe.Pointer, bytes int) error {
	if err := cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, int64(bytes), d.stream); err != nil {
		return fmt.Errorf("cuda: %s: copying %d bytes to the device: %w", d.name, bytes, err)
	}
	return nil
}

func (d *ncclDevice) CopyToHost(dst unsafe.Pointer, src uintptr, bytes int) error {
	if err := cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), int64(bytes), d.stream); err != nil {
		return fmt.Errorf("cuda: %s: copying %d bytes to the host: %w", d.name, bytes, err)
	}
	return nil
}

func (d *ncclDevice) Stream() uintptr { return uintptr(unsafe.Pointer(cStream(d.stream))) }

func (d *ncclDevice) Sync() error {
	if err := d.stream.Synchronize(); err != nil {
		return fmt.Errorf("cuda: %s: NCCL's stream: %w", d.name, err)
	}
	return nil
}

func (d *ncclDevice) Close() error {
	err := d.Run(func() error { return d.stream.Destroy() })
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if rerr := d.dev.ReleasePrimaryCtx(); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("cuda: %s: closing NCCL's device: %w", d.name, err)
	}
	return nil
}
