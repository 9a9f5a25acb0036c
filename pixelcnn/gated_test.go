package pixelcnn

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/backendtest"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn/safetensors"
)

// gatedTestConfig is a small gated net: 3 layers, dilations 1, 2, 1 (reach 5 up, left and
// right), p = 6 (two features per colour group and half for C = 3).
func gatedTestConfig(colors, h, w, classes int) Config {
	return Config{Arch: ArchGated, Colors: colors, Height: h, Width: w, Hidden: 6, Blocks: 3,
		Dilations: []int{1, 2, 1}, Classes: classes}
}

// randomizeParams gives every parameter (biases and class tables too, which start at 0)
// random values of the scale of the initialisation, keeping masked weights 0.
func randomizeParams(t *testing.T, m *Model, r *rand.Rand) {
	t.Helper()
	for _, p := range m.params() {
		h := hostOf(t, m.B, p.v.Value)
		var mask []float32
		if p.conv != nil {
			mask, _ = nn.Mask(*p.conv)
		}
		for i := range h {
			if mask != nil {
				h[i] *= mask[i] // weights keep their init, masked ones stay 0
				continue
			}
			h[i] = float32(r.Float64()*0.4 - 0.2)
		}
		copy(p.v.Value.Host, h)
	}
}

// refGatedLogits is the gated net's forward in float64 (gated.go's equations) from params
// in Params order, with backendtest's reference convolution, gate and plain loops.
func refGatedLogits(c Config, n int, x []float64, labels []int32, params [][]float64) []float64 {
	defs := gatedArch{}.convs(c)
	idx := map[string]int{}
	for i, d := range defs {
		idx[d.Spec.Name] = i
	}
	conv := func(name string, in []float64) []float64 {
		i := idx[name]
		return backendtest.RefConv(backendtest.ConvCase{N: n, H: c.Height, W: c.Width, Spec: defs[i].Spec}, in, params[2*i], params[2*i+1])
	}
	tables := 2 * len(defs)
	bias := func(v []float64, table []float64) {
		f := len(table) / c.Classes
		per := len(v) / n
		for k := range v {
			v[k] += table[int(labels[k/per])*f+k%f]
		}
	}
	add := func(a, b []float64) []float64 {
		o := make([]float64, len(a))
		for k := range a {
			o[k] = a[k] + b[k]
		}
		return o
	}
	v, h := conv("v_in", x), conv("h_in", x)
	for i := 0; i < c.Blocks; i++ {
		pre := gatedPrefix(i)
		vf := conv(pre+"v_conv", v)
		if c.Classes > 0 {
			bias(vf, params[tables+2*i])
		}
		hf := add(conv(pre+"h_conv", h), conv(pre+"v_to_h", vf))
		if c.Classes > 0 {
			bias(hf, params[tables+2*i+1])
		}
		v = backendtest.RefGate(vf, 2*c.Hidden, c.Colors)
		h = add(h, conv(pre+"h_1x1", backendtest.RefGate(hf, 2*c.Hidden, c.Colors)))
	}
	for k, e := range h {
		if e <= 0 {
			h[k] = math.Expm1(e)
		}
	}
	return conv("out", h)
}

