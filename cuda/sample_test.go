//go:build cuda

package cuda

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
)

// onBoth returns the same randomly initialised model on the CPU and on the GPU (through a
// checkpoint, which is also what a user does).
func onBoth(t testing.TB, c pixelcnn.Config) (cpuModel, gpuModel *pixelcnn.Model) {
	t.Helper()
	m, err := pixelcnn.NewModel(cpu.New(), c, 21)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := pixelcnn.Save(path, m, nil, ""); err != nil {
		t.Fatal(err)
	}
	var b nn.Backend
	if tt, ok := t.(*testing.T); ok {
		b = gpu(tt)
	} else {
		sharedOnce.Do(func() { shared, sharedErr = New() })
		if sharedErr != nil {
			t.Fatal(sharedErr)
		}
		b = shared
	}
	ck, err := pixelcnn.Load(path, b)
	if err != nil {
		t.Fatal(err)
	}
	return m, ck.Model
}

// samplerModes are the GPU cached sampler's switches: the version 2 position kernel with the
// draw on the device, replayed as a CUDA graph or launched op by op; the host draw; and the
// version 1 baseline (host draw, one thread per output and per row).
var samplerModes = []struct {
	name         string
	at           int
	draw, graphs bool
}{
	{"graphs", 2, true, true},
	{"plain", 2, true, false},
	{"host-draw", 2, false, false},
	{"v1", 1, false, false},
}

// setMode switches b to mode m; the returned func restores the defaults.
func setMode(t testing.TB, b *Backend, at int, draw, graphs bool) func() {
	t.Helper()
	if err := b.SetAtVersion(at); err != nil {
		t.Fatal(err)
	}
	b.SetDeviceDraw(draw)
	b.SetGraphs(graphs)
	return func() {
		_ = b.SetAtVersion(2)
		b.SetDeviceDraw(true)
		b.SetGraphs(true)
	}
}

// TestSamplersOnGPU: on the GPU the cached sampler draws exactly the naive sampler's images
// in every mode (the position kernels run the forward's fmaf chains, the device draw is
// SampleCategorical's), from scratch and as completions, at two temperatures; and both match
// the CPU's images. The GPU-vs-CPU comparison is exact only while no draw lands within fp32
// rounding of a CDF boundary (a few in a million per draw); the first row of every image is
// required to match, the rest is reported.
func TestSamplersOnGPU(t *testing.T) {
	for _, colors := range []int{1, 3} {
		c := pixelcnn.Config{Colors: colors, Height: 7, Width: 6, Hidden: 6, Blocks: 2, OutDim: 12}
		cm, gm := onBoth(t, c)
		b := gm.B.(*Backend)
		known := make([]uint8, 5*c.Subpixels())
		for i := range known {
			known[i] = uint8(i * 37)
		}
		for _, o := range []pixelcnn.SampleOptions{
			{N: 4, Seed: 9, Temperature: 1},
			{N: 5, Seed: 10, Temperature: 0.7, Known: known, KeepRows: 2},
		} {
			naive, err := pixelcnn.SampleNaive(gm, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range samplerModes {
				restore := setMode(t, b, m.at, m.draw, m.graphs)
				cached, err := pixelcnn.SampleCached(gm, o)
				restore()
				if err != nil {
					t.Fatal(err)
				}
				for i := range naive {
					if naive[i] != cached[i] {
						t.Fatalf("C=%d T=%v keep=%d %s: GPU cached and naive differ at subpixel %d: %d vs %d",
							colors, o.Temperature, o.KeepRows, m.name, i, cached[i], naive[i])
					}
				}
			}
		}
		o := pixelcnn.SampleOptions{N: 4, Seed: 9, Temperature: 1}
		cached, err := pixelcnn.SampleCached(gm, o)
		if err != nil {
			t.Fatal(err)
		}
		onCPU, err := pixelcnn.SampleCached(cm, o)
		if err != nil {
			t.Fatal(err)
		}
		row, img := c.Width*colors, c.Subpixels()
		same := 0
		for n := 0; n < o.N; n++ {
			for k := 0; k < row; k++ {
				if onCPU[n*img+k] != cached[n*img+k] {
					t.Errorf("C=%d image %d: first row differs from the CPU at %d", colors, n, k)
				}
			}
			if string(onCPU[n*img:(n+1)*img]) == string(cached[n*img:(n+1)*img]) {
				same++
			}
		}
		t.Logf("C=%d: %d of %d images identical to the CPU's", colors, same, o.N)
	}
}

// TestSampleTooManyImages: a sample that cannot fit in the GPU's memory fails before anything
// is launched, naming the memory needed and free.
func TestSampleTooManyImages(t *testing.T) {
	c := pixelcnn.Config{Colors: 3, Height: 32, Width: 32, Hidden: 192, Blocks: 15, OutDim: 12}
	_, gm := onBoth(t, c)
	free, _, err := gm.B.(*Backend).MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	perImage := int64(32*32*(3+15*192)) * 4
	n := int(free/perImage) + 1
	_, err = pixelcnn.SampleCached(gm, pixelcnn.SampleOptions{N: n, Seed: 1, Temperature: 1})
	if err == nil || !strings.Contains(err.Error(), "GiB free") {
		t.Fatalf("%d images (%d bytes free): error %v, want one naming the memory", n, free, err)
	}
	t.Log(err)
}

// BenchmarkSampleGPU times the cached sampler on the GPU for the mnist (28x28x1) and cifar10
// (32x32x3) presets, 16 and 64 images, with CUDA graphs and with plain launches (the goals:
// 16 cifar10 images in under a second, 16 mnist images under 0.1 s).
func BenchmarkSampleGPU(b *testing.B) {
	for _, p := range []struct {
		preset       string
		colors, size int
	}{{"mnist", 1, 28}, {"cifar10", 3, 32}} {
		c, err := pixelcnn.PresetConfig(p.preset, p.colors, p.size, p.size)
		if err != nil {
			b.Fatal(err)
		}
		_, gm := onBoth(b, c)
		be := gm.B.(*Backend)
		for _, n := range []int{16, 64} {
			for _, graphs := range []bool{true, false} {
				mode := map[bool]string{true: "graphs", false: "plain"}[graphs]
				b.Run(fmt.Sprintf("%s/%d/%s", p.preset, n, mode), func(b *testing.B) {
					defer setMode(b, be, 2, true, graphs)()
					o := pixelcnn.SampleOptions{N: n, Seed: 1, Temperature: 1}
					for range b.N {
						start := time.Now()
						if _, err := pixelcnn.SampleCached(gm, o); err != nil {
							b.Fatal(err)
						}
						el := time.Since(start).Seconds()
						b.ReportMetric(el, "s/run")
						b.ReportMetric(float64(n)/el, "images/s")
					}
				})
			}
		}
	}
}

// BenchmarkSampleCIFAR times the cached sampler for 16 images of the cifar10 preset on the
// GPU in the default mode (the first GPU run's benchmark: 9.83 s on the H200).
func BenchmarkSampleCIFAR(b *testing.B) {
	c, err := pixelcnn.PresetConfig("cifar10", 3, 32, 32)
	if err != nil {
		b.Fatal(err)
	}
	_, gm := onBoth(b, c)
	o := pixelcnn.SampleOptions{N: 16, Seed: 1, Temperature: 1}
	for range b.N {
		start := time.Now()
		if _, err := pixelcnn.SampleCached(gm, o); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/16images")
	}
}
