//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"pixelcnn/nn"
)

func hostRand(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((2*r.Float64() - 1) * scale)
	}
	return v
}

func put(t testing.TB, b *Backend, v []float32, shape ...int) *nn.Tensor {
	t.Helper()
	x, err := b.FromHost(v, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func get(t testing.TB, b *Backend, x *nn.Tensor) []float32 {
	t.Helper()
	v := make([]float32, x.Len())
	if err := b.ToHost(v, x); err != nil {
		t.Fatal(err)
	}
	return v
}

// poison fills y with NaN, so that an output the kernel forgot to write shows.
func poison(t testing.TB, b *Backend, shape ...int) *nn.Tensor {
	t.Helper()
	v := make([]float32, nn.ShapeLen(shape))
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return put(t, b, v, shape...)
}

// atCase is one per-position conv shape: n images of h x w, and the layer.
type atCase struct {
	n, h, w int
	spec    nn.ConvSpec
}

func (c atCase) String() string {
	s := c.spec
	return fmt.Sprintf("n%d-%dx%d-k%d-%dto%d-c%d-mask%v-relu%v", c.n, c.h, c.w, s.K, s.In, s.Out, s.Colors, s.Mode, s.ReLU)
}

// atCases cover one and three colours, masks A and B, k = 1, 3, 7, image counts that fill no
// quad or block evenly (1, 5, 9, 16), output counts that fill no warp (45), the cifar10
// preset's shapes (1x1 384 -> 192, 3x3 192 -> 192 with 960 live rows: one quad per block,
// 1x1 768 -> 768) and live rows past a block's shared memory (version 1 there).
func atCases() []atCase {
	sp := func(k, in, out, colors int, mode nn.MaskMode, relu bool) nn.ConvSpec {
		return nn.ConvSpec{Name: "at", K: k, In: in, Out: out, Colors: colors, Mode: mode, ReLU: relu}
	}
	return []atCase{
		{5, 6, 5, sp(7, 3, 48, 3, nn.MaskA, false)},
		{1, 4, 4, sp(7, 1, 32, 1, nn.MaskA, true)},
		{9, 5, 6, sp(3, 12, 45, 3, nn.MaskB, true)},
		{16, 4, 3, sp(3, 33, 64, 1, nn.MaskB, false)},
		{16, 1, 1, sp(1, 384, 192, 3, nn.MaskB, true)},
		{16, 3, 4, sp(3, 192, 192, 3, nn.MaskB, true)},
		{16, 1, 1, sp(1, 768, 768, 3, nn.MaskB, false)},
		{6, 1, 1, sp(1, 96, 30, 3, nn.MaskA, false)},
		{3, 3, 3, sp(3, 900, 33, 3, nn.MaskB, false)}, // 4500 live rows: no room, version 1
	}
}

// TestPositionKernelsBitwise: at every position, MaskedConvAt with the version 2 position
// kernel (host position and device cursor) and with version 1 gives exactly the bits the
// full forward (conv versions 1 and 2) gives there: the sampler's exactness rests on it.
func TestPositionKernelsBitwise(t *testing.T) {
	b := gpu(t)
	defer setMode(t, b, 2, true, true)()
	defer b.SetConvVersion(2)
	for ci, c := range atCases() {
		t.Run(c.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 41))
			s := c.spec
			x := put(t, b, hostRand(r, c.n*c.h*c.w*s.In, 1), c.n, c.h, c.w, s.In)
			w := put(t, b, hostRand(r, nn.ShapeLen(s.WeightShape()), 0.3), s.WeightShape()...)
			bias := put(t, b, hostRand(r, s.Out, 0.3), s.Out)
			defer func() {
				for _, tt := range []*nn.Tensor{x, w, bias} {
					b.Release(tt)
				}
			}()
			var full [2][]float32
			for v := 1; v <= 2; v++ {
				if err := b.SetConvVersion(v); err != nil {
					t.Fatal(err)
				}
				y := poison(t, b, c.n, c.h, c.w, s.Out)
				if err := b.MaskedConv(s, y, x, w, bias); err != nil {
					t.Fatal(err)
				}
				full[v-1] = get(t, b, y)
				b.Release(y)
			}
			if !bitsEqual(full[0], full[1]) {
				t.Fatalf("forward versions 1 and 2 differ")
			}
			cursorOK := atQuads((s.Taps()+1)*s.In) > 0
			cur, err := b.NewCursor(c.h, c.w, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer b.ReleaseCursor(cur)
			y := poison(t, b, c.n, 1, 1, s.Out)
			defer b.Release(y)
			for i := 0; i < c.h; i++ {
				for j := 0; j < c.w; j++ {
					want := make([]float32, 0, c.n*s.Out)
					for q := 0; q < c.n; q++ {
						off := ((q*c.h+i)*c.w + j) * s.Out
						want = append(want, full[1][off:off+s.Out]...)
					}
					for _, v := range []int{2, 1} {
						if err := b.SetAtVersion(v); err != nil {
							t.Fatal(err)
						}
						if err := b.MaskedConvAt(s, y, x, w, bias, i, j); err != nil {
							t.Fatal(err)
						}
						if got := get(t, b, y); !bitsEqual(got, want) {
							t.Fatalf("(%d,%d): position kernel v%d differs from the forward: %v", i, j, v, firstDiff(got, want))
						}
					}
					if err := b.SetAtVersion(2); err != nil {
						t.Fatal(err)
					}
					err := b.MaskedConvAtCursor(s, y, x, w, bias, cur)
					if !cursorOK {
						if err == nil || !strings.Contains(err.Error(), "shared memory") {
							t.Fatalf("%d live rows at the cursor: error %v, want one about shared memory", (s.Taps()+1)*s.In, err)
						}
					} else if err != nil {
						t.Fatal(err)
					} else if got := get(t, b, y); !bitsEqual(got, want) {
						t.Fatalf("(%d,%d): at the cursor: %v", i, j, firstDiff(got, want))
					}
					if err := advance(b, cur); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// advance moves a one-colour cursor to the next pixel.
func advance(b *Backend, cur *nn.Cursor) error {
	exit, err := b.enterOp("test: advance")
	if err != nil {
		return err
	}
	defer exit()
	d, err := cursorBuf("test", cur)
	if err != nil {
		return err
	}
	return b.launch("sample_cursor_advance_v1", dim3{1, 1, 1}, warpSize, argPtr(d.ptr))
}

func firstDiff(got, want []float32) string {
	for k := range got {
		if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
			return fmt.Sprintf("element %d: %g, want %g", k, got[k], want[k])
		}
	}
	return fmt.Sprintf("lengths %d, %d", len(got), len(want))
}

// TestVectorConvAtCursor: the fused residual-block epilogues give exactly the separate ops'
// values: conv_in with its cache write (MaskedConvAt + SetPosition) and conv_out with the
// residual add (MaskedConvAt + AddInto), at the cursor's pixel only.
func TestVectorConvAtCursor(t *testing.T) {
	b := gpu(t)
	defer setMode(t, b, 2, true, true)()
	r := rand.New(rand.NewPCG(8, 9))
	const n, h, w, colors = 9, 3, 4, 3
	s := nn.ConvSpec{Name: "vec", K: 1, In: 96, Out: 42, Colors: colors, Mode: nn.MaskB, ReLU: true}
	x := put(t, b, hostRand(r, n*s.In, 1), n, 1, 1, s.In)
	wt := put(t, b, hostRand(r, nn.ShapeLen(s.WeightShape()), 0.3), s.WeightShape()...)
	bias := put(t, b, hostRand(r, s.Out, 0.3), s.Out)
	y0 := hostRand(r, n*s.Out, 1)
	cache0 := hostRand(r, n*h*w*s.Out, 1)
	defer func() {
		for _, tt := range []*nn.Tensor{x, wt, bias} {
			b.Release(tt)
		}
	}()
	const pi, pj = 1, 2
	cur, err := b.NewCursor(h, w, colors, (pi*w+pj)*colors+1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.ReleaseCursor(cur)
	for _, accumulate := range []bool{false, true} {
		// The separate ops.
		wantY, wantCache := put(t, b, y0, n, 1, 1, s.Out), put(t, b, cache0, n, h, w, s.Out)
		o := poison(t, b, n, 1, 1, s.Out)
		if err := b.MaskedConvAt(s, o, x, wt, bias, 0, 0); err != nil {
			t.Fatal(err)
		}
		if accumulate {
			err = b.AddInto(wantY, o)
		} else {
			err = b.SetPosition(wantCache, o, pi, pj)
			wantY, o = o, wantY
		}
		if err != nil {
			t.Fatal(err)
		}
		// The fused op.
		gotY, gotCache := put(t, b, y0, n, 1, 1, s.Out), put(t, b, cache0, n, h, w, s.Out)
		cache := gotCache
		if accumulate {
			cache = nil
		}
		if err := b.VectorConvAtCursor(s, gotY, x, wt, bias, cur, cache, accumulate); err != nil {
			t.Fatal(err)
		}
		if g, w := get(t, b, gotY), get(t, b, wantY); !bitsEqual(g, w) {
			t.Errorf("accumulate %v: y %s", accumulate, firstDiff(g, w))
		}
		if g, w := get(t, b, gotCache), get(t, b, wantCache); !bitsEqual(g, w) {
			t.Errorf("accumulate %v: cache %s", accumulate, firstDiff(g, w))
		}
		for _, tt := range []*nn.Tensor{wantY, wantCache, o, gotY, gotCache} {
			b.Release(tt)
		}
	}
	if err := b.VectorConvAtCursor(s, poison(t, b, n, 1, 1, s.Out), put(t, b, hostRand(r, n*h*w*s.In, 1), n, h, w, s.In), wt, bias, cur, nil, false); err == nil {
		t.Errorf("an image as the vector input: no error")
	}
}

// TestDrawAtCursor: the device draw gives SampleCategorical's values (version 1 and 2
// kernels, which must agree) for every colour, several temperatures and peaked and flat
// logits, writes v/255 at the cursor's subpixel and nowhere else, and advances the cursor.
func TestDrawAtCursor(t *testing.T) {
	b := gpu(t)
	defer setMode(t, b, 2, true, true)()
	const n, h, w, colors = 37, 2, 3, 3
	r := rand.New(rand.NewPCG(5, 6))
	for _, temp := range []float32{1, 0.5, 3} {
		for _, scale := range []float64{0.1, 8} {
			t.Run(fmt.Sprintf("T=%v/scale=%v", temp, scale), func(t *testing.T) {
				img := hostRand(r, n*h*w*colors, 1)
				it := put(t, b, img, n, h, w, colors)
				defer b.Release(it)
				start := 4
				cur, err := b.NewCursor(h, w, colors, start)
				if err != nil {
					t.Fatal(err)
				}
				defer b.ReleaseCursor(cur)
				for sub := start; sub < start+2*colors; sub++ {
					lt := put(t, b, hostRand(r, n*256*colors, scale), n, 1, 1, 256*colors)
					var want [2][]int32
					for v := 1; v <= 2; v++ {
						if err := b.SetAtVersion(v); err != nil {
							t.Fatal(err)
						}
						want[v-1] = make([]int32, n)
						if err := b.SampleCategorical(want[v-1], lt, (sub%colors)*256, temp, 11, uint64(sub)); err != nil {
							t.Fatal(err)
						}
					}
					for q := range want[0] {
						if want[0][q] != want[1][q] {
							t.Fatalf("subpixel %d row %d: sample_categorical v1 %d, v2 %d", sub, q, want[0][q], want[1][q])
						}
					}
					if err := b.DrawAtCursor(it, lt, temp, 11, cur); err != nil {
						t.Fatal(err)
					}
					b.Release(lt)
					for q, v := range want[1] {
						img[q*h*w*colors+sub] = float32(v) / 255
					}
					if got := get(t, b, it); !bitsEqual(got, img) {
						t.Fatalf("subpixel %d: %s", sub, firstDiff(got, img))
					}
				}
			})
		}
	}
}

// TestCursorSwitches: with the device draw off, or the version 1 position kernel, NewCursor
// says so with errors.ErrUnsupported (the sampler then draws on the host).
func TestCursorSwitches(t *testing.T) {
	b := gpu(t)
	defer b.SetDeviceDraw(true)
	defer b.SetAtVersion(2)
	for _, tc := range []struct {
		draw bool
		at   int
	}{{false, 2}, {true, 1}} {
		b.SetDeviceDraw(tc.draw)
		if err := b.SetAtVersion(tc.at); err != nil {
			t.Fatal(err)
		}
		if _, err := b.NewCursor(2, 2, 1, 0); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("draw %v, version %d: error %v, want ErrUnsupported", tc.draw, tc.at, err)
		}
	}
	if err := b.SetAtVersion(3); err == nil {
		t.Errorf("SetAtVersion(3): no error")
	}
}

// TestRecordFallsBack: a pass that cannot be captured (it reads to the host) or that fails
// still gives a Replayer, which launches the ops one by one; never a crash.
func TestRecordFallsBack(t *testing.T) {
	b := gpu(t)
	x := put(t, b, []float32{1, 2, 3}, 3)
	defer b.Release(x)
	host := make([]float32, 3)
	short := put(t, b, []float32{1}, 1)
	defer b.Release(short)
	for _, tc := range []struct {
		name string
		fn   func() error
		fail bool
	}{
		{"host read", func() error { return b.ToHost(host, x) }, false},
		{"op error", func() error { return b.AddInto(x, short) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := b.Record(tc.fn)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			if _, ok := rec.(plainReplay); !ok {
				t.Errorf("recorded as %T, want a plain replay", rec)
			}
			if err := rec.Replay(); (err != nil) != tc.fail {
				t.Errorf("replay: %v", err)
			}
			if err := b.Synchronize(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// After a failed capture the backend still works.
	if err := b.AddInto(x, x); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, x); got[2] != 6 {
		t.Errorf("after the fallback: %v", got)
	}
}

// TestRecordReplays: a recorded graph replays the captured launches, in order, each time.
func TestRecordReplays(t *testing.T) {
	b := gpu(t)
	if b.debug {
		t.Skip("PIXELCNN_CUDA_DEBUG=1 synchronizes after each launch: no graphs")
	}
	defer setMode(t, b, 2, true, true)()
	x := put(t, b, []float32{1, 2, 3}, 3)
	one := put(t, b, []float32{1, 1, 1}, 3)
	defer b.Release(x)
	defer b.Release(one)
	rec, err := b.Record(func() error {
		if err := b.AddInto(x, one); err != nil {
			return err
		}
		return b.AddInto(x, x)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if _, ok := rec.(*graphReplay); !ok {
		t.Fatalf("recorded as %T, want a CUDA graph", rec)
	}
	if got := get(t, b, x); got[0] != 1 {
		t.Fatalf("Record ran the ops: %v", got)
	}
	for range 3 {
		if err := rec.Replay(); err != nil {
			t.Fatal(err)
		}
	}
	if got := get(t, b, x); got[0] != 22 || got[2] != 38 { // x -> 2(x+1), three times
		t.Errorf("after three replays: %v, want [22 30 38]", got)
	}
}

// BenchmarkMaskedConvAt times the per-position kernels at the cifar10 preset's 1x1 head shape
// (768 -> 768, 16 images) and its 3x3 conv_mid (192 -> 192), version 1 against version 2 in
// the same process (GPU time by CUDA events, median of 200 launches), and reports the ratio.
func BenchmarkMaskedConvAt(b *testing.B) {
	sharedOnce.Do(func() { shared, sharedErr = New() })
	if sharedErr != nil {
		b.Fatal(sharedErr)
	}
	be := shared
	defer be.SetAtVersion(2)
	for _, c := range []atCase{
		{16, 1, 1, nn.ConvSpec{Name: "head", K: 1, In: 768, Out: 768, Colors: 3, Mode: nn.MaskB, ReLU: true}},
		{16, 32, 32, nn.ConvSpec{Name: "conv_mid", K: 3, In: 192, Out: 192, Colors: 3, Mode: nn.MaskB, ReLU: true}},
	} {
		b.Run(c.String(), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			s := c.spec
			x := put(b, be, hostRand(r, c.n*c.h*c.w*s.In, 1), c.n, c.h, c.w, s.In)
			w := put(b, be, hostRand(r, nn.ShapeLen(s.WeightShape()), 0.1), s.WeightShape()...)
			bias := put(b, be, hostRand(r, s.Out, 0.1), s.Out)
			y := be.New(c.n, 1, 1, s.Out)
			var us [2]float64
			for range b.N {
				for v := 1; v <= 2; v++ {
					if err := be.SetAtVersion(v); err != nil {
						b.Fatal(err)
					}
					times := make([]float64, 200)
					for k := range times {
						ms, err := be.Time(func() error { return be.MaskedConvAt(s, y, x, w, bias, c.h/2, c.w/2) })
						if err != nil {
							b.Fatal(err)
						}
						times[k] = ms * 1000
					}
					us[v-1] = median(times)
				}
			}
			b.ReportMetric(us[0], "v1-us")
			b.ReportMetric(us[1], "v2-us")
			b.ReportMetric(us[0]/us[1], "speedup")
			for _, tt := range []*nn.Tensor{x, w, bias, y} {
				be.Release(tt)
			}
		})
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ { // insertion sort: a few hundred values
		for k := i; k > 0 && s[k] < s[k-1]; k-- {
			s[k], s[k-1] = s[k-1], s[k]
		}
	}
	return s[len(s)/2]
}