// TestGatedGradientCheck: the gated net's logits match the float64 reference, and the
// tape's gradients of the mean NLL match central finite differences of the reference for a
// sample of every parameter (class tables included) and of the input, C = 1 and 3,
// unconditional and conditional.
func TestGatedGradientCheck(t *testing.T) {
	for _, tc := range []struct{ colors, classes int }{{1, 0}, {3, 0}, {1, 3}, {3, 2}} {
		t.Run(fmt.Sprintf("C=%d,classes=%d", tc.colors, tc.classes), func(t *testing.T) {
			b := cpu.New()
			c := gatedTestConfig(tc.colors, 5, 6, tc.classes)
			const n = 2
			m, err := NewModel(b, c, 3)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(4, uint64(tc.colors+tc.classes)))
			randomizeParams(t, m, r)
			var labels []int32
			if tc.classes > 0 {
				labels = []int32{int32(tc.classes - 1), 0}
			}
			xs := randomImages(r, c, n)
			xt, _ := b.FromHost(xs, n, c.Height, c.Width, c.Colors)
			g := nn.NewGraph(b)
			xv := g.Input(xt)
			if err := m.ZeroGrad(); err != nil {
				t.Fatal(err)
			}
			logits, err := m.Forward(g, xv, labels)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.SoftmaxXent(logits, xv, float32(1/float64(len(xs)))); err != nil {
				t.Fatal(err)
			}
			if err := g.Backward(); err != nil {
				t.Fatal(err)
			}
			x64 := make([]float64, len(xs))
			targets := make([]int, len(xs))
			for i, v := range xs {
				x64[i], targets[i] = float64(v), cpu.Target(v)
			}
			_, vars := m.Params()
			params := make([][]float64, len(vars))
			for i, v := range vars {
				for _, f := range hostOf(t, b, v.Value) {
					params[i] = append(params[i], float64(f))
				}
			}
			ref := refGatedLogits(c, n, x64, labels, params)
			got := hostOf(t, b, logits.Value)
			for i := range ref {
				if math.Abs(float64(got[i])-ref[i]) > 1e-4*(1+math.Abs(ref[i])) {
					t.Fatalf("logit %d: %g, float64 reference %g", i, got[i], ref[i])
				}
			}
			loss := func() float64 {
				nats, _ := backendtest.RefSoftmaxXent(refGatedLogits(c, n, x64, labels, params), targets, 1)
				return nats / float64(len(targets))
			}
			const h = 1e-5
			check := func(what string, vals []float64, analytic float32, i int) {
				old := vals[i]
				vals[i] = old + h
				lp := loss()
				vals[i] = old - h
				lm := loss()
				vals[i] = old
				if fd := (lp - lm) / (2 * h); math.Abs(float64(analytic)-fd) > 2e-3*math.Abs(fd)+2e-7 {
					t.Errorf("%s[%d]: tape %g, finite difference %g", what, i, analytic, fd)
				}
			}
			checkSampledGradients(t, m, r, 4, params, check)
			dx := hostOf(t, b, xv.Grad)
			for _, i := range r.Perm(len(dx))[:8] {
				check("input", x64, dx[i], i)
			}
		})
	}
}

// inputGradient returns d(w . logits of subpixel (i, j, col))/dx for one image x, w random:
// which input subpixels the logits of (i, j, col) read.
func inputGradient(t *testing.T, m *Model, x []float32, i, j, col int, r *rand.Rand) []float32 {
	t.Helper()
	c, b := m.Config, m.B
	xt, _ := b.FromHost(x, 1, c.Height, c.Width, c.Colors)
	defer b.Release(xt)
	g := nn.NewGraph(b)
	defer g.Release()
	xv := g.Input(xt)
	var labels []int32
	if m.Conditional() {
		labels = []int32{0}
	}
	logits, err := m.Forward(g, xv, labels)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]float32, logits.Value.Len())
	off := ((i*c.Width+j)*c.Colors + col) * Levels
	for k := 0; k < Levels; k++ {
		seed[off+k] = float32(r.Float64()*2 - 1)
	}
	if logits.Grad, err = b.FromHost(seed, logits.Value.Shape...); err != nil {
		t.Fatal(err)
	}
	defer b.Release(logits.Grad)
	if err := g.Backward(); err != nil {
		t.Fatal(err)
	}
	return hostOf(t, b, xv.Grad)
}

