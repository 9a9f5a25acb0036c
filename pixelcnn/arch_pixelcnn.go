package pixelcnn

import (
	"fmt"
	"math"
	"strings"

	"pixelcnn/nn"
)

// The seed's PixelCNN (arch "pixelcnn"):
//
//	input_conv 7x7 mask A, C -> 2H (no activation)
//	blocks: y += relu(conv_out(relu(conv_mid(relu(conv_in(y))))))   1x1, 3x3 mask B, 1x1
//	output_conv1 1x1 on relu(y), then ReLU; output_conv2 1x1; final_conv 1x1 -> Levels*C logits
//
// Every convolution after the first is mask B. A class-conditional model adds a class table
// [Classes, Out] (named LAYER.cond) to the pre-activation of each block's conv_in and of each
// head conv. Its receptive field has the blind spot of van
// den Oord et al. 2016b: the stacked 3x3 causal kernels never reach the pixels up and to the
// right beyond a diagonal (causal_test.go shows it).
type seedArch struct{}

func init() { registerArch(ArchPixelCNN, seedArch{}) }

func (seedArch) validate(c Config) error {
	if len(c.Dilations) > 0 {
		return fmt.Errorf("config: dilations apply to --arch %s only", ArchGated)
	}
	return c.validateSeed()
}

func (seedArch) convs(c Config) []ConvDef {
	var defs []ConvDef
	for _, s := range layerSpecs(c) {
		gain := 1.0
		if s.ReLU || s.Name == "input_conv" {
			gain = math.Sqrt2
		}
		if c.Blocks > 0 && len(s.Name) > 8 && s.Name[len(s.Name)-8:] == "conv_out" {
			gain /= math.Sqrt(float64(c.Blocks))
		}
		defs = append(defs, ConvDef{Spec: s, Gain: gain})
	}
	return defs
}

// condLayers are the layers whose pre-activation a conditional model's class tables feed.
func condLayers(c Config) []nn.ConvSpec {
	var ls []nn.ConvSpec
	for _, s := range layerSpecs(c) {
		if strings.HasSuffix(s.Name, ".conv_in") || strings.HasPrefix(s.Name, "output_conv") || s.Name == "final_conv" {
			ls = append(ls, s)
		}
	}
	return ls
}

func (seedArch) tables(c Config) []TableDef {
	if c.Classes == 0 {
		return nil
	}
	var ts []TableDef
	for _, s := range condLayers(c) {
		ts = append(ts, TableDef{s.Name + ".cond", s.Out})
	}
	return ts
}

// classConv is layer l on in with the class table t (nil: none) added to its
// pre-activation: the conv without its fused ReLU, + t[labels], then the ReLU.
func classConv(g *nn.Graph, l *Layer, in *nn.Var, t *Table, labels []int32) (*nn.Var, error) {
	if t == nil {
		return conv(g, l, in)
	}
	defer g.Range(l.Spec.Name)()
	s := l.Spec
	s.ReLU = false
	y, err := g.MaskedConv(s, in, l.W, l.B)
	if err != nil {
		return nil, err
	}
	if y, err = g.AddClassBias(y, t.T, labels); err != nil {
		return nil, err
	}
	if l.Spec.ReLU {
		return g.ReLU(y)
	}
	return y, nil
}

// condTable is layer l's class table (nil for an unconditional model).
func (m *Model) condTable(l *Layer) *Table {
	if len(m.Tables) == 0 {
		return nil // unconditional: no name to build on the sampler's per-pixel path
	}
	return m.table(l.Spec.Name + ".cond")
}

// Block is one residual block's layers: y += relu(Out(relu(Mid(relu(In(y)))))), In and Out
// 1x1, Mid 3x3.
type Block struct {
	In, Mid, Out *Layer
}

// The layer layout in Model.Layers (checkpoint order) of the seed architecture: the input
// layer, three per block, then the three head layers. Input, Blocks and Head are the only code
// that knows it.
const headLayers = 3

// Input is the first layer, input_conv (7x7, mask A), of a seed-architecture model.
func (m *Model) Input() *Layer { return m.Layers[0] }

