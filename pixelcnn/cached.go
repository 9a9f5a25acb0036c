package pixelcnn

import (
	"errors"
	"fmt"
	"math"

	"pixelcnn/nn"
)

// Cached (incremental) sampling.
//
// SampleNaive runs the whole network for every subpixel. But the logits of subpixel (i,j,c)
// depend on each layer's output at (i,j) only, and in this model only two kinds of layer look
// at neighbours: the 7x7 input_conv (which reads the image) and each block's 3x3 conv_mid
// (which reads its conv_in's output). Every other layer is 1x1 and needs only the vector at
// (i,j). So the sampler keeps two kinds of cache, the image [N,H,W,C] and each block's conv_in
// output [N,H,W,Hidden], and per step evaluates every layer at (i,j) only: the two
// neighbour-reading convs with MaskedConvAt on the caches, the 1x1 ones as MaskedConvAt on
// [N,1,1,F] vectors (a 1x1 conv of a 1x1 image is exactly the per-position computation), and
// each new conv_in vector is written into its cache with SetPosition.
//
// Why the cached values are final when they are read. Generation is in raster order, colours
// in order within a pixel. The mask-A 7x7 input_conv at (i,j) reads image positions above
// (i,j) and left of it in row i, all generated (or kept) earlier, and at the centre only
// colours < c for output colour group c. A 3x3 mask-B conv_mid at (i,j) reads the up-left,
// up, up-right and left positions, all generated earlier, so their cached conv_in outputs
// were computed after their pixel was complete and are final; at the centre, output group c
// reads only conv_in features of colours <= c at (i,j), which were computed in this pixel's
// pass for colour c from final inputs (see below). Every other layer is 1x1 and mask B: group
// c of its output depends on groups <= c of its input at (i,j).
//
// Colour passes (C = 3). Pixel (i,j) takes one pass per colour: pass c evaluates the whole
// net at (i,j), the logits of colour c are drawn from, the draw is written into the image,
// and the next pass follows. In pass c, by induction over the layers, feature groups <= c at
// (i,j) are exactly what the full forward pass computes on the finished image: input_conv's
// group g reads image colours < g <= c at the centre, all drawn already; each later layer's
// group g reads groups <= g of its input. Groups > c may read colours not drawn yet and are
// garbage, but nothing in groups <= c reads them, and the logits of colour c are group c of
// final_conv. The cache entries at (i,j) are rewritten by each pass, so the entry left behind
// is the one from pass C-1, in which every group is final: groups < C-1 are the same values
// as before, and group C-1 reads image colours < C-1 only. Later positions read only that.
//
// Equality with SampleNaive. The draw for subpixel s = (i*W+j)*C+c of image r uses
// nn.Uniform(Seed, s, r) (SampleCategorical with counter s, row r), as SampleNaive's does.
// The logits are the same numbers up to fp32 rounding in general; on the CPU backend
// MaskedConvAt runs the very GEMMs MaskedConv runs, so they are bit-identical and so are the
// images.
//
// Known rows (completion): the kept pixels still have to pass through the caches. Each kept
// pixel, complete from the start, takes one pass through input_conv and the blocks (no head,
// nothing drawn), which leaves every group of its cache entries final.
//
// On a device (a backend that is an nn.DeviceSampler, the GPU) the same passes run with the
// position in device memory (a cursor) and the draw on the device, which writes v/255 into
// the image cache and advances the cursor: one subpixel's pass is then the same sequence of
// ops every time, recorded once (a CUDA graph) and replayed per subpixel, and the host reads
// the images back once at the end (and waits once per row when it reports progress). The
// device draw is SampleCategorical's draw, so the images are the same. There each block's
// conv_in and its cache write, and its conv_out and the residual add, are one op each
// (VectorConvAtCursor), which computes the very values of the separate ops.

