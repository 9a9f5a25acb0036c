package pixelcnn

import (
	"fmt"

	"pixelcnn/nn"
)

// SampleOptions control generation. Known, when not nil, holds n images (HWC, 8-bit) whose
// first KeepRows rows are kept and the rest generated (the paper's completions). Labels
// holds the class of each of the n images for a class-conditional model (nil otherwise). The
// draw for subpixel s (raster-then-colour index) of image r uses nn.Uniform(Seed, s, r), so
// every sampler and backend consumes the same random stream.
type SampleOptions struct {
	N           int
	Seed        uint64
	Temperature float32
	Known       []uint8
	KeepRows    int
	Labels      []int32
	// Progress, when set, is called after each generated pixel with (done, total) pixels.
	Progress func(done, total int)
}

func (o SampleOptions) validate(m *Model) error {
	c := m.Config
	if o.N < 1 {
		return fmt.Errorf("sample: n %d must be >= 1", o.N)
	}
	if err := nn.CheckTemperature(o.Temperature); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	if o.KeepRows < 0 || o.KeepRows > c.Height {
		return fmt.Errorf("sample: keep-rows %d outside [0, %d]", o.KeepRows, c.Height)
	}
	if o.KeepRows > 0 && len(o.Known) != o.N*c.Subpixels() {
		return fmt.Errorf("sample: %d known values for %d images of %dx%dx%d", len(o.Known), o.N, c.Height, c.Width, c.Colors)
	}
	if err := m.checkLabels(o.N, o.Labels); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	return nil
}

// start validates o and returns the output images (kept rows copied in, the rest 0) and the
// same values as network input, v/255.
func (o SampleOptions) start(m *Model) (out []uint8, x []float32, err error) {
	if err := o.validate(m); err != nil {
		return nil, nil, err
	}
	out = make([]uint8, o.N*m.Config.Subpixels())
	if o.KeepRows > 0 {
		copy(out, o.Known)
	}
	x = make([]float32, len(out))
	for i, v := range out {
		x[i] = float32(v) / 255
	}
	return out, x, nil
}

// CycleLabels returns n labels 0, 1, ..., Classes-1, 0, 1, ... for a conditional model (a
// sample grid with every class), nil for an unconditional one.
func CycleLabels(m *Model, n int) []int32 {
	if !m.Conditional() {
		return nil
	}
	l := make([]int32, n)
	for i := range l {
		l[i] = int32(i % m.Config.Classes)
	}
	return l
}

// subpixelFunc is called once per generated subpixel s (raster-then-colour order; colour col)
// of a pass over n images with that subpixel's logits [N,1,1,Levels*C] (image k's values for
// colour col at [(k*C+col)*Levels, +Levels)) and must fill vals with the n images' values of
// subpixel s, which are then written into the image the next passes read: a sampler draws
// them, a decoder decodes them from the logits, an encoder copies the true pixels.
type subpixelFunc func(s, col int, logits *nn.Tensor, vals []uint8) error

// runPasses is the one per-subpixel loop of every sampler and of the codec: st's passes over
// the rows from keepRows on, in raster-then-colour order. The kept rows [0, keepRows) are
// passed once per pixel without the head (their values are already in the image), so that
// every cache holds them. progress, when set, is called after each generated pixel.
func runPasses(st stepper, c Config, n, keepRows int, next subpixelFunc, progress func(done, total int)) error {
	for i := 0; i < keepRows; i++ {
		if err := st.startRow(i); err != nil {
			return fmt.Errorf("kept row %d: %w", i, err)
		}
		for j := 0; j < c.Width; j++ {
			if _, err := st.pass(i, j, false); err != nil {
				return fmt.Errorf("kept pixel (%d,%d): %w", i, j, err)
			}
		}
	}
	pix := make([]float32, n*c.Colors)
	vals := make([]uint8, n)
	total, done := (c.Height-keepRows)*c.Width, 0
	for i := keepRows; i < c.Height; i++ {
		if err := st.startRow(i); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		for j := 0; j < c.Width; j++ {
			clear(pix)
			for col := 0; col < c.Colors; col++ {
				logits, err := st.pass(i, j, true)
				if err != nil {
					return fmt.Errorf("pixel (%d,%d) colour %d: %w", i, j, col, err)
				}
				if err := next((i*c.Width+j)*c.Colors+col, col, logits, vals); err != nil {
					return err
				}
				for k, v := range vals {
					pix[k*c.Colors+col] = float32(v) / 255
				}
				// The last colour feeds nothing at this pixel; later pixels read it.
				if err := st.setPixel(i, j, pix); err != nil {
					return fmt.Errorf("pixel (%d,%d): %w", i, j, err)
				}
			}
			done++
			if progress != nil {
				progress(done, total)
			}
		}
	}
	return nil
}

