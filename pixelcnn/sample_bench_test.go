package pixelcnn

import (
	"fmt"
	"math"
	"testing"
	"time"

	"pixelcnn/nn/cpu"
)

type sampler func(*Model, SampleOptions) ([]uint8, error)

func benchModel(tb testing.TB, preset string, colors, size int) *Model {
	tb.Helper()
	c, err := PresetConfig(preset, colors, size, size)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := NewModel(cpu.New(), c, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkSample compares the samplers on random models (speed does not depend on
// training) at 28x28x1. The naive sampler at the mnist preset runs 784 forward passes per
// batch and takes tens of seconds for b16: run it with -benchtime=1x.
func BenchmarkSample(b *testing.B) {
	for _, s := range []struct {
		name string
		fn   sampler
	}{{"naive", SampleNaive}, {"cached", SampleCached}} {
		for _, preset := range []string{"tiny", "mnist", "gated"} {
			for _, n := range []int{1, 16} {
				b.Run(fmt.Sprintf("%s/%s/b%d", s.name, preset, n), func(b *testing.B) {
					m := benchModel(b, preset, 1, 28)
					o := SampleOptions{N: n, Seed: 1, Temperature: 1}
					b.ResetTimer()
					for it := 0; it < b.N; it++ {
						if _, err := s.fn(m, o); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
				})
			}
		}
	}
}

// BenchmarkSampleCIFAR times the cached sampler on 16 images at the cifar10 preset, 32x32x3.
func BenchmarkSampleCIFAR(b *testing.B) {
	m := benchModel(b, "cifar10", 3, 32)
	o := SampleOptions{N: 16, Seed: 1, Temperature: 1}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		if _, err := SampleCached(m, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/16images")
}

// BenchmarkCachedSpeedup measures naive against cached sampling of 16 images at the mnist
// and gated presets in the same run and reports the ratio (the targets: 100x for the seed,
// 50x for gated); it also checks that both draw the same images. Run it with -benchtime=1x:
// one naive run takes tens of seconds.
func BenchmarkCachedSpeedup(b *testing.B) {
	for _, preset := range []string{"mnist", "gated"} {
		b.Run(preset, func(b *testing.B) { cachedSpeedup(b, benchModel(b, preset, 1, 28)) })
	}
}

func cachedSpeedup(b *testing.B, m *Model) {
	o := SampleOptions{N: 16, Seed: 3, Temperature: 1}
	for range b.N {
		// The cached run is short, so take the best of three against load spikes.
		var cached []uint8
		tc := time.Duration(math.MaxInt64)
		for range 3 {
			start := time.Now()
			var err error
			if cached, err = SampleCached(m, o); err != nil {
				b.Fatal(err)
			}
			tc = min(tc, time.Since(start))
		}
		start := time.Now()
		naive, err := SampleNaive(m, o)
		if err != nil {
			b.Fatal(err)
		}
		tn := time.Since(start)
		for i := range naive {
			if naive[i] != cached[i] {
				b.Fatalf("subpixel %d: cached %d, naive %d", i, cached[i], naive[i])
			}
		}
		b.ReportMetric(16/tn.Seconds(), "naive-images/s")
		b.ReportMetric(16/tc.Seconds(), "cached-images/s")
		b.ReportMetric(tn.Seconds()/tc.Seconds(), "speedup")
	}
}