// cachedSampler holds the caches and the per-position tensors of one run; nothing is
// allocated per pixel but the one-pixel upload of each draw.
type cachedSampler struct {
	m    *Model
	n    int
	img  *nn.Tensor   // [N,H,W,C] image so far, values v/255
	mid  []*nn.Tensor // per block: conv_in output [N,H,W,Hidden]
	y    *nn.Tensor   // residual stream at (i,j) [N,1,1,2H]
	a    *nn.Tensor   // conv_in output [N,1,1,H]
	h    *nn.Tensor   // conv_mid output [N,1,1,H]
	o    *nn.Tensor   // conv_out output [N,1,1,2H]
	r    *nn.Tensor   // relu(y) [N,1,1,2H]
	o1   *nn.Tensor   // output_conv1 [N,1,1,O]
	o2   *nn.Tensor   // output_conv2 [N,1,1,O]
	lgt  *nn.Tensor   // final_conv, the logits [N,1,1,256*C]
	pix  []float32    // host staging of one pixel [N,C]
	all  []*nn.Tensor // for release
	head []*Layer     // output_conv1, output_conv2, final_conv
	// labels of the n images, for a class-conditional model (host positions only)
	labels []int32
}

func newCachedSampler(m *Model, n int, img []float32, labels []int32) (*cachedSampler, error) {
	c, b := m.Config, m.B
	if err := m.checkLayout(); err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	s := &cachedSampler{m: m, n: n, pix: make([]float32, n*c.Colors), head: m.Head(), labels: labels}
	var err error
	if s.img, err = b.FromHost(img, n, c.Height, c.Width, c.Colors); err != nil {
		return nil, err
	}
	s.all = append(s.all, s.img)
	vec := func(f int) *nn.Tensor {
		t := b.New(n, 1, 1, f)
		s.all = append(s.all, t)
		return t
	}
	for i := 0; i < c.Blocks; i++ {
		t := b.New(n, c.Height, c.Width, c.Hidden)
		s.mid = append(s.mid, t)
		s.all = append(s.all, t)
	}
	r, h, o := 2*c.Hidden, c.Hidden, c.OutDim
	s.y, s.a, s.h, s.o, s.r = vec(r), vec(h), vec(h), vec(r), vec(r)
	s.o1, s.o2, s.lgt = vec(o), vec(o), vec(Levels*c.Colors)
	return s, nil
}

func (s *cachedSampler) release() {
	for _, t := range s.all {
		s.m.B.Release(t)
	}
	s.all = nil
}

// vec evaluates layer l at (0,0) of a [N,1,1,In] vector.
func (s *cachedSampler) vec(l *Layer, y, x *nn.Tensor) error {
	return s.m.B.MaskedConvAt(l.Spec, y, x, l.W.Value, l.B.Value, 0, 0)
}

// position is where the position-dependent ops of a pass run: a pixel the host names
// (hostPos) or the pixel of a device cursor (cursorPos). convAt is layer l at the pixel of x
// [N,H,W,In]; convInto is layer l of the vector x with its output y also written into cache
// at the pixel (conv_in and its cache write); convAdd is y += layer l of the vector x, with
// tmp for the layer's output where the two are separate ops (conv_out and the residual add).
type position interface {
	convAt(l *Layer, y, x *nn.Tensor) error
	convInto(l *Layer, y, x, cache *nn.Tensor) error
	convAdd(l *Layer, y, x, tmp *nn.Tensor) error
}

type hostPos struct {
	b    nn.Backend
	i, j int
}

func (p hostPos) convAt(l *Layer, y, x *nn.Tensor) error {
	return p.b.MaskedConvAt(l.Spec, y, x, l.W.Value, l.B.Value, p.i, p.j)
}

func (p hostPos) convInto(l *Layer, y, x, cache *nn.Tensor) error {
	if err := p.b.MaskedConvAt(l.Spec, y, x, l.W.Value, l.B.Value, 0, 0); err != nil {
		return err
	}
	return p.b.SetPosition(cache, y, p.i, p.j)
}

func (p hostPos) convAdd(l *Layer, y, x, tmp *nn.Tensor) error {
	if err := p.b.MaskedConvAt(l.Spec, tmp, x, l.W.Value, l.B.Value, 0, 0); err != nil {
		return err
	}
	return p.b.AddInto(y, tmp) // y + o, as the graph's Add
}

type cursorPos struct {
	d   nn.DeviceSampler
	cur *nn.Cursor
}

func (p cursorPos) convAt(l *Layer, y, x *nn.Tensor) error {
	return p.d.MaskedConvAtCursor(l.Spec, y, x, l.W.Value, l.B.Value, p.cur)
}

func (p cursorPos) convInto(l *Layer, y, x, cache *nn.Tensor) error {
	return p.d.VectorConvAtCursor(l.Spec, y, x, l.W.Value, l.B.Value, p.cur, cache, false)
}

