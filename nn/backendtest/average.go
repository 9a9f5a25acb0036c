package backendtest

import (
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
)

// testLerp checks nn.Averager's Lerp bit for bit against a reference written independently
// of nn.LerpHost: each of dst + w*(src-dst)'s three operations done in float64 and rounded to
// float32 (exactly float32's own rounding: float64 holds every such sum and product of two
// float32 to within half an ulp of float32), over tensor sizes that fill no vector, weights
// 0 and 1 included; and its argument checks.
func testLerp(t *testing.T, b nn.Backend, a nn.Averager) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, w := range []float32{0, 1, 0.0005, 0.3} {
		var dst, src []*nn.Tensor
		var want [][]float32
		for _, n := range []int{1, 7, 300, 4099} {
			d, s := make([]float32, n), make([]float32, n)
			ref := make([]float32, n)
			for i := range d {
				d[i] = float32(r.NormFloat64())
				s[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(5)-2)))
				diff := float32(float64(s[i]) - float64(d[i]))
				step := float32(float64(w) * float64(diff))
				ref[i] = float32(float64(d[i]) + float64(step))
			}
			dst = append(dst, upload(t, b, d, n))
			src = append(src, upload(t, b, s, n))
			want = append(want, ref)
		}
		if err := a.Lerp(dst, src, w); err != nil {
			t.Fatal(err)
		}
		for i, x := range dst {
			for k, v := range download(t, b, x) {
				if math.Float32bits(v) != math.Float32bits(want[i][k]) {
					t.Fatalf("w %v: tensor %d element %d = %v, want %v", w, i, k, v, want[i][k])
				}
			}
		}
	}
	x, y := upload(t, b, []float32{1, 2}, 2), upload(t, b, []float32{1, 2, 3}, 3)
	for _, c := range []struct {
		dst, src []*nn.Tensor
		w        float32
	}{
		{[]*nn.Tensor{x}, []*nn.Tensor{x, x}, 0.5},
		{[]*nn.Tensor{x}, []*nn.Tensor{y}, 0.5},
		{[]*nn.Tensor{x}, []*nn.Tensor{nil}, 0.5},
		{[]*nn.Tensor{x}, []*nn.Tensor{x}, 1.5},
		{[]*nn.Tensor{x}, []*nn.Tensor{x}, float32(math.NaN())},
	} {
		if err := a.Lerp(c.dst, c.src, c.w); err == nil {
			t.Errorf("Lerp(%d dst, %d src, w %v) accepted", len(c.dst), len(c.src), c.w)
		}
	}
}