// TestReceptiveField is the blind-spot test of van den Oord et al. 2016b. For the logits of
// subpixel (i, j, col), the input gradient must be exactly 0 outside the causal cone (rows
// below, the pixels right of (i, j) in row i, the current and later colours of the pixel)
// and outside the architecture's reach R (R rows up, R columns right, R columns left in row
// i), and nonzero at every pixel of the cone within reach: every row above from j-R to j+R,
// every pixel from j-R to j-1 in row i, the earlier colours of (i, j). The gated net passes;
// the seed net, run through the same test with its own reach, shows its blind spot: pixels
// above and to the right that its stacked causal kernels never see.
func TestReceptiveField(t *testing.T) {
	seed := Config{Colors: 1, Height: 10, Width: 11, Hidden: 6, Blocks: 2, OutDim: 12}
	for _, tc := range []struct {
		name      string
		c         Config
		reach     int
		blindSpot bool
	}{
		{"gated C=1", gatedTestConfig(1, 10, 13, 0), 5, false},
		{"gated C=3", gatedTestConfig(3, 10, 13, 0), 5, false},
		{"gated conditional", gatedTestConfig(1, 10, 13, 10), 5, false},
		{"pixelcnn C=1", seed, 3 + seed.Blocks, true}, // 7x7 input conv, then 3x3 per block
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.c.Arch == ArchGated {
				tc.c.Dilations = []int{1, 2, 1} // reach 1 (v_in, h_in) + 1 + 2 + 1
			}
			m, err := NewModel(cpu.New(), tc.c, 9)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(8, 1))
			randomizeParams(t, m, r)
			c := m.Config
			x := randomImages(r, c, 1)
			R := tc.reach
			i, j := c.Height-1, c.Width/2
			for col := 0; col < c.Colors; col++ {
				dx := inputGradient(t, m, x, i, j, col, r)
				missed := 0
				for y := 0; y < c.Height; y++ {
					for xx := 0; xx < c.Width; xx++ {
						for q := 0; q < c.Colors; q++ {
							v := dx[(y*c.Width+xx)*c.Colors+q]
							above := y < i && y >= i-R && xx <= j+R
							left := y == i && xx < j && xx >= j-R
							centre := y == i && xx == j && q < col
							inBox := (above && xx >= j-R) || left || centre
							switch {
							case !(above || left || centre) && v != 0:
								t.Errorf("colour %d: gradient %g at (%d,%d,%d), outside the causal cone within reach %d", col, v, y, xx, q, R)
							case inBox && v == 0:
								missed++
								if !tc.blindSpot {
									t.Errorf("colour %d: no gradient at (%d,%d,%d), inside the causal cone (a blind spot)", col, y, xx, q)
								}
							}
						}
					}
				}
				if tc.blindSpot && missed == 0 {
					t.Errorf("colour %d: the seed architecture should show its blind spot, but every pixel of the cone within reach %d is seen", col, R)
				}
			}
		})
	}
}

// TestGatedCachedMatchesNaive: the cached gated sampler draws exactly the naive sampler's
// images (bit for bit), C = 1 and 3, with and without kept rows, conditional or not; and so
// does the conditional seed architecture's.
func TestGatedCachedMatchesNaive(t *testing.T) {
	for _, tc := range []struct {
		arch                  string
		colors, classes, keep int
	}{{ArchGated, 1, 0, 0}, {ArchGated, 3, 0, 2}, {ArchGated, 1, 4, 3}, {ArchGated, 3, 2, 0}, {ArchPixelCNN, 1, 3, 2}, {ArchPixelCNN, 3, 2, 0}} {
		t.Run(fmt.Sprintf("%s,C=%d,classes=%d,keep=%d", tc.arch, tc.colors, tc.classes, tc.keep), func(t *testing.T) {
			c := gatedTestConfig(tc.colors, 7, 6, tc.classes)
			if tc.arch == ArchPixelCNN {
				c = tinyConfig(tc.colors, 7, 6)
				c.Classes = tc.classes
			}
			m, err := NewModel(cpu.New(), c, 2)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 3))
			randomizeParams(t, m, r)
			const n = 3
			o := SampleOptions{N: n, Seed: 5, Temperature: 1, KeepRows: tc.keep}
			if tc.keep > 0 {
				o.Known = make([]uint8, n*c.Subpixels())
				for k := range o.Known {
					o.Known[k] = uint8(r.IntN(256))
				}
			}
			if tc.classes > 0 {
				o.Labels = []int32{0, int32(tc.classes - 1), 1}
			}
			naive, err := SampleNaive(m, o)
			if err != nil {
				t.Fatal(err)
			}
			cached, err := SampleCached(m, o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(naive, cached) {
				t.Fatalf("cached images differ from naive ones")
			}
			if tc.keep > 0 && !slices.Equal(cached[:tc.keep*c.Width*c.Colors], o.Known[:tc.keep*c.Width*c.Colors]) {
				t.Fatalf("kept rows changed")
			}
		})
	}
}