func (p cursorPos) convAdd(l *Layer, y, x, _ *nn.Tensor) error {
	return p.d.VectorConvAtCursor(l.Spec, y, x, l.W.Value, l.B.Value, p.cur, nil, true)
}

// trunk runs input_conv and the residual blocks at p, updating the conv_in caches; the
// residual stream ends in s.y.
func (s *cachedSampler) trunk(p position) error {
	if err := p.convAt(s.m.Input(), s.y, s.img); err != nil {
		return err
	}
	for blk, l := range s.m.Blocks() {
		if t := s.m.condTable(l.In); t != nil {
			hp, ok := p.(hostPos)
			if !ok {
				return fmt.Errorf("sample: a class-conditional model samples on host positions only")
			}
			if err := s.classVec(l.In, s.a, s.y, t); err != nil {
				return err
			}
			if err := hp.b.SetPosition(s.mid[blk], s.a, hp.i, hp.j); err != nil {
				return err
			}
		} else if err := p.convInto(l.In, s.a, s.y, s.mid[blk]); err != nil {
			return err
		}
		if err := p.convAt(l.Mid, s.h, s.mid[blk]); err != nil {
			return err
		}
		if err := p.convAdd(l.Out, s.y, s.h, s.o); err != nil {
			return err
		}
	}
	return nil
}

// step runs the whole net at p and returns the logits [N,1,1,256*C].
func (s *cachedSampler) step(p position) (*nn.Tensor, error) {
	if err := s.trunk(p); err != nil {
		return nil, err
	}
	if err := s.m.B.ReLU(s.r, s.y); err != nil {
		return nil, err
	}
	for k, io := range [3][2]*nn.Tensor{{s.o1, s.r}, {s.o2, s.o1}, {s.lgt, s.o2}} {
		l := s.head[k]
		if t := s.m.condTable(l); t != nil {
			if err := s.classVec(l, io[0], io[1], t); err != nil {
				return nil, err
			}
		} else if err := s.vec(l, io[0], io[1]); err != nil {
			return nil, err
		}
	}
	return s.lgt, nil
}

// classVec is layer l of the vector x into y with its class table added to the
// pre-activation: the ops of the forward's classConv, on one position.
func (s *cachedSampler) classVec(l *Layer, y, x *nn.Tensor, t *Table) error {
	b := s.m.B
	spec := l.Spec
	spec.ReLU = false
	if err := b.MaskedConvAt(spec, y, x, l.W.Value, l.B.Value, 0, 0); err != nil {
		return err
	}
	ops, err := nn.GatedOpsOf(b, "class bias")
	if err != nil {
		return err
	}
	if err := ops.AddClassBias(y, y, t.T.Value, s.labels); err != nil {
		return err
	}
	if l.Spec.ReLU {
		return b.ReLU(y, y)
	}
	return nil
}

// setPixel writes s.pix into the image at (i,j).
func (s *cachedSampler) setPixel(i, j int) error {
	b := s.m.B
	t, err := b.FromHost(s.pix, s.n, 1, 1, s.m.Config.Colors)
	if err != nil {
		return err
	}
	err = b.SetPosition(s.img, t, i, j)
	b.Release(t)
	return err
}

// SampleCached generates images like SampleNaive (same options, same random stream, the same
// images) but evaluates each layer only at the current position, reading already-final
// neighbours from caches (the architecture's stepper): one pass through the net per subpixel
// at a single position, instead of one pass over all rows so far. The seed architecture on a
// device sampler (the GPU) runs its passes there (generateOnDevice).
func SampleCached(m *Model, o SampleOptions) ([]uint8, error) {
	c := m.Config
	// The image cache starts with the kept rows; the rest is zero until drawn.
	out, x, err := o.start(m)
	if err != nil {
		return nil, err
	}
	if err := checkDeviceMemory(m, o.N); err != nil {
		return nil, err
	}
	if ds, ok := m.B.(nn.DeviceSampler); ok && c.ArchName() == ArchPixelCNN && !m.Conditional() {
		return sampleOnDevice(m, ds, o, out, x)
	}
	if groups := sampleGroups(m.B, o.N); groups > 1 {
		if err := sampleSplit(m, o, out, x, groups); err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		return out, nil
	}
	st, err := m.arch.newStepper(m, o.N, x, o.Labels)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	defer st.release()
	if err := runPasses(st, c, o.N, o.KeepRows, drawInto(m, o, out), o.Progress); err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	return out, nil
}

