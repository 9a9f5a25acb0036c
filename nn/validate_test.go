package nn

import (
	"math"
	"strings"
	"testing"
)

func tensor(shape ...int) *Tensor { return &Tensor{Shape: shape} }

func TestCheckConv(t *testing.T) {
	s := ConvSpec{Name: "probe", K: 3, In: 6, Out: 9, Colors: 3, Mode: MaskB}
	x, w, b, y := tensor(2, 4, 5, 6), tensor(3, 3, 6, 9), tensor(9), tensor(2, 4, 5, 9)
	if err := CheckConv(s, y, x, w, b); err != nil {
		t.Fatalf("valid call: %v", err)
	}
	if err := CheckConvAt(s, tensor(2, 1, 1, 9), x, w, b, 3, 4); err != nil {
		t.Fatalf("valid position call: %v", err)
	}
	if err := CheckConvBackward(s, nil, nil, nil, y, x, w, y); err != nil {
		t.Fatalf("valid backward call without gradients: %v", err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil bias", CheckConv(s, y, x, w, nil), "nil bias"},
		{"nil bias at", CheckConvAt(s, tensor(2, 1, 1, 9), x, w, nil, 0, 0), "nil bias"},
		{"nil input", CheckConv(s, y, nil, w, b), "nil input"},
		{"nil output", CheckConv(s, nil, x, w, b), "nil output"},
		{"bias shape", CheckConv(s, y, x, w, tensor(6)), "bias: shape [6]"},
		{"weight shape", CheckConv(s, y, x, tensor(1, 1, 6, 9), b), "weight: shape"},
		{"output shape", CheckConv(s, tensor(2, 4, 5, 6), x, w, b), "output: shape"},
		{"input features", CheckConv(s, y, tensor(2, 4, 5, 3), w, b), "input shape"},
		{"bad spec", CheckConv(ConvSpec{Name: "probe", K: 2, In: 6, Out: 9, Colors: 3}, y, x, w, b), "kernel size"},
		{"position outside", CheckConvAt(s, tensor(2, 1, 1, 9), x, w, b, 4, 0), "outside a 4x5 image"},
		{"position output", CheckConvAt(s, y, x, w, b, 0, 0), "position output"},
		{"backward nil dy", CheckConvBackward(s, nil, nil, nil, nil, x, w, y), "nil output gradient"},
		{"backward dx", CheckConvBackward(s, tensor(2, 4, 5, 9), nil, nil, y, x, w, y), "input gradient"},
		{"backward dw", CheckConvBackward(s, nil, tensor(9), nil, y, x, w, y), "weight gradient"},
		{"backward db", CheckConvBackward(s, nil, nil, tensor(6), y, x, w, y), "bias gradient"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) || !strings.Contains(tc.err.Error(), `"probe"`) {
			t.Errorf("%s: %v; want an error naming the layer and containing %q", tc.name, tc.err, tc.want)
		}
	}
}

func TestCheckCopyAndSample(t *testing.T) {
	if err := CheckCopy(tensor(2, 3), tensor(6)); err != nil {
		t.Errorf("same length: %v", err)
	}
	for _, err := range []error{CheckCopy(tensor(2), tensor(3)), CheckCopy(nil, tensor(1)), CheckCopy(tensor(1), nil)} {
		if err == nil {
			t.Errorf("bad copy accepted")
		}
	}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, temp := range []float32{0, -1, inf, -inf, nan} {
		if err := CheckTemperature(temp); err == nil {
			t.Errorf("temperature %v accepted", temp)
		}
		if err := CheckSample(nil, nil, 0, temp); err == nil {
			t.Errorf("temperature %v accepted with nothing to draw", temp)
		}
	}
	for _, temp := range []float32{1e-6, 1, math.MaxFloat32} {
		if err := CheckTemperature(temp); err != nil {
			t.Errorf("temperature %v: %v", temp, err)
		}
	}
	out := make([]int32, 2)
	for _, tc := range []struct {
		logits *Tensor
		offset int
		ok     bool
	}{
		{tensor(2, 512), 256, true},
		{tensor(2, 512), 257, false},
		{tensor(2, 512), -1, false},
		{tensor(3, 255), 0, false},
		{nil, 0, false},
	} {
		if err := CheckSample(out, tc.logits, tc.offset, 1); (err == nil) != tc.ok {
			t.Errorf("logits %v offset %d: %v", tc.logits, tc.offset, err)
		}
	}
}