// TestConditionalLabelsMatter: a conditional model's logits depend on the label (gated and
// seed architectures), and a label out of range, a missing label or labels for an
// unconditional model are errors.
func TestConditionalLabelsMatter(t *testing.T) {
	b := cpu.New()
	seed := tinyConfig(1, 4, 4)
	seed.Classes = 3
	for _, c := range []Config{gatedTestConfig(1, 4, 4, 3), seed} {
		m, err := NewModel(b, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 1))
		randomizeParams(t, m, r)
		x := randomImages(r, c, 1)
		logits := func(m *Model, labels []int32) ([]float32, error) {
			xt, _ := b.FromHost(x, 1, c.Height, c.Width, c.Colors)
			g := nn.NewGraph(b)
			g.NoGrad = true
			defer g.Release()
			l, err := m.Forward(g, nn.Constant(xt), labels)
			if err != nil {
				return nil, err
			}
			return hostOf(t, b, l.Value), nil
		}
		a, err := logits(m, []int32{0})
		if err != nil {
			t.Fatal(err)
		}
		if b2, _ := logits(m, []int32{2}); slices.Equal(a, b2) {
			t.Errorf("%s: labels 0 and 2 give the same logits", c.ArchName())
		}
		for _, bad := range [][]int32{{3}, {-1}, nil, {0, 1}} {
			if _, err := logits(m, bad); err == nil {
				t.Errorf("%s: labels %v: no error", c.ArchName(), bad)
			}
		}
		c.Classes = 0
		u, _ := NewModel(b, c, 1)
		if _, err := logits(u, []int32{0}); err == nil {
			t.Errorf("%s: labels for an unconditional model: no error", c.ArchName())
		}
	}
}

// TestGatedCheckpoint: a conditional gated model saved and loaded gives the same logits; the
// file is format v2 with the gated names and PyTorch shapes (1x3 kernels for the horizontal
// stack, [classes, 2p] tables); a v2 file of an unknown architecture is an error naming it,
// and a v1 file cannot claim another architecture than the seed's.
func TestGatedCheckpoint(t *testing.T) {
	b := cpu.New()
	c := gatedTestConfig(3, 4, 5, 4)
	m, err := NewModel(b, c, 6)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(6, 6))
	randomizeParams(t, m, r)
	path := filepath.Join(t.TempDir(), "g.safetensors")
	if err := Save(path, m, nil, "cifar10"); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != FormatV2 {
		t.Errorf("format %q, want %q", f.Metadata["format"], FormatV2)
	}
	for name, shape := range map[string][]int{
		"v_in.weight": {6, 3, 3, 3}, "h_in.weight": {6, 3, 1, 3}, "layers.1.v_conv.weight": {12, 6, 3, 3},
		"layers.1.h_conv.weight": {12, 6, 1, 3}, "layers.2.v_to_h.weight": {12, 12, 1, 1}, "layers.0.h_1x1.weight": {6, 6, 1, 1},
		"layers.2.cond_v": {4, 12}, "layers.0.cond_h": {4, 12}, "out.weight": {768, 6, 1, 1}, "out.bias": {768},
	} {
		if tt, ok := f.Get(name); !ok || !slices.Equal(tt.Shape, shape) {
			t.Errorf("tensor %s: present %v, shape %v, want %v", name, ok, tt.Shape, shape)
		}
	}
	ck, err := Load(path, b)
	if err != nil {
		t.Fatal(err)
	}
	x := randomImages(r, c, 2)
	labels := []int32{3, 1}
	logits := func(m *Model) []float32 {
		xt, _ := b.FromHost(x, 2, c.Height, c.Width, c.Colors)
		g := nn.NewGraph(b)
		g.NoGrad = true
		defer g.Release()
		l, err := m.Forward(g, nn.Constant(xt), labels)
		if err != nil {
			t.Fatal(err)
		}
		return hostOf(t, b, l.Value)
	}
	if !slices.Equal(logits(m), logits(ck.Model)) {
		t.Errorf("the loaded model's logits differ")
	}
	rewrite := func(format, arch string) string {
		meta := maps.Clone(f.Metadata)
		meta["format"] = format
		meta["config"] = strings.Replace(meta["config"], `"arch":"gated"`, `"arch":"`+arch+`"`, 1)
		meta[MetaSHA256] = contentSHA256(f.Tensors, meta) // a consistent file, only the config is wrong
		p := filepath.Join(t.TempDir(), "x.safetensors")
		if err := safetensors.Write(p, f.Tensors, meta); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ format, arch, want string }{
		{FormatV2, "wavenet", `architecture "wavenet": unknown`},
		{FormatV1, "gated", "a pixelcnn/v1 file holds the pixelcnn architecture"},
	} {
		if _, err := Load(rewrite(tc.format, tc.arch), b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("format %s, arch %s: error %v, want one containing %q", tc.format, tc.arch, err, tc.want)
		}
	}
}