// sampleOnDevice is the seed architecture's cached sampling with the draws on the device:
// the kept pixels pass through the caches on the host's positions, then every other subpixel
// is one recorded pass at the device's cursor. A backend without device cursors
// (errors.ErrUnsupported) samples on the host.
func sampleOnDevice(m *Model, ds nn.DeviceSampler, o SampleOptions, out []uint8, x []float32) ([]uint8, error) {
	c := m.Config
	s, err := newCachedSampler(m, o.N, x, nil)
	if err != nil {
		return nil, err
	}
	defer s.release()
	cur, err := ds.NewCursor(c.Height, c.Width, c.Colors, o.KeepRows*c.Width*c.Colors)
	if errors.Is(err, errors.ErrUnsupported) {
		if err := runPasses(seedStepper{s}, c, o.N, o.KeepRows, drawInto(m, o, out), o.Progress); err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer ds.ReleaseCursor(cur)
	for i := 0; i < o.KeepRows; i++ {
		for j := 0; j < c.Width; j++ {
			if err := s.trunk(hostPos{m.B, i, j}); err != nil {
				return nil, fmt.Errorf("sample: kept pixel (%d,%d): %w", i, j, err)
			}
		}
	}
	return s.generateOnDevice(ds, cur, o, out)
}

// generateOnDevice draws every subpixel after the kept rows on the device: one recorded pass
// (the net at the cursor's pixel, the draw, the cursor's advance) replayed per subpixel.
func (s *cachedSampler) generateOnDevice(ds nn.DeviceSampler, cur *nn.Cursor, o SampleOptions, out []uint8) ([]uint8, error) {
	c := s.m.Config
	pass := func() error {
		logits, err := s.step(cursorPos{ds, cur})
		if err != nil {
			return err
		}
		return ds.DrawAtCursor(s.img, logits, o.Temperature, o.Seed, cur)
	}
	rec, err := ds.Record(pass)
	if err != nil {
		return nil, fmt.Errorf("sample: recording a pass: %w", err)
	}
	defer rec.Release()
	total, done := (c.Height-o.KeepRows)*c.Width, 0
	for i := o.KeepRows; i < c.Height; i++ {
		for j := 0; j < c.Width; j++ {
			for col := 0; col < c.Colors; col++ {
				if err := rec.Replay(); err != nil {
					return nil, fmt.Errorf("sample: pixel (%d,%d) colour %d: %w", i, j, col, err)
				}
			}
		}
		if o.Progress == nil {
			continue
		}
		// Progress is reported for finished pixels: wait for the row.
		if err := ds.Synchronize(); err != nil {
			return nil, fmt.Errorf("sample: row %d: %w", i, err)
		}
		for range c.Width {
			done++
			o.Progress(done, total)
		}
	}
	img := make([]float32, len(out))
	if err := s.m.B.ToHost(img, s.img); err != nil {
		return nil, fmt.Errorf("sample: reading the images back: %w", err)
	}
	// The cache holds float32(v)/255, which is within 1e-7 of v/255: rounding gives v back.
	for k := o.KeepRows * c.Width * c.Colors; k < len(out); k++ {
		out[k] = uint8(math.Round(float64(img[k]) * 255))
	}
	return out, nil
}

// cachedSamplerBytes is the device memory the cached sampler's tensors take for n images:
// the image and conv_in caches and the per-position vectors.
func cachedSamplerBytes(c Config, n int) int64 {
	pix := int64(n) * int64(c.Height) * int64(c.Width)
	caches := pix * int64(c.Colors+c.Blocks*c.Hidden)
	vecs := int64(n) * int64(8*c.Hidden+2*c.OutDim+Levels*c.Colors)
	return 4 * (caches + vecs)
}

// checkDeviceMemory refuses, before anything is allocated or launched, a sample whose tensors
// do not fit in the device memory free now (backends that report it: nn.MemoryInfo).
func checkDeviceMemory(m *Model, n int) error {
	mi, ok := m.B.(nn.MemoryInfo)
	if !ok {
		return nil
	}
	free, total, err := mi.MemInfo()
	if err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	if need := cachedSamplerBytes(m.Config, n); need > free {
		return fmt.Errorf("sample: %d images need %.2f GiB of device memory for the sampler's caches; %s has %.2f GiB free of %.2f GiB (sample fewer images at a time)",
			n, gib(need), m.B.Name(), gib(free), gib(total))
	}
	return nil
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }
