package backendtest

import (
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
)

// testValidation checks that the backend applies nn's argument rules (nn/validate.go): a nil
// bias, nil or mismatched Copy operands and a non-finite or non-positive temperature are
// errors, never panics; Zero of nil does nothing; and no op writes to its inputs.
func testValidation(t *testing.T, b nn.Backend) {
	t.Run("NilBias", func(t *testing.T) { testNilBias(t, b) })
	t.Run("ZeroCopy", func(t *testing.T) { testZeroCopy(t, b) })
	t.Run("Temperature", func(t *testing.T) { testTemperatureRule(t, b) })
	t.Run("InputsUnchanged", func(t *testing.T) { testInputsUnchanged(t, b) })
}

// noPanic runs f and turns a panic into a test failure naming what.
func noPanic(t *testing.T, what string, f func() error) error {
	t.Helper()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s panicked: %v", what, r)
			}
		}()
		err = f()
	}()
	return err
}

func testNilBias(t *testing.T, b nn.Backend) {
	s := nn.ConvSpec{Name: "probe", K: 3, In: 3, Out: 6, Colors: 3, Mode: nn.MaskB}
	x := b.New(1, 3, 4, 3)
	w := b.New(s.WeightShape()...)
	y := b.New(1, 3, 4, 6)
	yAt := b.New(1, 1, 1, 6)
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"MaskedConv", func() error { return b.MaskedConv(s, y, x, w, nil) }},
		{"MaskedConvAt", func() error { return b.MaskedConvAt(s, yAt, x, w, nil, 1, 1) }},
		{"MaskedConv nil weight", func() error { return b.MaskedConv(s, y, x, nil, b.New(6)) }},
		{"MaskedConv nil output", func() error { return b.MaskedConv(s, nil, x, w, b.New(6)) }},
		{"MaskedConvBackward nil dy", func() error { return b.MaskedConvBackward(s, nil, nil, nil, nil, x, w, y) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := noPanic(t, tc.name, tc.op)
			if err == nil || !contains(err.Error(), `"probe"`) {
				t.Fatalf("error %v; want one naming the layer", err)
			}
		})
	}
	// The bias gradient, unlike the bias, is optional.
	dy := b.New(1, 3, 4, 6)
	if err := b.MaskedConvBackward(s, nil, nil, nil, dy, x, w, y); err != nil {
		t.Errorf("MaskedConvBackward with no gradients wanted: %v", err)
	}
}

func testZeroCopy(t *testing.T, b nn.Backend) {
	b.Zero(nil) // must not panic
	r := rand.New(rand.NewPCG(21, 22))
	src := to32(randSlice(r, 24, 1))
	st := upload(t, b, src, 2, 3, 4)
	dt := upload(t, b, to32(randSlice(r, 24, 1)), 4, 6) // same length, other shape: allowed
	if err := b.Copy(dt, st); err != nil {
		t.Fatal(err)
	}
	if got := download(t, b, dt); !equal32(got, src) {
		t.Errorf("Copy: got %v, want %v", got, src)
	}
	b.Zero(dt)
	for i, v := range download(t, b, dt) {
		if v != 0 {
			t.Fatalf("Zero: element %d = %g", i, v)
		}
	}
	if got := download(t, b, st); !equal32(got, src) {
		t.Errorf("Zero of the copy changed the source")
	}
	for _, tc := range []struct {
		name     string
		dst, src *nn.Tensor
	}{
		{"length", b.New(23), st},
		{"nil dst", nil, st},
		{"nil src", dt, nil},
	} {
		t.Run("Copy "+tc.name, func(t *testing.T) {
			if err := noPanic(t, "Copy", func() error { return b.Copy(tc.dst, tc.src) }); err == nil {
				t.Fatalf("no error")
			}
		})
	}
}

