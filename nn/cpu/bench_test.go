package cpu_test

import (
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
)

// BenchLayer is a masked-conv shape from a preset, named as tools/peer/bench.py names it.
type benchLayer struct {
	name string
	hw   int
	spec nn.ConvSpec
}

func benchLayers() []benchLayer {
	c := func(k, in, out, colors int, mode nn.MaskMode, relu bool) nn.ConvSpec {
		return nn.ConvSpec{Name: "bench", K: k, In: in, Out: out, Colors: colors, Mode: mode, ReLU: relu}
	}
	return []benchLayer{
		{"mnist/input7x7A", 28, c(7, 1, 64, 1, nn.MaskA, false)},
		{"mnist/mid3x3B", 28, c(3, 32, 32, 1, nn.MaskB, true)},
		{"mnist/in1x1", 28, c(1, 64, 32, 1, nn.MaskB, true)},
		{"mnist/final1x1", 28, c(1, 32, 256, 1, nn.MaskB, false)},
		{"cifar10/input7x7A", 32, c(7, 3, 384, 3, nn.MaskA, false)},
		{"cifar10/mid3x3B", 32, c(3, 192, 192, 3, nn.MaskB, true)},
		{"cifar10/in1x1", 32, c(1, 384, 192, 3, nn.MaskB, true)},
		{"cifar10/final1x1", 32, c(1, 768, 768, 3, nn.MaskB, false)},
	}
}

func randTensor(b nn.Backend, r *rand.Rand, shape ...int) *nn.Tensor {
	h := make([]float32, nn.ShapeLen(shape))
	for i := range h {
		h[i] = float32(r.Float64()*2 - 1)
	}
	t, _ := b.FromHost(h, shape...)
	return t
}

// BenchmarkMaskedConv times the forward pass and the forward+backward pass (dx, dw, db) at
// batch 16. GFLOP/s counts only unmasked weights: 2 FLOPs per live multiply-add forward, and
// twice that again backward (dx and dw).
func BenchmarkMaskedConv(b *testing.B) {
	const n = 16
	for _, pass := range []string{"fwd", "fwdbwd"} {
		for _, l := range benchLayers() {
			b.Run(pass+"/"+l.name, func(b *testing.B) {
				be := cpu.New()
				r := rand.New(rand.NewPCG(1, 2))
				s := l.spec
				mask, _ := nn.Mask(s)
				w := randTensor(be, r, s.WeightShape()...)
				for i, m := range mask {
					w.Host[i] *= m
				}
				x := randTensor(be, r, n, l.hw, l.hw, s.In)
				bias := randTensor(be, r, s.Out)
				y := be.New(n, l.hw, l.hw, s.Out)
				dy := randTensor(be, r, n, l.hw, l.hw, s.Out)
				dx, dw, db := be.New(x.Shape...), be.New(w.Shape...), be.New(s.Out)
				flops := s.MaskedFLOPs(n, l.hw, l.hw)
				if pass == "fwdbwd" {
					flops *= 3
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := be.MaskedConv(s, y, x, w, bias); err != nil {
						b.Fatal(err)
					}
					if pass == "fwdbwd" {
						if err := be.MaskedConvBackward(s, dx, dw, db, dy, x, w, y); err != nil {
							b.Fatal(err)
						}
					}
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(flops/sec/1e9, "GFLOP/s")
				b.ReportMetric(sec*1e3, "ms/op")
			})
		}
	}
}
