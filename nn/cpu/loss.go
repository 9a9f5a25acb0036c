package cpu

import (
	"fmt"
	"math"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu/vec"
)

// Target returns the 8-bit value of a subpixel stored as x = v/255.
func Target(x float32) int {
	v := int(x*255 + 0.5)
	return min(max(v, 0), 255)
}

// SoftmaxXent implements nn.Backend: per subpixel, a max-subtracted log-sum-exp over its 256
// logits, the NLL of the target, and (optionally) scale*(softmax - onehot). Nats are summed in
// float64 per fixed chunk and the chunks in order, so the total is deterministic.
func (b *Backend) SoftmaxXent(logits, x, dlogits *nn.Tensor, scale float32) (float64, error) {
	xs := x.Shape
	if len(xs) != 4 {
		return 0, fmt.Errorf("softmax xent: image shape %v, want [N,H,W,C]", xs)
	}
	want := []int{xs[0], xs[1], xs[2], xs[3] * nn.Levels}
	if err := nn.CheckShape("softmax xent: logits", logits.Shape, want); err != nil {
		return 0, err
	}
	if dlogits != nil {
		if err := nn.CheckShape("softmax xent: dlogits", dlogits.Shape, want); err != nil {
			return 0, err
		}
	}
	n := x.Len()
	const grain = 256
	chunks := (n + grain - 1) / grain
	partial := make([]float64, chunks)
	b.parallelAny(chunks, func(_, c int) {
		var sum float64
		var row [nn.Levels]float32
		for s := c * grain; s < min(n, (c+1)*grain); s++ {
			l := logits.Host[s*nn.Levels : (s+1)*nn.Levels]
			t := Target(x.Host[s])
			m := vec.Max(l) // as m = max(m, v) over l
			// One exp per logit: exp(l-m) goes into d (or a scratch row), then gets scaled.
			d := row[:]
			if dlogits != nil {
				d = dlogits.Host[s*nn.Levels : (s+1)*nn.Levels]
			}
			z := vec.ExpNegSum(d, l, m) // d[k] = expNeg(l[k]-m), z their float64 sum in order
			lse := float64(m) + math.Log(z)
			sum += lse - float64(l[t])
			if dlogits != nil {
				sc := scale * float32(1/z)
				vec.Scale(d, sc)
				d[t] -= scale
			}
		}
		partial[c] = sum
	})
	var total float64
	for _, p := range partial {
		total += p
	}
	return total, nil
}

// SampleCategorical implements nn.Backend by inverse-CDF sampling: the draw for row r is the
// first value k whose running sum of exp((l-max)/T) exceeds u * total, u = nn.Uniform(seed,
// counter, r). Sums are float64.
func (b *Backend) SampleCategorical(out []int32, logits *nn.Tensor, offset int, temperature float32, seed, counter uint64) error {
	return b.SampleCategoricalFrom(out, logits, offset, temperature, seed, counter, 0)
}

// SampleCategoricalFrom implements nn.RowOffsetSampler.
func (b *Backend) SampleCategoricalFrom(out []int32, logits *nn.Tensor, offset int, temperature float32, seed, counter uint64, row0 int) error {
	if row0 < 0 {
		return fmt.Errorf("cpu: SampleCategoricalFrom: row0 %d < 0", row0)
	}
	if err := nn.CheckSample(out, logits, offset, temperature); err != nil {
		return err
	}
	rowsN := len(out)
	if rowsN == 0 {
		return nil
	}
	rowLen := logits.Len() / rowsN
	invT := 1 / temperature
	for r := range out {
		l := logits.Host[r*rowLen+offset : r*rowLen+offset+nn.Levels]
		m := l[0]
		for _, v := range l[1:] {
			m = max(m, v)
		}
		var p [nn.Levels]float64
		var z float64
		for k, v := range l {
			p[k] = float64(vec.ExpNeg((v - m) * invT))
			z += p[k]
		}
		target := float64(nn.Uniform(seed, counter, row0+r)) * z
		k, run := 0, 0.0
		for k = 0; k < 255; k++ {
			run += p[k]
			if run > target {
				break
			}
		}
		out[r] = int32(k)
	}
	return nil
}

// SoftmaxXentPerImage implements nn.PerImageLoss: SoftmaxXent on each image's rows in turn.
func (b *Backend) SoftmaxXentPerImage(logits, x *nn.Tensor) ([]float64, error) {
	xs := x.Shape
	if len(xs) != 4 || logits.Len() != x.Len()*nn.Levels {
		return nil, fmt.Errorf("softmax xent: logits %v for images %v", logits.Shape, xs)
	}
	per := xs[1] * xs[2] * xs[3]
	out := make([]float64, xs[0])
	for k := range out {
		img := &nn.Tensor{Shape: []int{1, xs[1], xs[2], xs[3]}, Host: x.Host[k*per : (k+1)*per]}
		lg := &nn.Tensor{Shape: []int{1, xs[1], xs[2], xs[3] * nn.Levels}, Host: logits.Host[k*per*nn.Levels : (k+1)*per*nn.Levels]}
		nats, err := b.SoftmaxXent(lg, img, nil, 1)
		if err != nil {
			return nil, err
		}
		out[k] = nats
	}
	return out, nil
}
