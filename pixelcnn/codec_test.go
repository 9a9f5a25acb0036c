package pixelcnn

import (
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
)

// codecConfig is small but wide enough at the head (768 logits from 24 features, 16 images)
// for the CPU backend to split MaskedConvAt's columns over workers.
var codecConfig = Config{Colors: 3, Height: 5, Width: 4, Hidden: 6, Blocks: 2, OutDim: 24}

func codecImages(n int, c Config, seed uint64) []uint8 {
	rng := rand.New(rand.NewPCG(seed, 7))
	px := make([]uint8, n*c.Subpixels())
	for i := range px {
		px[i] = uint8(rng.IntN(256))
	}
	return px
}

// cachedPassLogits runs CachedPass teacher-forced on px and returns the logits in the
// full forward pass's layout [N,H,W,256*C].
func cachedPassLogits(t *testing.T, m *Model, px []uint8, n int) []float32 {
	c := m.Config
	sub := c.Subpixels()
	out := make([]float32, n*sub*256)
	err := CachedPass(m, n, nil, func(s int, logits []float32, vals []uint8) error {
		for k := range vals {
			vals[k] = px[k*sub+s]
			copy(out[(k*sub+s)*256:(k*sub+s+1)*256], logits[k*256:(k+1)*256])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCachedPassMatchesForward: on the CPU the teacher-forced cached pass gives the full
// forward pass's logits bit for bit, with any worker count.
func TestCachedPassMatchesForward(t *testing.T) {
	const n = 16
	px := codecImages(n, codecConfig, 1)
	var first []float32
	for _, workers := range []int{1, 3} {
		m, err := NewModel(cpu.NewWorkers(workers), codecConfig, 5)
		if err != nil {
			t.Fatal(err)
		}
		got := cachedPassLogits(t, m, px, n)
		x := make([]float32, len(px))
		for i, v := range px {
			x[i] = float32(v) / 255
		}
		xt, _ := m.B.FromHost(x, n, codecConfig.Height, codecConfig.Width, codecConfig.Colors)
		g := nn.NewGraph(m.B)
		g.NoGrad = true
		lv, err := m.Forward(g, nn.Constant(xt), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, lv.Value.Len())
		if err := m.B.ToHost(want, lv.Value); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("workers %d: logit %d: cached %v, forward %v", workers, i, got[i], want[i])
			}
		}
		if first == nil {
			first = got
			continue
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
				t.Fatalf("logit %d: %v with %d workers, %v with 1", i, got[i], workers, first[i])
			}
		}
	}
}

func TestTensorHash(t *testing.T) {
	a, _ := NewModel(cpu.New(), codecConfig, 5)
	b, _ := NewModel(cpu.New(), codecConfig, 6)
	ha, err := a.TensorHash()
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := b.TensorHash()
	ha2, _ := a.TensorHash()
	if ha == hb || ha != ha2 {
		t.Errorf("hashes: seed 5 %x, seed 6 %x, seed 5 again %x", ha, hb, ha2)
	}
}