// drawInto returns the subpixelFunc of a sampler: draw each subpixel from its logits with
// o's seed and temperature, and record it in out (n images of c.Subpixels()).
func drawInto(m *Model, o SampleOptions, out []uint8) subpixelFunc {
	return drawRows(m, o, out, func(draws []int32, logits *nn.Tensor, offset int, s uint64) error {
		return m.B.SampleCategorical(draws, logits, offset, o.Temperature, o.Seed, s)
	})
}

// drawRows is drawInto with the draw of subpixel s's values (at logits' column offset) given.
func drawRows(m *Model, o SampleOptions, out []uint8, draw func(draws []int32, logits *nn.Tensor, offset int, s uint64) error) subpixelFunc {
	draws := make([]int32, o.N)
	imgLen := m.Config.Subpixels()
	return func(s, col int, logits *nn.Tensor, vals []uint8) error {
		if err := draw(draws, logits, col*Levels, uint64(s)); err != nil {
			return err
		}
		for k, v := range draws {
			vals[k] = uint8(v)
			out[k*imgLen+s] = uint8(v)
		}
		return nil
	}
}

// naiveStepper is the seed's sampling: every pass runs the whole network on the rows up to
// the current one (rows below cannot influence it) and hands back the logits of (i, j).
type naiveStepper struct {
	m      *Model
	n      int
	x      []float32 // the images so far, v/255
	labels []int32
	lgt    *nn.Tensor // [N,1,1,Levels*C]
	host   []float32
}

func (s *naiveStepper) startRow(int) error { return nil }

func (s *naiveStepper) pass(i, j int, head bool) (*nn.Tensor, error) {
	if !head {
		return nil, nil // nothing is cached
	}
	c, b := s.m.Config, s.m.B
	rowLen, imgLen := c.Width*c.Colors, c.Subpixels()
	part := make([]float32, s.n*(i+1)*rowLen)
	for k := 0; k < s.n; k++ {
		copy(part[k*(i+1)*rowLen:(k+1)*(i+1)*rowLen], s.x[k*imgLen:k*imgLen+(i+1)*rowLen])
	}
	xt, err := b.FromHost(part, s.n, i+1, c.Width, c.Colors)
	if err != nil {
		return nil, err
	}
	defer b.Release(xt)
	g := nn.NewGraph(b)
	g.NoGrad = true
	defer g.Release()
	logits, err := s.m.Forward(g, nn.Constant(xt), s.labels)
	if err != nil {
		return nil, err
	}
	all := make([]float32, logits.Value.Len())
	if err := b.ToHost(all, logits.Value); err != nil {
		return nil, err
	}
	per, pos := Levels*c.Colors, i*c.Width+j
	for k := 0; k < s.n; k++ {
		copy(s.host[k*per:(k+1)*per], all[((k*(i+1)*c.Width)+pos)*per:])
	}
	if s.lgt == nil {
		s.lgt = b.New(s.n, 1, 1, per)
	}
	t, err := b.FromHost(s.host, s.n, 1, 1, per)
	if err != nil {
		return nil, err
	}
	defer b.Release(t)
	return s.lgt, b.Copy(s.lgt, t)
}

func (s *naiveStepper) setPixel(i, j int, pix []float32) error {
	c := s.m.Config
	for k := 0; k < s.n; k++ {
		copy(s.x[k*c.Subpixels()+(i*c.Width+j)*c.Colors:][:c.Colors], pix[k*c.Colors:(k+1)*c.Colors])
	}
	return nil
}

func (s *naiveStepper) release() {
	if s.lgt != nil {
		s.m.B.Release(s.lgt)
	}
}

// SampleNaive generates images the way the seed does: for every subpixel it runs the whole
// network, on the rows up to the current one only, and draws the subpixel from its softmax.
// It is the reference the cached sampler must reproduce.
func SampleNaive(m *Model, o SampleOptions) ([]uint8, error) {
	out, x, err := o.start(m)
	if err != nil {
		return nil, err
	}
	st := &naiveStepper{m: m, n: o.N, x: x, labels: o.Labels, host: make([]float32, o.N*Levels*m.Config.Colors)}
	defer st.release()
	if err := runPasses(st, m.Config, o.N, o.KeepRows, drawInto(m, o, out), o.Progress); err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	return out, nil
}

// Sample generates images with the default sampler, the cached one (same images as
// SampleNaive for the same seed, two orders of magnitude faster).
func Sample(m *Model, o SampleOptions) ([]uint8, error) { return SampleCached(m, o) }
