package pixelcnn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"pixelcnn/nn"
)

// Layer is one masked convolution with its parameters. W is [KH, K, In, Out] with every
// masked entry exactly 0 (so the effective weights are the stored ones), B is [Out].
type Layer struct {
	Spec nn.ConvSpec
	W, B *nn.Var
}

// Table is a class-conditional bias: T [Classes, Width], row y added to a layer's
// pre-activation for an image of class y. Name is its checkpoint name.
type Table struct {
	Name string
	T    *nn.Var
}

// Model is a network of one architecture (Config.Arch) on backend b: its convolutions and
// class tables in checkpoint order. The architecture's file (arch_pixelcnn.go, gated.go)
// says how they are wired.
type Model struct {
	Config Config
	B      nn.Backend
	Layers []*Layer // every conv, in checkpoint order
	Tables []*Table // class tables of a conditional model, in checkpoint order
	arch   Arch
	byName map[string]*Layer
}

// Arch is the model's architecture.
func (m *Model) Arch() Arch { return m.arch }

// Conditional reports whether the model takes a class label per image.
func (m *Model) Conditional() bool { return m.Config.Classes > 0 }

// layer returns the conv named name; the architecture's names are fixed by its convs list,
// so a miss is a programming error caught by every test that builds the model.
func (m *Model) layer(name string) *Layer {
	l, ok := m.byName[name]
	if !ok {
		panic(fmt.Sprintf("pixelcnn: %s model has no layer %q", m.Config.ArchName(), name))
	}
	return l
}

