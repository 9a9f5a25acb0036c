//go:build cuda

package cuda

import (
	"errors"
	"strings"
	"testing"

	"pixelcnn/nn"
)

func TestProfile(t *testing.T) {
	b := gpu(t)
	spec := nn.ConvSpec{Name: "prof_conv", K: 3, In: 6, Out: 6, Colors: 3, Mode: nn.MaskB, ReLU: true}
	x, w, bias := b.New(2, 8, 8, 6), b.New(spec.WeightShape()...), b.New(6)
	y, z := b.New(2, 8, 8, 6), b.New(2, 8, 8, 6)
	defer func() {
		for _, tn := range []*nn.Tensor{x, w, bias, y, z} {
			b.Release(tn)
		}
	}()
	fn := func() error {
		if err := b.MaskedConv(spec, y, x, w, bias); err != nil {
			return err
		}
		return b.Add(z, y, x)
	}
	ks, total, err := b.Profile(16, fn)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || !strings.HasPrefix(ks[0].Kernel, "maskedconv_forward_") || ks[0].Op != `cuda: layer "prof_conv"` ||
		ks[1].Kernel != "add_v1" || ks[1].Op != "cuda: add" {
		t.Fatalf("launches %+v, want the conv forward of prof_conv then add_v1", ks)
	}
	sum := 0.0
	for _, k := range ks {
		if !(k.Ms > 0) || k.Block < 1 || k.Grid[0] < 1 {
			t.Errorf("launch %+v: want a positive time and a launch shape", k)
		}
		sum += k.Ms
	}
	if !(total >= sum) {
		t.Errorf("whole profile %v ms, less than its launches' %v ms", total, sum)
	}
	if b.prof != nil {
		t.Error("profiler still on after Profile")
	}

	if _, _, err := b.Profile(1, fn); err == nil || !strings.Contains(err.Error(), "2 launches, only 1") {
		t.Errorf("over capacity: error %v", err)
	}
	boom := errors.New("boom")
	if _, _, err := b.Profile(4, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("fn's error: got %v", err)
	}
	nested := func() error { _, _, err := b.Profile(4, fn); return err }
	if _, _, err := b.Profile(4, nested); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("nested profile: error %v", err)
	}
	if b.prof != nil {
		t.Error("profiler still on after failed profiles")
	}
	// Unprofiled launches still work afterwards.
	if err := fn(); err != nil {
		t.Fatal(err)
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}