// Blocks returns the residual blocks of a seed-architecture model in order.
func (m *Model) Blocks() []Block {
	bs := make([]Block, m.Config.Blocks)
	for i := range bs {
		l := m.Layers[1+3*i:]
		bs[i] = Block{In: l[0], Mid: l[1], Out: l[2]}
	}
	return bs
}

// Head returns output_conv1, output_conv2 and final_conv of a seed-architecture model.
func (m *Model) Head() []*Layer { return m.Layers[len(m.Layers)-headLayers:] }

// checkLayout reports whether m is a seed-architecture model with the layer count its
// config implies.
func (m *Model) checkLayout() error {
	if a := m.Config.ArchName(); a != ArchPixelCNN {
		return fmt.Errorf("model is arch %s, not %s", a, ArchPixelCNN)
	}
	if want := 1 + 3*m.Config.Blocks + headLayers; len(m.Layers) != want {
		return fmt.Errorf("model has %d layers, its config implies %d", len(m.Layers), want)
	}
	return nil
}

// layerSpecs lists every layer's spec of the seed architecture in checkpoint order.
func layerSpecs(c Config) []nn.ConvSpec {
	r, h, o, col := 2*c.Hidden, c.Hidden, c.OutDim, c.Colors
	conv := func(name string, k, in, out int, mode nn.MaskMode, relu bool) nn.ConvSpec {
		return nn.ConvSpec{Name: name, K: k, In: in, Out: out, Colors: col, Mode: mode, ReLU: relu}
	}
	specs := []nn.ConvSpec{conv("input_conv", 7, col, r, nn.MaskA, false)}
	for i := 0; i < c.Blocks; i++ {
		p := fmt.Sprintf("blocks.%d.", i)
		specs = append(specs,
			conv(p+"conv_in", 1, r, h, nn.MaskB, true),
			conv(p+"conv_mid", 3, h, h, nn.MaskB, true),
			conv(p+"conv_out", 1, h, r, nn.MaskB, true))
	}
	return append(specs,
		conv("output_conv1", 1, r, o, nn.MaskB, true),
		conv("output_conv2", 1, o, o, nn.MaskB, false),
		conv("final_conv", 1, o, Levels*col, nn.MaskB, false))
}

func (seedArch) forward(m *Model, g *nn.Graph, x *nn.Var, labels []int32) (*nn.Var, error) {
	y, err := conv(g, m.Input(), x)
	if err != nil {
		return nil, err
	}
	for _, blk := range m.Blocks() {
		h, err := classConv(g, blk.In, y, m.condTable(blk.In), labels)
		if err != nil {
			return nil, err
		}
		if h, err = conv(g, blk.Mid, h); err != nil {
			return nil, err
		}
		// conv_out and the residual add: one op where the backend fuses them.
		done := g.Range(blk.Out.Spec.Name)
		y, err = g.MaskedConvResidual(blk.Out.Spec, h, blk.Out.W, blk.Out.B, y)
		done()
		if err != nil {
			return nil, err
		}
	}
	if y, err = g.ReLU(y); err != nil {
		return nil, err
	}
	for _, l := range m.Head() {
		if y, err = classConv(g, l, y, m.condTable(l), labels); err != nil {
			return nil, err
		}
	}
	return y, nil
}

func (seedArch) newStepper(m *Model, n int, img []float32, labels []int32) (stepper, error) {
	s, err := newCachedSampler(m, n, img, labels)
	if err != nil {
		return nil, err
	}
	return seedStepper{s}, nil
}

// seedStepper is the seed's cachedSampler (cached.go) on the host.
type seedStepper struct{ s *cachedSampler }

func (seedStepper) startRow(int) error { return nil }

func (st seedStepper) pass(i, j int, head bool) (*nn.Tensor, error) {
	p := hostPos{st.s.m.B, i, j}
	if !head {
		return nil, st.s.trunk(p)
	}
	return st.s.step(p)
}

func (st seedStepper) setPixel(i, j int, pix []float32) error {
	copy(st.s.pix, pix)
	return st.s.setPixel(i, j)
}

func (st seedStepper) release() { st.s.release() }
