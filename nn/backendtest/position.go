package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
)

// testPosition checks the cached sampler's ops. MaskedConvAt must match the float64 RefConv
// at (i, j) (corners, edges and the middle, k = 1, 3, 7, masks A and B, one and three colours)
// while every input it must not read is NaN: all positions after (i, j) in raster order and,
// for mask A, the centre features of the last colour (no output colour may read them). It
// must also agree with the backend's own MaskedConv at (i, j). SetPosition must copy exactly
// and touch nothing else.
func testPosition(t *testing.T, b nn.Backend) {
	for ci, c := range ConvCases() {
		if c.H*c.W > 100 {
			continue // many-positions: nothing new for one position
		}
		t.Run(c.Spec.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 23))
			s := c.Spec
			xs := []int{c.N, c.H, c.W, s.In}
			x := randSlice(r, nn.ShapeLen(xs), 1)
			mask, err := nn.Mask(s)
			if err != nil {
				t.Fatal(err)
			}
			w := randSlice(r, len(mask), 0.5) // masked entries hold garbage
			bias := randSlice(r, s.Out, 0.3)
			yRef := RefConv(c, x, w, bias)
			wt := upload(t, b, to32(w), s.WeightShape()...)
			bt := upload(t, b, to32(bias), s.Out)
			xFull := upload(t, b, to32(x), xs...)
			yFull := poisoned(t, b, c.N, c.H, c.W, s.Out)
			if err := b.MaskedConv(s, yFull, xFull, wt, bt); err != nil {
				t.Fatal(err)
			}
			yConv := download(t, b, yFull)
			type pos struct{ i, j int }
			ps := []pos{{0, 0}, {0, c.W - 1}, {c.H - 1, 0}, {c.H - 1, c.W - 1}, {c.H / 2, c.W / 2}, {r.IntN(c.H), r.IntN(c.W)}}
			for _, p := range ps {
				// Poison what (i, j) must not read.
				xp := to32(x)
				g := s.In / s.Colors
				for n := 0; n < c.N; n++ {
					for q := p.i*c.W + p.j; q < c.H*c.W; q++ {
						base := (n*c.H*c.W + q) * s.In
						lo := 0
						if q == p.i*c.W+p.j {
							lo = s.In // the centre is read ...
							if s.Mode == nn.MaskA {
								lo = s.In - g // ... except the last colour under mask A
							}
						}
						for f := lo; f < s.In; f++ {
							xp[base+f] = float32(math.NaN())
						}
					}
				}
				xt := upload(t, b, xp, xs...)
				yt := poisoned(t, b, c.N, 1, 1, s.Out)
				if err := b.MaskedConvAt(s, yt, xt, wt, bt, p.i, p.j); err != nil {
					t.Fatal(err)
				}
				got := download(t, b, yt)
				ref := make([]float64, 0, c.N*s.Out)
				conv := make([]float64, 0, c.N*s.Out)
				for n := 0; n < c.N; n++ {
					off := ((n*c.H+p.i)*c.W + p.j) * s.Out
					ref = append(ref, yRef[off:off+s.Out]...)
					conv = append(conv, to64(yConv[off:off+s.Out])...)
				}
				what := fmt.Sprintf("y at (%d,%d)", p.i, p.j)
				compare(t, what, got, ref, FwdTol)
				compare(t, what+" vs MaskedConv", got, conv, FwdTol)
				b.Release(xt)
				b.Release(yt)
			}
			for _, tt := range []*nn.Tensor{wt, bt, xFull, yFull} {
				b.Release(tt)
			}
		})
	}
	t.Run("VectorIs1x1", func(t *testing.T) {
		// A 1x1 conv of [N,1,1,In] vectors at (0,0) is the whole MaskedConv.
		r := rand.New(rand.NewPCG(31, 32))
		s := nn.ConvSpec{Name: "vec", K: 1, In: 48, Out: 600, Colors: 3, Mode: nn.MaskB, ReLU: true}
		c := ConvCase{N: 16, H: 1, W: 1, Spec: s}
		x := randSlice(r, c.N*s.In, 1)
		w := randSlice(r, nn.ShapeLen(s.WeightShape()), 0.5)
		bias := randSlice(r, s.Out, 0.3)
		xt := upload(t, b, to32(x), c.N, 1, 1, s.In)
		wt := upload(t, b, to32(w), s.WeightShape()...)
		bt := upload(t, b, to32(bias), s.Out)
		yt := poisoned(t, b, c.N, 1, 1, s.Out)
		if err := b.MaskedConvAt(s, yt, xt, wt, bt, 0, 0); err != nil {
			t.Fatal(err)
		}
		compare(t, "y", download(t, b, yt), RefConv(c, x, w, bias), FwdTol)
	})
	t.Run("SetPosition", func(t *testing.T) {
		r := rand.New(rand.NewPCG(33, 34))
		const n, h, w, f = 3, 4, 5, 7
		for _, p := range [][2]int{{0, 0}, {3, 4}, {2, 1}} {
			dst := to32(randSlice(r, n*h*w*f, 1))
			src := to32(randSlice(r, n*f, 1))
			dt := upload(t, b, dst, n, h, w, f)
			st := upload(t, b, src, n, 1, 1, f)
			if err := b.SetPosition(dt, st, p[0], p[1]); err != nil {
				t.Fatal(err)
			}
			got := download(t, b, dt)
			for q := 0; q < n; q++ {
				off := ((q*h+p[0])*w + p[1]) * f
				copy(dst[off:off+f], src[q*f:(q+1)*f])
			}
			for k := range dst {
				if got[k] != dst[k] {
					t.Fatalf("SetPosition at %v: element %d = %g, want %g", p, k, got[k], dst[k])
				}
			}
			b.Release(dt)
			b.Release(st)
		}
	})
	t.Run("ShapeErrors", func(t *testing.T) { testPositionErrors(t, b) })
}

