package pixelcnn

import (
	"fmt"
	"math"

	"pixelcnn/nn"
)

// The gated PixelCNN (arch "gated"; van den Oord et al. 2016b, "Conditional Image Generation
// with PixelCNN Decoders"), exactly: C colours, p = Hidden features per stack, n = Blocks
// gated layers with kernel 3 and Dilations[i]:
//
//	v = v_in(x)     3x3, only the rows above         C -> p
//	h = h_in(x)     1x3, left taps + centre mask A   C -> p
//	layer i:  v_feat = v_conv(v) [+ cond_v[y]]                    3x3 dilated, rows above + centre row
//	          h_feat = h_conv(h) + v_to_h(v_feat) [+ cond_h[y]]   1x3 dilated mask B; 1x1 unmasked
//	          v = gate(v_feat);  h = h + h_1x1(gate(h_feat))      h_1x1: 1x1 mask B
//	logits = out(ELU(h))    1x1 mask B, p -> Levels*C
//
// gate splits a 2p tensor into C colour groups, each the value a then the gate g, and gives
// tanh(a) * sigmoid(g) per group (nn.GatedOps.Gate). The vertical stack never sees the
// current row (v_in reads rows above only, and every later v layer reads v), so v_to_h may
// be unmasked; the horizontal stack sees the current row left of the pixel and, at the
// centre, the earlier colours. Together they cover the whole causal cone: no blind spot.
type gatedArch struct{}

func init() { registerArch(ArchGated, gatedArch{}) }

// DefaultDilations is the dilation pattern of the gated layers, repeated as often as needed.
var DefaultDilations = []int{1, 2, 1, 4, 1, 2, 1}

// RepeatDilations returns n dilations taken from pattern, repeated (pattern must not be
// empty).
func RepeatDilations(pattern []int, n int) []int {
	d := make([]int, n)
	for i := range d {
		d[i] = pattern[i%len(pattern)]
	}
	return d
}

// maxDilation bounds a dilation: beyond it every tap but the centre reads padding.
const maxDilation = 1 << 12

func (gatedArch) validate(c Config) error {
	if c.Blocks < 1 {
		return fmt.Errorf("config: blocks %d: a gated model needs at least one gated layer", c.Blocks)
	}
	if c.Hidden < 1 || c.Hidden%c.Colors != 0 {
		return fmt.Errorf("config: hidden %d must be positive and divisible by %d colours (the gate splits each stack into colour groups)", c.Hidden, c.Colors)
	}
	if c.OutDim != 0 {
		return fmt.Errorf("config: out_dim %d: the gated architecture has no output head width (its out conv maps the %d stack features to the logits)", c.OutDim, c.Hidden)
	}
	if len(c.Dilations) != c.Blocks {
		return fmt.Errorf("config: %d dilations for %d gated layers, want one per layer", len(c.Dilations), c.Blocks)
	}
	for i, d := range c.Dilations {
		if d < 1 || d > maxDilation {
			return fmt.Errorf("config: dilation %d of layer %d must be in [1, %d]", d, i, maxDilation)
		}
	}
	return nil
}

// gatedLayer names the convs of gated layer i.
type gatedLayer struct {
	vConv, hConv, vToH, h1x1 *Layer
	condV, condH             *Table // nil when unconditional
}

func gatedPrefix(i int) string { return fmt.Sprintf("layers.%d.", i) }

func (gatedArch) convs(c Config) []ConvDef {
	p, col := c.Hidden, c.Colors
	spec := func(name string, k, in, out int, r nn.Region, mode nn.MaskMode, d int) nn.ConvSpec {
		return nn.ConvSpec{Name: name, K: k, In: in, Out: out, Colors: col, Mode: mode, Region: r, Dilation: d}
	}
	defs := []ConvDef{
		{spec("v_in", 3, col, p, nn.Above, nn.MaskB, 1), 1},
		{spec("h_in", 3, col, p, nn.Row, nn.MaskA, 1), 1},
	}
	// h_1x1 is the residual branch of the horizontal stack: scaled like the seed's conv_out.
	res := 1 / math.Sqrt(float64(c.Blocks))
	for i, d := range c.Dilations {
		pre := gatedPrefix(i)
		defs = append(defs,
			ConvDef{spec(pre+"v_conv", 3, p, 2*p, nn.AboveAndRow, nn.MaskB, d), 1},
			ConvDef{spec(pre+"h_conv", 3, p, 2*p, nn.Row, nn.MaskB, d), 1},
			ConvDef{spec(pre+"v_to_h", 1, 2*p, 2*p, nn.Full, nn.MaskB, 1), 1},
			ConvDef{spec(pre+"h_1x1", 1, p, p, nn.Causal, nn.MaskB, 1), res})
	}
	return append(defs, ConvDef{spec("out", 1, p, Levels*col, nn.Causal, nn.MaskB, 1), 1})
}