// testTemperatureRule: one rule on every backend (nn.CheckTemperature): finite and > 0.
func testTemperatureRule(t *testing.T, b nn.Backend) {
	lt := upload(t, b, make([]float32, 2*256), 2, 256)
	out := make([]int32, 2)
	for _, temp := range []float32{0, -1, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		err := noPanic(t, "SampleCategorical", func() error { return b.SampleCategorical(out, lt, 0, temp, 1, 1) })
		if err == nil || !contains(err.Error(), "temperature") {
			t.Errorf("temperature %v: error %v, want one about the temperature", temp, err)
		}
	}
	for _, temp := range []float32{1e-3, 1, 1e6} {
		if err := b.SampleCategorical(out, lt, 0, temp, 1, 1); err != nil {
			t.Errorf("temperature %v: %v", temp, err)
		}
	}
}

// testInputsUnchanged runs each op once and checks that none of its inputs changed.
func testInputsUnchanged(t *testing.T, b nn.Backend) {
	r := rand.New(rand.NewPCG(23, 24))
	s := nn.ConvSpec{Name: "probe", K: 3, In: 6, Out: 9, Colors: 3, Mode: nn.MaskB, ReLU: true}
	mask, _ := nn.Mask(s)
	wh := to32(randSlice(r, len(mask), 0.5))
	for i := range wh {
		wh[i] *= mask[i]
	}
	xh := to32(randSlice(r, 2*4*5*6, 1))
	bh := to32(randSlice(r, 9, 0.1))
	x, w, bias := upload(t, b, xh, 2, 4, 5, 6), upload(t, b, wh, s.WeightShape()...), upload(t, b, bh, 9)
	y := b.New(2, 4, 5, 9)
	dyh := to32(randSlice(r, 2*4*5*9, 1))
	dy := upload(t, b, dyh, 2, 4, 5, 9)
	img := make([]float32, 2*4*5*3)
	for i := range img {
		img[i] = float32(r.IntN(256)) / 255
	}
	imgT := upload(t, b, img, 2, 4, 5, 3)
	logitsH := to32(randSlice(r, 2*4*5*768, 3))
	logits := upload(t, b, logitsH, 2, 4, 5, 768)

	type input struct {
		name string
		t    *nn.Tensor
		want []float32
	}
	check := func(op string, ins ...input) {
		t.Helper()
		for _, in := range ins {
			if got := download(t, b, in.t); !equal32(got, in.want) {
				t.Errorf("%s changed its input %s", op, in.name)
			}
		}
	}
	conv := []input{{"x", x, xh}, {"w", w, wh}, {"b", bias, bh}}
	if err := b.MaskedConv(s, y, x, w, bias); err != nil {
		t.Fatal(err)
	}
	check("MaskedConv", conv...)
	yh := download(t, b, y)
	if err := b.MaskedConvBackward(s, b.New(2, 4, 5, 6), b.New(s.WeightShape()...), b.New(9), dy, x, w, y); err != nil {
		t.Fatal(err)
	}
	check("MaskedConvBackward", append(conv, input{"y", y, yh}, input{"dy", dy, dyh})...)
	if err := b.MaskedConvAt(s, b.New(2, 1, 1, 9), x, w, bias, 2, 3); err != nil {
		t.Fatal(err)
	}
	check("MaskedConvAt", conv...)
	if _, err := b.SoftmaxXent(logits, imgT, b.New(2, 4, 5, 768), 0.5); err != nil {
		t.Fatal(err)
	}
	check("SoftmaxXent", input{"logits", logits, logitsH}, input{"x", imgT, img})
	if err := b.SampleCategorical(make([]int32, 2*4*5), logits, 256, 0.7, 1, 1); err != nil {
		t.Fatal(err)
	}
	check("SampleCategorical", input{"logits", logits, logitsH})
	if err := b.Add(b.New(2, 4, 5, 6), x, x); err != nil {
		t.Fatal(err)
	}
	if err := b.ReLU(b.New(2, 4, 5, 6), x); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SumSquares([]*nn.Tensor{x, w}); err != nil {
		t.Fatal(err)
	}
	check("Add, ReLU and SumSquares", conv[:2]...)
}

func equal32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