func testPositionErrors(t *testing.T, b nn.Backend) {
	s := nn.ConvSpec{Name: "probe", K: 3, In: 6, Out: 9, Colors: 3, Mode: nn.MaskB}
	x := b.New(2, 4, 5, 6)
	w := b.New(s.WeightShape()...)
	bias := b.New(9)
	y := b.New(2, 1, 1, 9)
	for _, tc := range []struct {
		name string
		spec nn.ConvSpec
		y, x *nn.Tensor
		i, j int
	}{
		{"row below", s, y, x, 4, 0},
		{"negative row", s, y, x, -1, 0},
		{"column right", s, y, x, 0, 5},
		{"negative column", s, y, x, 0, -1},
		{"output not 1x1", s, b.New(2, 4, 5, 9), x, 1, 1},
		{"output images", s, b.New(3, 1, 1, 9), x, 1, 1},
		{"output features", s, b.New(2, 1, 1, 6), x, 1, 1},
		{"input features", s, y, b.New(2, 4, 5, 3), 1, 1},
		{"input rank", s, y, b.New(4, 5, 6), 1, 1},
		{"even kernel", nn.ConvSpec{Name: "probe", K: 2, In: 6, Out: 9, Colors: 3}, y, x, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.MaskedConvAt(tc.spec, tc.y, tc.x, w, bias, tc.i, tc.j)
			if err == nil {
				t.Fatalf("no error")
			}
			if !contains(err.Error(), `"probe"`) {
				t.Errorf("error %q does not name the layer", err)
			}
		})
	}
	dst := b.New(2, 4, 5, 6)
	for _, tc := range []struct {
		name     string
		dst, src *nn.Tensor
		i, j     int
	}{
		{"outside", dst, b.New(2, 1, 1, 6), 4, 0},
		{"negative", dst, b.New(2, 1, 1, 6), 0, -1},
		{"features", dst, b.New(2, 1, 1, 5), 0, 0},
		{"images", dst, b.New(1, 1, 1, 6), 0, 0},
		{"source not 1x1", dst, b.New(2, 2, 1, 6), 0, 0},
		{"destination rank", b.New(2, 20, 6), b.New(2, 1, 1, 6), 0, 0},
	} {
		t.Run("SetPosition "+tc.name, func(t *testing.T) {
			if err := b.SetPosition(tc.dst, tc.src, tc.i, tc.j); err == nil {
				t.Fatalf("no error")
			}
		})
	}
}