func (gatedArch) tables(c Config) []TableDef {
	if c.Classes == 0 {
		return nil
	}
	var ts []TableDef
	for i := 0; i < c.Blocks; i++ {
		pre := gatedPrefix(i)
		ts = append(ts, TableDef{pre + "cond_v", 2 * c.Hidden}, TableDef{pre + "cond_h", 2 * c.Hidden})
	}
	return ts
}

func (m *Model) gatedLayers() []gatedLayer {
	ls := make([]gatedLayer, m.Config.Blocks)
	for i := range ls {
		pre := gatedPrefix(i)
		ls[i] = gatedLayer{vConv: m.layer(pre + "v_conv"), hConv: m.layer(pre + "h_conv"),
			vToH: m.layer(pre + "v_to_h"), h1x1: m.layer(pre + "h_1x1"),
			condV: m.table(pre + "cond_v"), condH: m.table(pre + "cond_h")}
	}
	return ls
}

func (gatedArch) forward(m *Model, g *nn.Graph, x *nn.Var, labels []int32) (*nn.Var, error) {
	col := m.Config.Colors
	v, err := conv(g, m.layer("v_in"), x)
	if err != nil {
		return nil, err
	}
	h, err := conv(g, m.layer("h_in"), x)
	if err != nil {
		return nil, err
	}
	for _, l := range m.gatedLayers() {
		vf, err := conv(g, l.vConv, v)
		if err != nil {
			return nil, err
		}
		if l.condV != nil {
			if vf, err = g.AddClassBias(vf, l.condV.T, labels); err != nil {
				return nil, err
			}
		}
		hc, err := conv(g, l.hConv, h)
		if err != nil {
			return nil, err
		}
		hf, err := g.MaskedConvResidual(l.vToH.Spec, vf, l.vToH.W, l.vToH.B, hc) // hc + v_to_h(vf)
		if err != nil {
			return nil, err
		}
		if l.condH != nil {
			if hf, err = g.AddClassBias(hf, l.condH.T, labels); err != nil {
				return nil, err
			}
		}
		if v, err = g.Gate(vf, col); err != nil {
			return nil, err
		}
		gh, err := g.Gate(hf, col)
		if err != nil {
			return nil, err
		}
		if h, err = g.MaskedConvResidual(l.h1x1.Spec, gh, l.h1x1.W, l.h1x1.B, h); err != nil { // h + h_1x1(gh)
			return nil, err
		}
	}
	e, err := g.ELU(h)
	if err != nil {
		return nil, err
	}
	return conv(g, m.layer("out"), e)
}

// gatedStepper is the gated net's per-position pass. The vertical stack at row i reads only
// rows above i, so at the start of row i (startRow) it is computed for the whole row, layer
// by layer (v_conv reads v to the right in the same row), into full-size caches of every v
// and v_feat: they are final, whatever is drawn in row i. The horizontal stack runs per
// position (pass): h_conv of layer l reads layer l-1's h at (i, j-d), cached when that
// position was passed last (its final colour pass), and the centre, computed in this pass;
// v_to_h reads v_feat at (i, j) from its cache. Colour passes follow the seed's argument
// (cached.go): pass c computes colour groups <= c exactly, and the last pass leaves every
// cache entry final. Each op is the full forward's op on one position, with MaskedConvAt
// running the GEMMs MaskedConv runs, so the logits are the forward's bit for bit.
type gatedStepper struct {
	m        *Model
	ops      nn.GatedOps
	layers   []gatedLayer
	labels   []int32
	img      *nn.Tensor   // [N,H,W,C]
	v, vf, h []*nn.Tensor // caches [N,H,W,.]: v after v_in and each layer; v_feat of each layer; h after h_in and each layer but the last
	// per-position vectors [N,1,1,.]
	pv, pvf, pvg, ph, phc, pt, pgh, po, pe, lgt *nn.Tensor
	pix                                         *nn.Tensor // [N,1,1,C]
	all                                         []*nn.Tensor
}

