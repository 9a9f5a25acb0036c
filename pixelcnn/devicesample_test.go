package pixelcnn

import (
	"fmt"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
)

// hostDevice is an nn.DeviceSampler made of the CPU backend's host-position ops: it runs the
// cached sampler's device path (cursor, draw into the image cache, record and replay, one
// read-back at the end) where no GPU is, so that path's bookkeeping is tested everywhere.
type hostDevice struct {
	nn.Backend
	records, replays, fused int
}

func (d *hostDevice) NewCursor(h, w, c, sub int) (*nn.Cursor, error) {
	return &nn.Cursor{H: h, W: w, C: c, Device: &sub}, nil
}

func (d *hostDevice) ReleaseCursor(cur *nn.Cursor) { cur.Device = nil }

// pixel is the cursor's subpixel and pixel.
func pixel(cur *nn.Cursor) (sub, i, j int) {
	sub = *cur.Device.(*int)
	p := sub / cur.C
	return sub, p / cur.W, p % cur.W
}

func (d *hostDevice) MaskedConvAtCursor(spec nn.ConvSpec, y, x, w, b *nn.Tensor, cur *nn.Cursor) error {
	_, i, j := pixel(cur)
	return d.MaskedConvAt(spec, y, x, w, b, i, j)
}

func (d *hostDevice) VectorConvAtCursor(spec nn.ConvSpec, y, x, w, b *nn.Tensor, cur *nn.Cursor, cache *nn.Tensor, accumulate bool) error {
	d.fused++
	_, i, j := pixel(cur)
	out := y
	if accumulate {
		out = d.New(y.Shape...)
		defer d.Release(out)
	}
	if err := d.MaskedConvAt(spec, out, x, w, b, 0, 0); err != nil {
		return err
	}
	if cache != nil {
		if err := d.SetPosition(cache, out, i, j); err != nil {
			return err
		}
	}
	if accumulate {
		return d.AddInto(y, out)
	}
	return nil
}

func (d *hostDevice) DrawAtCursor(img, logits *nn.Tensor, temperature float32, seed uint64, cur *nn.Cursor) error {
	sub, _, _ := pixel(cur)
	draws := make([]int32, img.Shape[0])
	if err := d.SampleCategorical(draws, logits, (sub%cur.C)*256, temperature, seed, uint64(sub)); err != nil {
		return err
	}
	for r, v := range draws {
		img.Host[r*cur.H*cur.W*cur.C+sub] = float32(v) / 255
	}
	*cur.Device.(*int) = sub + 1
	return nil
}

type countingReplay struct {
	d  *hostDevice
	fn func() error
}

func (r countingReplay) Replay() error { r.d.replays++; return r.fn() }
func (countingReplay) Release()        {}

func (d *hostDevice) Record(fn func() error) (nn.Replayer, error) {
	d.records++
	return countingReplay{d, fn}, nil
}

func (d *hostDevice) Synchronize() error { return nil }

// TestCachedOnDeviceMatchesNaive: the cached sampler's device path (on hostDevice) draws the
// naive sampler's images, from scratch and as completions, records one pass and replays it
// once per generated subpixel, and reports progress for every pixel.
func TestCachedOnDeviceMatchesNaive(t *testing.T) {
	for _, tc := range []struct {
		colors, h, w int
		temp         float32
		keep         int
	}{
		{1, 6, 6, 1, 0},
		{3, 5, 7, 0.7, 0},
		{3, 5, 7, 0.7, 2},
		{3, 4, 5, 1, 4}, // everything kept
	} {
		t.Run(fmt.Sprintf("C=%d/%dx%d/T=%v/keep=%d", tc.colors, tc.h, tc.w, tc.temp, tc.keep), func(t *testing.T) {
			c := tinyConfig(tc.colors, tc.h, tc.w)
			d := &hostDevice{Backend: cpu.New()}
			m, err := NewModel(d, c, 21)
			if err != nil {
				t.Fatal(err)
			}
			randomBiases(m, 3)
			const n = 3
			o := SampleOptions{N: n, Seed: 77, Temperature: tc.temp, KeepRows: tc.keep}
			if tc.keep > 0 {
				o.Known = randomPixels(n * c.Subpixels())
			}
			want, err := SampleNaive(m, o)
			if err != nil {
				t.Fatal(err)
			}
			last := 0
			o.Progress = func(done, total int) {
				if done != last+1 || total != (tc.h-tc.keep)*tc.w {
					t.Errorf("progress (%d, %d) after %d", done, total, last)
				}
				last = done
			}
			got, err := SampleCached(m, o)
			if err != nil {
				t.Fatal(err)
			}
			if d.records != 1 || d.replays != (tc.h-tc.keep)*tc.w*tc.colors {
				t.Errorf("%d records and %d replays, want 1 and %d", d.records, d.replays, (tc.h-tc.keep)*tc.w*tc.colors)
			}
			if d.fused != 2*c.Blocks*d.replays {
				t.Errorf("%d fused vector convs in %d passes of %d blocks", d.fused, d.replays, c.Blocks)
			}
			if last != (tc.h-tc.keep)*tc.w {
				t.Errorf("progress ended at %d", last)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("subpixel %d: cached on the device path %d, naive %d", i, got[i], want[i])
				}
			}
		})
	}
}

// smallDevice reports free device memory for the memory check.
type smallDevice struct {
	nn.Backend
	free int64
}

func (s smallDevice) MemInfo() (free, total int64, err error) { return s.free, 2 * s.free, nil }

// TestSampleMemoryCheck: asked for more images than the device memory holds, the sampler
// fails before allocating anything, naming what it needs and what is free.
func TestSampleMemoryCheck(t *testing.T) {
	c := tinyConfig(3, 4, 4)
	need := cachedSamplerBytes(c, 5)
	for _, tc := range []struct {
		free int64
		ok   bool
	}{{need, true}, {need - 1, false}} {
		m, err := NewModel(smallDevice{cpu.New(), tc.free}, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = SampleCached(m, SampleOptions{N: 5, Seed: 1, Temperature: 1})
		switch {
		case tc.ok && err != nil:
			t.Errorf("free %d: %v", tc.free, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "5 images need") || !strings.Contains(err.Error(), "GiB free")):
			t.Errorf("free %d: error %v, want one naming the memory needed and free", tc.free, err)
		}
	}
}
