package nccl

import (
	"strings"
	"testing"

	"pixelcnn/pixelcnn/dist"
)

func TestSelectKeepsTheWorld(t *testing.T) {
	// mpi always, and auto off the GPU or in a world of one, return dist.Open's world itself:
	// the default build behaves as before --comm existed.
	world := dist.Single{}
	for _, c := range []struct{ kind, device string }{
		{MPI, "cuda"}, {MPI, "cpu"}, {Auto, "cpu"}, {Auto, "auto"}, {Auto, "cuda"},
	} {
		got, err := Select(c.kind, c.device, world)
		if err != nil || got != dist.Comm(world) {
			t.Errorf("--comm %s --device %s: %v, %v; want the world itself", c.kind, c.device, got, err)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	if _, err := Select("gloo", "cuda", dist.Single{}); err == nil || !strings.Contains(err.Error(), `--comm "gloo": want auto`) {
		t.Errorf("an unknown --comm: %v", err)
	}
	_, err := Select(NCCL, "cuda", dist.Single{})
	switch {
	case !hasNCCL:
		if err == nil || !strings.Contains(err.Error(), "built without -tags cuda") {
			t.Errorf("--comm nccl without the cuda build: %v", err)
		}
	case openDevice == nil:
		if err == nil || !strings.Contains(err.Error(), "no GPU backend") {
			t.Errorf("--comm nccl without pixelcnn/cuda: %v", err)
		}
	}
	if hasNCCL {
		RegisterDevice(func(int) (Device, error) { panic("not called") })
		defer RegisterDevice(nil)
		if _, err := Select(NCCL, "cpu", dist.Single{}); err == nil || !strings.Contains(err.Error(), "needs --device cuda") {
			t.Errorf("--comm nccl --device cpu: %v", err)
		}
	}
}
