package pixelcnn

import (
	"fmt"

	"pixelcnn/nn"
)

// SampleOptions control generation. Known, when not nil, holds n images (HWC, 8-bit) whose
// first KeepRows rows are kept and the rest generated (the paper's completions). The draw for
// subpixel s (raster-then-colour index) of image r uses nn.Uniform(Seed, s, r), so every
// sampler and backend consumes the same random stream.
type SampleOptions struct {
	N           int
	Seed        uint64
	Temperature float32
	Known       []uint8
	KeepRows    int
	// Progress, when set, is called after each generated pixel with (done, total) pixels.
	Progress func(done, total int)
}

func (o SampleOptions) validate(c Config) error {
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
	return nil
}

// start validates o and returns the output images (kept rows copied in, the rest 0) and the
// same values as network input, v/255.
func (o SampleOptions) start(c Config) (out []uint8, x []float32, err error) {
	if err := o.validate(c); err != nil {
		return nil, nil, err
	}
	out = make([]uint8, o.N*c.Subpixels())
	if o.KeepRows > 0 {
		copy(out, o.Known)
	}
	x = make([]float32, len(out))
	for i, v := range out {
		x[i] = float32(v) / 255
	}
	return out, x, nil
}

// SampleNaive generates images the way the seed does: for every subpixel it runs the whole
// network, on the rows up to the current one only (rows below cannot influence it), and draws
// the subpixel from its softmax. It is the reference the cached sampler must reproduce.
func SampleNaive(m *Model, o SampleOptions) ([]uint8, error) {
	c := m.Config
	out, x, err := o.start(c)
	if err != nil {
		return nil, err
	}
	imgLen := c.Subpixels()
	g := nn.NewGraph(m.B)
	g.NoGrad = true
	draws := make([]int32, o.N)
	rowLen := c.Width * c.Colors
	total, done := (c.Height-o.KeepRows)*c.Width, 0
	for i := o.KeepRows; i < c.Height; i++ {
		// The input is the first i+1 rows of every image.
		part := make([]float32, o.N*(i+1)*rowLen)
		for j := 0; j < c.Width; j++ {
			for col := 0; col < c.Colors; col++ {
				for n := 0; n < o.N; n++ {
					copy(part[n*(i+1)*rowLen:(n+1)*(i+1)*rowLen], x[n*imgLen:n*imgLen+(i+1)*rowLen])
				}
				xt, err := m.B.FromHost(part, o.N, i+1, c.Width, c.Colors)
				if err != nil {
					return nil, err
				}
				logits, err := m.Forward(g, nn.Constant(xt))
				if err != nil {
					return nil, err
				}
				s := (i*c.Width+j)*c.Colors + col
				offset := ((i*c.Width+j)*c.Colors + col) * 256
				err = m.B.SampleCategorical(draws, logits.Value, offset, o.Temperature, o.Seed, uint64(s))
				g.Release()
				m.B.Release(xt)
				if err != nil {
					return nil, err
				}
				for n, v := range draws {
					out[n*imgLen+s] = uint8(v)
					x[n*imgLen+s] = float32(v) / 255
				}
			}
			done++
			if o.Progress != nil {
				o.Progress(done, total)
			}
		}
	}
	return out, nil
}

// Sample generates images with the default sampler, the cached one (same images as
// SampleNaive for the same seed, two orders of magnitude faster).
func Sample(m *Model, o SampleOptions) ([]uint8, error) { return SampleCached(m, o) }
