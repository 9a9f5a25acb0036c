package pixelcnn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
)

// subpixel index in raster-then-colour order: the generation order.
func order(c Config, i, j, col int) int { return (i*c.Width+j)*c.Colors + col }

func logitsOf(t *testing.T, m *Model, x []float32) []float32 {
	t.Helper()
	c := m.Config
	g := nn.NewGraph(m.B)
	g.NoGrad = true
	defer g.Release()
	xt, err := m.B.FromHost(x, 1, c.Height, c.Width, c.Colors)
	if err != nil {
		t.Fatal(err)
	}
	defer m.B.Release(xt)
	l, err := m.Forward(g, nn.Constant(xt), nil)
	if err != nil {
		t.Fatal(err)
	}
	return hostOf(t, m.B, l.Value)
}

// TestCausality is the property PixelCNN lives by: the 256 logits of subpixel s = (i,j,c)
// are bit-for-bit unchanged when any input subpixel at or after s (raster order, then R, G,
// B) changes, and change for some earlier one; for C = 3, G's logits depend on R of the same
// pixel and B's on R and G. The image is 7x7 so the 7x7 input kernel's edges are exercised.
func TestCausality(t *testing.T) {
	for _, colors := range []int{1, 3} {
		t.Run(fmt.Sprintf("C=%d", colors), func(t *testing.T) {
			c := tinyConfig(colors, 7, 7)
			m, err := NewModel(cpu.New(), c, 5)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(2, uint64(colors)))
			x := randomImages(r, c, 1)
			base := logitsOf(t, m, x)
			n := c.Subpixels()
			// dependsOn[s][q]: changing input subpixel q changed the logits of subpixel s.
			dependsOn := make([][]bool, n)
			for s := range dependsOn {
				dependsOn[s] = make([]bool, n)
			}
			for q := 0; q < n; q++ {
				x2 := append([]float32(nil), x...)
				x2[q] = float32((int(x[q]*255+0.5)+1+r.IntN(254))%256) / 255 // a different value
				got := logitsOf(t, m, x2)
				for s := 0; s < n; s++ {
					for k := 0; k < 256; k++ {
						if got[s*256+k] != base[s*256+k] {
							dependsOn[s][q] = true
							break
						}
					}
				}
			}
			for i := 0; i < c.Height; i++ {
				for j := 0; j < c.Width; j++ {
					for col := 0; col < colors; col++ {
						s := order(c, i, j, col)
						// In NHWC with channel k = colour k/256, logits index s*256 is exactly
						// subpixel s's block, and input index q is subpixel q.
						earlier := false
						for q := 0; q < n; q++ {
							if q >= s && dependsOn[s][q] {
								t.Fatalf("logits of (%d,%d,%d) depend on input subpixel %d at or after it", i, j, col, q)
							}
							earlier = earlier || (q < s && dependsOn[s][q])
						}
						if s > 0 && !earlier {
							t.Errorf("logits of (%d,%d,%d) depend on no earlier subpixel", i, j, col)
						}
						for prev := 0; prev < col; prev++ {
							if !dependsOn[s][order(c, i, j, prev)] {
								t.Errorf("colour %d at (%d,%d) does not depend on colour %d of the same pixel", col, i, j, prev)
							}
						}
					}
				}
			}
		})
	}
}

// TestCausalityGradient: d logits(s) / d input is exactly 0 at every subpixel at or after s,
// and not identically 0 before it.
func TestCausalityGradient(t *testing.T) {
	for _, colors := range []int{1, 3} {
		t.Run(fmt.Sprintf("C=%d", colors), func(t *testing.T) {
			// Wider than tiny: with 2 features per colour group a random net can have every
			// ReLU on a path dead, making a gradient 0 where the logits still depend.
			c := Config{Colors: colors, Height: 6, Width: 6, Hidden: 12, Blocks: 2, OutDim: 24}
			b := cpu.New()
			m, err := NewModel(b, c, 8)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, uint64(colors)))
			x := randomImages(r, c, 1)
			n := c.Subpixels()
			for s := 0; s < n; s++ {
				g := nn.NewGraph(b)
				xt, _ := b.FromHost(x, 1, c.Height, c.Width, c.Colors)
				xv := g.Input(xt)
				logits, err := m.Forward(g, xv, nil)
				if err != nil {
					t.Fatal(err)
				}
				seed := make([]float32, logits.Value.Len())
				for k := 0; k < 256; k++ {
					seed[s*256+k] = float32(r.NormFloat64())
				}
				logits.Grad, _ = b.FromHost(seed, logits.Value.Shape...)
				if err := g.Backward(); err != nil {
					t.Fatal(err)
				}
				dx := hostOf(t, b, xv.Grad)
				earlier := false
				for q, v := range dx {
					if q >= s && v != 0 {
						t.Fatalf("subpixel %d: d logits / d input[%d] = %g, want exactly 0", s, q, v)
					}
					earlier = earlier || (q < s && v != 0)
				}
				if s > 0 && !earlier {
					t.Errorf("subpixel %d: gradient is 0 at every earlier input", s)
				}
				b.Release(logits.Grad)
				g.Release()
				b.Release(xt)
			}
		})
	}
}
