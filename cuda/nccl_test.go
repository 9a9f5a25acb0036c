//go:build cuda

package cuda

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pixelcnn/pixelcnn/dist"
	"pixelcnn/pixelcnn/dist/nccl"
)

// TestNCCLOneRank opens a NCCL communicator of one rank on this GPU (through --comm's
// selection, as cmd/train does, next to the Backend on the same GPU) and runs every collective
// on real data, the staging buffers growing between calls. It skips when no NCCL loads
// (PIXELCNN_NCCL_LIB names one; tools/gpucheck.sh looks for PyTorch's).
func TestNCCLOneRank(t *testing.T) {
	if _, err := nccl.Load(); err != nil {
		t.Skipf("no NCCL on this machine: %v", err)
	}
	b := gpu(t)
	ordinal := 0
	if s, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(b.Name(), " ", 2)[0], "cuda:")); err == nil {
		ordinal = s
	}
	t.Setenv("PIXELCNN_CUDA_DEVICE", strconv.Itoa(ordinal))
	c, err := nccl.Select(nccl.NCCL, "cuda", dist.Single{})
	if err != nil {
		t.Fatal(err)
	}
	lib, _ := nccl.Load()
	t.Logf("%s: %s, NCCL %s", c.Name(), lib.Name(), nccl.FormatVersion(lib.Version()))
	if want := "nccl rank 0/1 (gpu " + strconv.Itoa(ordinal) + ")"; c.Name() != want || c.Size() != 1 || c.Rank() != 0 {
		t.Fatalf("name %q size %d rank %d, want %q 1 0", c.Name(), c.Size(), c.Rank(), want)
	}
	for _, n := range []int{3, 100_003, 1 << 20} { // growing buffers
		vs := make([]float32, n)
		for i := range vs {
			vs[i] = float32(math.Sin(float64(i)*0.37) * math.Pow(10, float64(i%9-4)))
		}
		got := make([]float32, n)
		if err := c.AllgatherFloat32(vs, got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, vs) {
			t.Fatalf("allgather of %d floats: the result differs", n)
		}
		sum := slices.Clone(vs)
		if err := c.AllreduceSumFloat32(sum); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sum, vs) {
			t.Fatalf("allreduce of %d floats over one rank: the result differs", n)
		}
		bs := make([]byte, n)
		for i := range bs {
			bs[i] = byte(i * 7)
		}
		gotb := make([]byte, n)
		if err := c.AllgatherBytes(bs, gotb); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gotb, bs) {
			t.Fatalf("allgather of %d bytes: the result differs", n)
		}
		bc := slices.Clone(bs)
		if err := c.Broadcast(bc, 0); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(bc, bs) {
			t.Fatalf("broadcast of %d bytes: the result differs", n)
		}
	}
	if err := c.Broadcast(make([]byte, 4), 1); err == nil {
		t.Error("a broadcast from rank 1 of 1: no error")
	}
	if err := c.AllgatherFloat32(make([]float32, 2), make([]float32, 3)); err == nil {
		t.Error("an allgather into the wrong length: no error")
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}
	// The reductions the trainer runs, over the communicator.
	local := [][]float32{{1, 2, 3}, {0.5, 0.25, 1e-8}}
	want := make([]float32, 3)
	dist.SumInOrder(want, local)
	for _, mode := range []dist.Reduction{dist.Exact, dist.Fast} {
		sum := make([]float32, 3)
		if err := (&dist.Reducer{Comm: c, Mode: mode}).Sum(sum, local); err != nil || !slices.Equal(sum, want) {
			t.Fatalf("%s reduction: %v, %v; want %v", mode, sum, err, want)
		}
	}
	if ok, err := dist.AnyTrue(c, true); err != nil || !ok {
		t.Fatalf("AnyTrue: %v, %v", ok, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if err := c.Barrier(); err == nil {
		t.Error("a barrier after Close: no error")
	}
	// The Backend goes on on the same GPU after the communicator released its context.
	if err := b.Synchronize(); err != nil {
		t.Fatalf("the backend after NCCL's Close: %v", err)
	}
}
