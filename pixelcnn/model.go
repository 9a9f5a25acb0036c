package pixelcnn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"pixelcnn/nn"
)

// Layer is one masked convolution with its parameters. W is [K, K, In, Out] with every masked
// entry exactly 0 (so the effective weights are the stored ones), B is [Out].
type Layer struct {
	Spec nn.ConvSpec
	W, B *nn.Var
}

// Model is the seed's PixelCNN:
//
//	input_conv 7x7 mask A, C -> 2H (no activation)
//	blocks: y += relu(conv_out(relu(conv_mid(relu(conv_in(y))))))   1x1, 3x3 mask B, 1x1
//	output_conv1 1x1 on relu(y), then ReLU; output_conv2 1x1; final_conv 1x1 -> 256*C logits
//
// Every convolution after the first is mask B.
type Model struct {
	Config Config
	B      nn.Backend
	Layers []*Layer // in checkpoint order: input_conv, blocks.i.{conv_in,conv_mid,conv_out}, output_conv1, output_conv2, final_conv
}

// Block is one residual block's layers: y += relu(Out(relu(Mid(relu(In(y)))))), In and Out
// 1x1, Mid 3x3.
type Block struct {
	In, Mid, Out *Layer
}

// The layer layout in Model.Layers (checkpoint order): the input layer, three per block,
// then the three head layers. Input, Blocks and Head are the only code that knows it.
const headLayers = 3

// Input is the first layer, input_conv (7x7, mask A).
func (m *Model) Input() *Layer { return m.Layers[0] }

// Blocks returns the residual blocks in order.
func (m *Model) Blocks() []Block {
	bs := make([]Block, m.Config.Blocks)
	for i := range bs {
		l := m.Layers[1+3*i:]
		bs[i] = Block{In: l[0], Mid: l[1], Out: l[2]}
	}
	return bs
}

// Head returns output_conv1, output_conv2 and final_conv.
func (m *Model) Head() []*Layer { return m.Layers[len(m.Layers)-headLayers:] }

// checkLayout reports whether Layers has the count the config implies.
func (m *Model) checkLayout() error {
	if want := 1 + 3*m.Config.Blocks + headLayers; len(m.Layers) != want {
		return fmt.Errorf("model has %d layers, its config implies %d", len(m.Layers), want)
	}
	return nil
}

// layerSpecs lists every layer's spec in checkpoint order.
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
		conv("final_conv", 1, o, 256*col, nn.MaskB, false))
}

// NewModel builds a model on backend b with parameters initialised from seed.
//
// Initialisation: weights uniform with standard deviation gain/sqrt(fan_in), where fan_in
// counts only the unmasked inputs of an output (averaged over colour groups) and gain is
// sqrt(2) before a ReLU and 1 otherwise (He et al. 2015); each block's last convolution is
// further scaled by 1/sqrt(blocks) so the residual stream's variance stays O(1) however deep
// the net is. Biases start at 0. Masked entries are exactly 0.
func NewModel(b nn.Backend, c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: c, B: b}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for _, s := range layerSpecs(c) {
		mask, err := nn.Mask(s)
		if err != nil {
			return nil, err
		}
		fanIn := 0.0
		for j := 0; j < s.Colors; j++ {
			fanIn += float64(s.Taps()*s.In + s.CentreInLimit(j))
		}
		fanIn = max(fanIn/float64(s.Colors), 1)
		gain := 1.0
		if s.ReLU || s.Name == "input_conv" {
			gain = math.Sqrt2
		}
		if c.Blocks > 0 && len(s.Name) > 8 && s.Name[len(s.Name)-8:] == "conv_out" {
			gain /= math.Sqrt(float64(c.Blocks))
		}
		bound := gain / math.Sqrt(fanIn) * math.Sqrt(3)
		w := make([]float32, len(mask))
		for i := range w {
			v := (rng.Float64()*2 - 1) * bound
			w[i] = float32(v) * mask[i]
		}
		l, err := m.newLayer(s, w, make([]float32, s.Out))
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, l)
	}
	return m, nil
}

func (m *Model) newLayer(s nn.ConvSpec, w, bias []float32) (*Layer, error) {
	wt, err := m.B.FromHost(w, s.WeightShape()...)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", s.Name, err)
	}
	bt, err := m.B.FromHost(bias, s.Out)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", s.Name, err)
	}
	return &Layer{Spec: s,
		W: nn.Param(wt, m.B.New(s.WeightShape()...)),
		B: nn.Param(bt, m.B.New(s.Out))}, nil
}

// Params returns every parameter in checkpoint order (weight, bias per layer), with the name
// it has in a checkpoint.
func (m *Model) Params() (names []string, vars []*nn.Var) {
	for _, l := range m.Layers {
		names = append(names, l.Spec.Name+".weight", l.Spec.Name+".bias")
		vars = append(vars, l.W, l.B)
	}
	return names, vars
}

// ZeroGrad zeroes every parameter's gradient accumulator: in one go on a backend that can
// (nn.MultiZeroer: one launch on the GPU instead of a memset per tensor).
func (m *Model) ZeroGrad() error {
	var grads []*nn.Tensor
	for _, l := range m.Layers {
		grads = append(grads, l.W.Grad, l.B.Grad)
	}
	if z, ok := m.B.(nn.MultiZeroer); ok {
		return z.ZeroAll(grads)
	}
	for _, g := range grads {
		m.B.Zero(g)
	}
	return nil
}

// Release frees the model's tensors.
func (m *Model) Release() {
	for _, l := range m.Layers {
		for _, t := range []*nn.Tensor{l.W.Value, l.W.Grad, l.B.Value, l.B.Grad} {
			m.B.Release(t)
		}
	}
}

// Forward returns the logits [N, H, W, 256*C] of images x [N, H, W, C] (values in [0,1]).
// Any H and W work: the sampler runs the net on the rows generated so far.
func (m *Model) Forward(g *nn.Graph, x *nn.Var) (*nn.Var, error) {
	defer g.Range("forward")()
	if s := x.Value.Shape; len(s) != 4 || s[3] != m.Config.Colors {
		return nil, fmt.Errorf("model: input shape %v, want [N,H,W,%d]", s, m.Config.Colors)
	}
	conv := func(l *Layer, in *nn.Var) (*nn.Var, error) {
		defer g.Range(l.Spec.Name)()
		return g.MaskedConv(l.Spec, in, l.W, l.B)
	}
	y, err := conv(m.Input(), x)
	if err != nil {
		return nil, err
	}
	for _, blk := range m.Blocks() {
		h := y
		for _, l := range []*Layer{blk.In, blk.Mid} {
			if h, err = conv(l, h); err != nil {
				return nil, err
			}
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
		if y, err = conv(l, y); err != nil {
			return nil, err
		}
	}
	return y, nil
}

// Loss runs the forward pass on x and returns the summed NLL in nats over all N*C*H*W
// subpixels. Unless g.NoGrad, it also seeds the logits' gradient with that of the mean NLL
// per subpixel, ready for g.Backward.
func (m *Model) Loss(g *nn.Graph, x *nn.Var) (float64, error) {
	logits, err := m.Forward(g, x)
	if err != nil {
		return 0, err
	}
	return g.SoftmaxXent(logits, x, float32(1/float64(x.Value.Len())))
}

// BitsPerDim converts summed nats over n subpixels to bits per dimension.
func BitsPerDim(nats float64, subpixels int) float64 {
	return nats / (float64(subpixels) * math.Ln2)
}
