//go:build cuda

package nccl

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"pixelcnn/pixelcnn/dist"
)

func TestLoadMissingLibrary(t *testing.T) {
	_, err := LoadLibrary("/nonexistent/libnccl.so.2")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"cannot load /nonexistent/libnccl.so.2",
		"No such file or directory", // dlerror's text
		"install NVIDIA's libnccl2 matching your CUDA major version",
		"nvidia-nccl-cu12", "PIXELCNN_NCCL_LIB",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	t.Log(msg)
}

func TestLoadNotNCCL(t *testing.T) {
	// A library that loads but is not NCCL: the first missing symbol is named.
	_, err := LoadLibrary("libc.so.6")
	if err == nil || !strings.Contains(err.Error(), "libc.so.6 has no ncclGetVersion") || !strings.Contains(err.Error(), "libnccl2") {
		t.Fatalf("error %v, want one naming ncclGetVersion and what to install", err)
	}
}

// fakeDevice opens and closes but must not be used for collectives (no NCCL here).
type fakeDevice struct{ closed bool }

func (d *fakeDevice) Ordinal() int                                    { return 0 }
func (d *fakeDevice) Name() string                                    { return "fake gpu" }
func (d *fakeDevice) Run(fn func() error) error                       { return fn() }
func (d *fakeDevice) Alloc(int) (uintptr, error)                      { return 0, errors.New("fake") }
func (d *fakeDevice) Free(uintptr) error                              { return nil }
func (d *fakeDevice) CopyToDevice(uintptr, unsafe.Pointer, int) error { return errors.New("fake") }
func (d *fakeDevice) CopyToHost(unsafe.Pointer, uintptr, int) error   { return errors.New("fake") }
func (d *fakeDevice) Stream() uintptr                                 { return 0 }
func (d *fakeDevice) Sync() error                                     { return nil }
func (d *fakeDevice) Close() error                                    { d.closed = true; return nil }

func TestSelectNCCLMissingLibrary(t *testing.T) {
	// The process's Load happens once: this is the only test that calls it.
	t.Setenv("PIXELCNN_NCCL_LIB", "/nonexistent/libnccl.so.2")
	t.Setenv("PIXELCNN_CUDA_DEVICE", "0")
	RegisterDevice(func(int) (Device, error) { return &fakeDevice{}, nil })
	defer RegisterDevice(nil)
	_, err := Select(NCCL, "cuda", dist.Single{})
	if err == nil || !strings.Contains(err.Error(), "nccl rank 0/1: nccl: cannot load /nonexistent/libnccl.so.2") {
		t.Fatalf("error %v, want one naming the rank and the library", err)
	}
	// Two ranks (a local world standing in for MPI's): both stop, each with its reason, and
	// neither waits for the other in a broadcast.
	ws := dist.NewLocal(2)
	errs := make([]error, 2)
	done := make(chan int)
	for r := range ws {
		go func() {
			_, errs[r] = Select(Auto, "cuda", ws[r])
			done <- r
		}()
	}
	<-done
	<-done
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "cannot load /nonexistent/libnccl.so.2") {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

func TestAgreeOpen(t *testing.T) {
	ws := dist.NewLocal(3)
	errs := make([]error, 3)
	done := make(chan bool)
	for r := range ws {
		go func() {
			var err error
			if r == 1 {
				err = errors.New("no GPU 1")
			}
			errs[r] = agreeOpen(ws[r], err)
			done <- true
		}()
	}
	for range ws {
		<-done
	}
	if errs[1] == nil || errs[1].Error() != "no GPU 1" {
		t.Errorf("rank 1: %v, want its own error", errs[1])
	}
	for _, r := range []int{0, 2} {
		if errs[r] == nil || !strings.Contains(errs[r].Error(), "rank [1] could not open NCCL") {
			t.Errorf("rank %d: %v, want one naming rank 1", r, errs[r])
		}
	}
}