// table returns the class table named name (nil for an unconditional model).
func (m *Model) table(name string) *Table {
	for _, t := range m.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// NewModel builds a model on backend b with parameters initialised from seed.
//
// Initialisation: weights uniform with standard deviation gain/sqrt(fan_in), where fan_in
// counts only the unmasked inputs of an output (averaged over colour groups) and the gain is
// the architecture's (ConvDef.Gain: sqrt(2) before a ReLU, He et al. 2015; a residual branch
// scaled by 1/sqrt(blocks) so the stream's variance stays O(1) however deep the net is).
// Biases and class tables start at 0. Masked entries are exactly 0.
func NewModel(b nn.Backend, c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := newEmptyModel(b, c)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for _, d := range m.arch.convs(c) {
		s := d.Spec
		mask, err := nn.Mask(s)
		if err != nil {
			return nil, err
		}
		fanIn := 0.0
		for j := 0; j < s.Colors; j++ {
			fanIn += float64(s.Taps()*s.In + s.CentreInLimit(j))
		}
		fanIn = max(fanIn/float64(s.Colors), 1)
		bound := d.Gain / math.Sqrt(fanIn) * math.Sqrt(3)
		w := make([]float32, len(mask))
		for i := range w {
			v := (rng.Float64()*2 - 1) * bound
			w[i] = float32(v) * mask[i]
		}
		if err := m.addLayer(s, w, make([]float32, s.Out)); err != nil {
			return nil, err
		}
	}
	for _, t := range m.arch.tables(c) {
		if err := m.addTable(t, make([]float32, c.Classes*t.Width)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func newEmptyModel(b nn.Backend, c Config) *Model {
	return &Model{Config: c, B: b, arch: archOf(c), byName: map[string]*Layer{}}
}

func (m *Model) addLayer(s nn.ConvSpec, w, bias []float32) error {
	wt, err := m.B.FromHost(w, s.WeightShape()...)
	if err != nil {
		return fmt.Errorf("layer %q: %w", s.Name, err)
	}
	bt, err := m.B.FromHost(bias, s.Out)
	if err != nil {
		return fmt.Errorf("layer %q: %w", s.Name, err)
	}
	l := &Layer{Spec: s,
		W: nn.Param(wt, m.B.New(s.WeightShape()...)),
		B: nn.Param(bt, m.B.New(s.Out))}
	m.Layers = append(m.Layers, l)
	m.byName[s.Name] = l
	return nil
}

func (m *Model) addTable(d TableDef, v []float32) error {
	shape := []int{m.Config.Classes, d.Width}
	t, err := m.B.FromHost(v, shape...)
	if err != nil {
		return fmt.Errorf("table %q: %w", d.Name, err)
	}
	m.Tables = append(m.Tables, &Table{Name: d.Name, T: nn.Param(t, m.B.New(shape...))})
	return nil
}

// param is one parameter with its checkpoint name; conv is its layer's spec for a conv
// weight (stored in PyTorch layout), nil for a bias or a table (stored as is).
type param struct {
	name string
	v    *nn.Var
	conv *nn.ConvSpec
}

// params lists every parameter in checkpoint order: weight and bias per conv, then the
// class tables.
func (m *Model) params() []param {
	var ps []param
	for _, l := range m.Layers {
		ps = append(ps, param{l.Spec.Name + ".weight", l.W, &l.Spec}, param{l.Spec.Name + ".bias", l.B, nil})
	}
	for _, t := range m.Tables {
		ps = append(ps, param{t.Name, t.T, nil})
	}
	return ps
}

// Params returns every parameter in checkpoint order (weight, bias per layer, then the class
// tables), with the name it has in a checkpoint.
func (m *Model) Params() (names []string, vars []*nn.Var) {
	for _, p := range m.params() {
		names = append(names, p.name)
		vars = append(vars, p.v)
	}
	return names, vars
}

// ZeroGrad zeroes every parameter's gradient accumulator: in one go on a backend that can
// (nn.MultiZeroer: one launch on the GPU instead of a memset per tensor).
func (m *Model) ZeroGrad() error {
	var grads []*nn.Tensor
	for _, p := range m.params() {
		grads = append(grads, p.v.Grad)
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
	for _, p := range m.params() {
		m.B.Release(p.v.Value)
		m.B.Release(p.v.Grad)
	}
}

// checkLabels checks that a conditional model gets one label in range per image and an
// unconditional one none.
func (m *Model) checkLabels(n int, labels []int32) error {
	if !m.Conditional() {
		if labels != nil {
			return fmt.Errorf("model: labels given to an unconditional model")
		}
		return nil
	}
	if len(labels) != n {
		return fmt.Errorf("model: a conditional model needs one label per image: %d labels for %d images", len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= m.Config.Classes {
			return fmt.Errorf("model: image %d has class %d, the model has classes 0..%d", i, l, m.Config.Classes-1)
		}
	}
	return nil
}

// Forward returns the logits [N, H, W, Levels*C] of images x [N, H, W, C] (values in [0,1]),
// with labels (one per image) for a conditional model and nil otherwise. Any H and W work:
// the sampler runs the net on the rows generated so far.
func (m *Model) Forward(g *nn.Graph, x *nn.Var, labels []int32) (*nn.Var, error) {
	defer g.Range("forward")()
	s := x.Value.Shape
	if len(s) != 4 || s[3] != m.Config.Colors {
		return nil, fmt.Errorf("model: input shape %v, want [N,H,W,%d]", s, m.Config.Colors)
	}
	if err := m.checkLabels(s[0], labels); err != nil {
		return nil, err
	}
	return m.arch.forward(m, g, x, labels)
}

// conv runs layer l on in inside a named profiler range.
func conv(g *nn.Graph, l *Layer, in *nn.Var) (*nn.Var, error) {
	defer g.Range(l.Spec.Name)()
	return g.MaskedConv(l.Spec, in, l.W, l.B)
}

// Loss runs the forward pass on x and returns the summed NLL in nats over all N*C*H*W
// subpixels. Unless g.NoGrad, it also seeds the logits' gradient with that of the mean NLL
// per subpixel, ready for g.Backward.
func (m *Model) Loss(g *nn.Graph, x *nn.Var, labels []int32) (float64, error) {
	logits, err := m.Forward(g, x, labels)
	if err != nil {
		return 0, err
	}
	return g.SoftmaxXent(logits, x, float32(1/float64(x.Value.Len())))
}

// BitsPerDim converts summed nats over n subpixels to bits per dimension.
func BitsPerDim(nats float64, subpixels int) float64 {
	return nats / (float64(subpixels) * math.Ln2)
}
