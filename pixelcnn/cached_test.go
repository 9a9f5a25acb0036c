package pixelcnn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
)

// TestCachedMatchesNaive: with the same seed the cached and naive samplers draw the same
// images, pixel for pixel, for one and three colours, two temperatures, from scratch and as
// completions of random known images.
func TestCachedMatchesNaive(t *testing.T) {
	for _, tc := range []struct {
		colors, h, w int
		temp         float32
		keep         int
	}{
		{1, 6, 6, 1, 0},
		{1, 5, 7, 0.7, 0},
		{3, 6, 6, 1, 0},
		{3, 5, 7, 0.7, 0},
		{1, 6, 6, 1, 2},
		{3, 5, 7, 0.7, 2},
		{3, 4, 5, 1, 4}, // everything kept
	} {
		name := fmt.Sprintf("C=%d/%dx%d/T=%v/keep=%d", tc.colors, tc.h, tc.w, tc.temp, tc.keep)
		t.Run(name, func(t *testing.T) {
			c := tinyConfig(tc.colors, tc.h, tc.w)
			m, err := NewModel(cpu.New(), c, 21)
			if err != nil {
				t.Fatal(err)
			}
			randomBiases(m, 3)
			const n = 3
			o := SampleOptions{N: n, Seed: 77, Temperature: tc.temp, KeepRows: tc.keep}
			if tc.keep > 0 {
				o.Known = randomPixels(n * c.Subpixels())
			}
			var calls []int
			oc := o
			oc.Progress = func(done, total int) {
				calls = append(calls, done)
				if total != (tc.h-tc.keep)*tc.w {
					t.Errorf("progress total %d", total)
				}
			}
			want, err := SampleNaive(m, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := SampleCached(m, oc)
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != (tc.h-tc.keep)*tc.w {
				t.Errorf("%d progress calls, want %d", len(calls), (tc.h-tc.keep)*tc.w)
			}
			diff := 0
			for i := range want {
				if got[i] != want[i] {
					if diff < 5 {
						t.Errorf("subpixel %d: cached %d, naive %d", i, got[i], want[i])
					}
					diff++
				}
			}
			if diff > 0 {
				t.Fatalf("%d of %d subpixels differ", diff, len(want))
			}
			if tc.keep > 0 {
				keep := tc.keep * tc.w * tc.colors
				for r := 0; r < n; r++ {
					for k := 0; k < keep; k++ {
						if q := r*c.Subpixels() + k; got[q] != o.Known[q] {
							t.Fatalf("kept subpixel %d changed", q)
						}
					}
				}
			}
			// A sample is not all one value (the draws are really made).
			distinct := map[uint8]bool{}
			for _, v := range got {
				distinct[v] = true
			}
			if len(distinct) < 10 {
				t.Errorf("only %d distinct values in the samples", len(distinct))
			}
		})
	}
}

// randomBiases gives every layer a non-zero bias, so the test exercises them.
func randomBiases(m *Model, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	for _, l := range m.Layers {
		for i := range l.B.Value.Host {
			l.B.Value.Host[i] = float32(r.Float64()*0.2 - 0.1)
		}
	}
}

// TestCachedLogits runs the cached step over complete random images (every pass with the
// whole pixel already in place) and compares the logits of colour c at every (i,j) with the
// full forward pass: within fp32 rounding, and on the CPU backend bit for bit.
func TestCachedLogits(t *testing.T) {
	for _, colors := range []int{1, 3} {
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("C=%d/workers=%d", colors, workers), func(t *testing.T) {
				c := tinyConfig(colors, 5, 7)
				c.Hidden, c.OutDim = 24, 48 // wide enough for the column-parallel path
				b := cpu.NewWorkers(workers)
				m, err := NewModel(b, c, 8)
				if err != nil {
					t.Fatal(err)
				}
				randomBiases(m, 4)
				const n = 16
				r := rand.New(rand.NewPCG(6, uint64(colors)))
				x := randomImages(r, c, n)
				g := nn.NewGraph(b)
				g.NoGrad = true
				defer g.Release()
				xt, _ := b.FromHost(x, n, c.Height, c.Width, c.Colors)
				full, err := m.Forward(g, nn.Constant(xt), nil)
				if err != nil {
					t.Fatal(err)
				}
				ref := hostOf(t, b, full.Value)
				s, err := newCachedSampler(m, n, x, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer s.release()
				L := 256 * colors
				exact := true
				for i := 0; i < c.Height; i++ {
					for j := 0; j < c.Width; j++ {
						for col := 0; col < colors; col++ {
							lt, err := s.step(hostPos{b, i, j})
							if err != nil {
								t.Fatal(err)
							}
							got := hostOf(t, b, lt)
							for q := 0; q < n; q++ {
								for k := col * 256; k < (col+1)*256; k++ {
									g := got[q*L+k]
									w := ref[((q*c.Height+i)*c.Width+j)*L+k]
									if d := math.Abs(float64(g - w)); !(d <= 1e-5*(1+math.Abs(float64(w)))) {
										t.Fatalf("image %d (%d,%d) colour %d logit %d: cached %g, forward %g", q, i, j, col, k%256, g, w)
									}
									exact = exact && g == w
								}
							}
						}
					}
				}
				if !exact {
					t.Errorf("CPU logits agree within tolerance but not bit for bit")
				}
			})
		}
	}
}

func TestCachedBadOptions(t *testing.T) {
	c := tinyConfig(3, 4, 4)
	m, err := NewModel(cpu.New(), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	known := make([]uint8, 2*c.Subpixels())
	for _, tc := range []struct {
		name string
		o    SampleOptions
	}{
		{"zero temperature", SampleOptions{N: 2, Temperature: 0}},
		{"negative temperature", SampleOptions{N: 2, Temperature: -1}},
		{"NaN temperature", SampleOptions{N: 2, Temperature: float32(math.NaN())}},
		{"no images", SampleOptions{N: 0, Temperature: 1}},
		{"keep rows negative", SampleOptions{N: 2, Temperature: 1, KeepRows: -1, Known: known}},
		{"keep rows beyond", SampleOptions{N: 2, Temperature: 1, KeepRows: 5, Known: known}},
		{"known too short", SampleOptions{N: 2, Temperature: 1, KeepRows: 2, Known: known[1:]}},
		{"known missing", SampleOptions{N: 2, Temperature: 1, KeepRows: 1}},
		{"known for other n", SampleOptions{N: 3, Temperature: 1, KeepRows: 1, Known: known}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SampleCached(m, tc.o); err == nil {
				t.Errorf("no error")
			}
		})
	}
}

// randomPixels returns n fixed pseudo-random 8-bit values: the known pixels of completion tests.
func randomPixels(n int) []uint8 {
	r := rand.New(rand.NewPCG(4, 5))
	px := make([]uint8, n)
	for i := range px {
		px[i] = uint8(r.IntN(256))
	}
	return px
}
