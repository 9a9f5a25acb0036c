//go:build cuda

package cuda

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/codec"
)

// TestCodecRoundTripGPU encodes and decodes on the GPU (the lossless codec, cmd/compress): the
// images come back exactly, the file names the GPU, and the CPU refuses to decode it. The
// mnist-preset case logs the GPU's encode and decode images/s.
func TestCodecRoundTripGPU(t *testing.T) {
	cases := []struct {
		name     string
		c        pixelcnn.Config
		n, batch int
	}{
		{"small rgb", pixelcnn.Config{Colors: 3, Height: 6, Width: 5, Hidden: 6, Blocks: 2, OutDim: 24}, 21, 8},
		{"mnist preset", pixelcnn.Config{Preset: "mnist", Colors: 1, Height: 28, Width: 28, Hidden: 32, Blocks: 7, OutDim: 32}, 256, 128},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cpuModel, gpuModel := onBoth(t, c.c)
			px := make([]uint8, c.n*c.c.Subpixels())
			for i := range px {
				px[i] = uint8((i*7 + i/13) % 256)
			}
			start := time.Now()
			file, st, err := codec.Encode(gpuModel, px, c.n, codec.Options{Batch: c.batch})
			if err != nil {
				t.Fatal(err)
			}
			enc := time.Since(start)
			start = time.Now()
			h, back, err := codec.Decode(gpuModel, file, codec.Options{})
			if err != nil {
				t.Fatalf("GPU decode of a GPU encode: %v", err)
			}
			dec := time.Since(start)
			if !bytes.Equal(back, px) {
				t.Fatal("GPU round trip: images differ")
			}
			if !strings.HasPrefix(h.Backend, "cuda") {
				t.Errorf("backend tag %q, want the GPU's", h.Backend)
			}
			if _, _, err := codec.Decode(cpuModel, file, codec.Options{}); err == nil || !strings.Contains(err.Error(), "coded on") {
				t.Errorf("CPU decode of a GPU file: %v, want a backend mismatch", err)
			}
			t.Logf("%s on %s: %d images, %.4f bits/dim (NLL %.4f); encode %.1f images/s, decode %.1f images/s",
				c.name, h.Backend, c.n, st.BitsPerDim(), st.NLLBitsPerDim(), float64(c.n)/enc.Seconds(), float64(c.n)/dec.Seconds())
		})
	}
}