func (gatedArch) newStepper(m *Model, n int, img []float32, labels []int32) (stepper, error) {
	c, b := m.Config, m.B
	ops, err := nn.GatedOpsOf(b, "gate")
	if err != nil {
		return nil, err
	}
	s := &gatedStepper{m: m, ops: ops, layers: m.gatedLayers(), labels: labels}
	if s.img, err = b.FromHost(img, n, c.Height, c.Width, c.Colors); err != nil {
		return nil, err
	}
	s.all = append(s.all, s.img)
	alloc := func(h, w, f int) *nn.Tensor {
		t := b.New(n, h, w, f)
		s.all = append(s.all, t)
		return t
	}
	p := c.Hidden
	for l := 0; l <= c.Blocks; l++ {
		s.v = append(s.v, alloc(c.Height, c.Width, p))
		if l < c.Blocks {
			s.vf = append(s.vf, alloc(c.Height, c.Width, 2*p))
			s.h = append(s.h, alloc(c.Height, c.Width, p))
		}
	}
	s.pv, s.pvf, s.pvg = alloc(1, 1, p), alloc(1, 1, 2*p), alloc(1, 1, 2*p)
	s.ph, s.phc, s.pt, s.pgh = alloc(1, 1, p), alloc(1, 1, 2*p), alloc(1, 1, 2*p), alloc(1, 1, p)
	s.po, s.pe, s.lgt = alloc(1, 1, p), alloc(1, 1, p), alloc(1, 1, Levels*c.Colors)
	s.pix = alloc(1, 1, c.Colors)
	return s, nil
}

func (s *gatedStepper) release() {
	for _, t := range s.all {
		s.m.B.Release(t)
	}
	s.all = nil
}

// at is layer l at (i, j) of x into y [N,1,1,Out].
func (s *gatedStepper) at(l *Layer, y, x *nn.Tensor, i, j int) error {
	return s.m.B.MaskedConvAt(l.Spec, y, x, l.W.Value, l.B.Value, i, j)
}

// classBias adds table row labels[n] to image n's vector x in place (y = x + t, as the
// forward's op; a nil table is an unconditional model's).
func (s *gatedStepper) classBias(x *nn.Tensor, t *Table) error {
	if t == nil {
		return nil
	}
	return s.ops.AddClassBias(x, x, t.T.Value, s.labels)
}

func (s *gatedStepper) gate(y, x *nn.Tensor) error {
	return s.ops.Gate(y, x, s.m.Config.Colors)
}

func (s *gatedStepper) startRow(i int) error {
	b, w := s.m.B, s.m.Config.Width
	for j := 0; j < w; j++ {
		if err := s.at(s.m.layer("v_in"), s.pv, s.img, i, j); err != nil {
			return err
		}
		if err := b.SetPosition(s.v[0], s.pv, i, j); err != nil {
			return err
		}
	}
	for l, gl := range s.layers {
		for j := 0; j < w; j++ {
			if err := s.at(gl.vConv, s.pvf, s.v[l], i, j); err != nil {
				return err
			}
			if err := s.classBias(s.pvf, gl.condV); err != nil {
				return err
			}
			if err := b.SetPosition(s.vf[l], s.pvf, i, j); err != nil {
				return err
			}
			if err := s.gate(s.pv, s.pvf); err != nil {
				return err
			}
			if err := b.SetPosition(s.v[l+1], s.pv, i, j); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *gatedStepper) pass(i, j int, head bool) (*nn.Tensor, error) {
	b := s.m.B
	if err := s.at(s.m.layer("h_in"), s.ph, s.img, i, j); err != nil {
		return nil, err
	}
	for l, gl := range s.layers {
		if err := b.SetPosition(s.h[l], s.ph, i, j); err != nil {
			return nil, err
		}
		if err := s.at(gl.hConv, s.phc, s.h[l], i, j); err != nil {
			return nil, err
		}
		if err := s.at(gl.vToH, s.pt, s.vf[l], i, j); err != nil {
			return nil, err
		}
		if err := b.AddInto(s.phc, s.pt); err != nil { // h_conv + v_to_h, as the forward's sum
			return nil, err
		}
		if err := s.classBias(s.phc, gl.condH); err != nil {
			return nil, err
		}
		if err := s.gate(s.pgh, s.phc); err != nil {
			return nil, err
		}
		if err := s.at(gl.h1x1, s.po, s.pgh, 0, 0); err != nil {
			return nil, err
		}
		if err := b.AddInto(s.ph, s.po); err != nil { // h + h_1x1(gate)
			return nil, err
		}
	}
	if !head {
		return nil, nil
	}
	if err := s.ops.ELU(s.pe, s.ph); err != nil {
		return nil, err
	}
	if err := s.at(s.m.layer("out"), s.lgt, s.pe, 0, 0); err != nil {
		return nil, err
	}
	return s.lgt, nil
}

func (s *gatedStepper) setPixel(i, j int, pix []float32) error {
	t, err := s.m.B.FromHost(pix, s.pix.Shape...)
	if err != nil {
		return err
	}
	defer s.m.B.Release(t)
	return s.m.B.SetPosition(s.img, t, i, j)
}
