//go:build cuda

package cuda

import (
	"path/filepath"
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

// TestSamplersOnGPU: on the GPU the cached sampler draws exactly the naive sampler's images
// (the position kernel maskedconv_at_v1 runs the same fmaf chain as the full forward), and
// both match the CPU's images. The GPU-vs-CPU comparison is exact only while no draw lands
// within fp32 rounding of a CDF boundary (a few in a million per draw); the first row of every
// image is required to match, the rest is reported.
func TestSamplersOnGPU(t *testing.T) {
	for _, colors := range []int{1, 3} {
		c := pixelcnn.Config{Colors: colors, Height: 7, Width: 6, Hidden: 6, Blocks: 2, OutDim: 12}
		cm, gm := onBoth(t, c)
		o := pixelcnn.SampleOptions{N: 4, Seed: 9, Temperature: 1}
		cached, err := pixelcnn.SampleCached(gm, o)
		if err != nil {
			t.Fatal(err)
		}
		naive, err := pixelcnn.SampleNaive(gm, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := range naive {
			if naive[i] != cached[i] {
				t.Fatalf("C=%d: GPU cached and naive differ at subpixel %d: %d vs %d", colors, i, cached[i], naive[i])
			}
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

// BenchmarkSampleCIFAR times the cached sampler for 16 images of the cifar10 preset on the
// GPU (the goal: under a second on an H100).
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
