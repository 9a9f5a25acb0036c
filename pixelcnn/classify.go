package pixelcnn

import (
	"context"
	"fmt"
	"math"

	"pixelcnn/nn"
	"pixelcnn/pixelcnn/data"
)

// Classification is a class-conditional model used as a generative classifier: each image
// is assigned argmax_y p(x | y) (argmin of its NLL given y; a uniform prior over classes).
type Classification struct {
	Images    int
	Correct   int
	Confusion [][]int // [true class][predicted class]
	// BitsPerDim is the conditional NLL given the true label, over all the images' subpixels.
	BitsPerDim float64
}

// Accuracy is the fraction of images classified correctly.
func (c Classification) Accuracy() float64 { return float64(c.Correct) / float64(c.Images) }

// Classify evaluates a conditional model on the first limit images of split (all when
// limit <= 0) with one batched pass per class: every image's NLL under every label.
// progress, when set, is called after each batch with the images done and the total.
func Classify(ctx context.Context, m *Model, split data.Split, limit, batch int, progress func(done, total int)) (Classification, error) {
	c := m.Config
	var res Classification
	if !m.Conditional() {
		return res, fmt.Errorf("classify: the model is unconditional: only a class-conditional model (train --conditional) can classify")
	}
	if split.Labels == nil {
		return res, fmt.Errorf("classify: the split has no labels to score against")
	}
	pl, ok := m.B.(nn.PerImageLoss)
	if !ok {
		return res, fmt.Errorf("classify: backend %s has no per-image loss (use --device cpu)", m.B.Name())
	}
	if batch < 1 {
		return res, fmt.Errorf("classify: batch %d must be >= 1", batch)
	}
	n := split.N
	if limit > 0 {
		n = min(n, limit)
	}
	res.Images = n
	res.Confusion = make([][]int, c.Classes)
	for i := range res.Confusion {
		res.Confusion[i] = make([]int, c.Classes)
	}
	g := nn.NewGraph(m.B)
	g.NoGrad = true
	host := make([]float32, batch*c.Subpixels())
	var trueNats float64
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		idx := make([]int, min(batch, n-start))
		for i := range idx {
			idx[i] = start + i
		}
		truth := make([]int32, len(idx))
		split.FillLabels(truth, idx)
		x := host[:len(idx)*c.Subpixels()]
		split.Fill(x, idx, c.Height, c.Width, c.Colors)
		xt, err := m.B.FromHost(x, len(idx), c.Height, c.Width, c.Colors)
		if err != nil {
			return res, err
		}
		best := make([]float64, len(idx))
		pred := make([]int, len(idx))
		for k := range best {
			best[k] = math.Inf(1)
		}
		labels := make([]int32, len(idx))
		for y := 0; y < c.Classes; y++ {
			for k := range labels {
				labels[k] = int32(y)
			}
			logits, err := m.Forward(g, nn.Constant(xt), labels)
			if err != nil {
				m.B.Release(xt)
				return res, err
			}
			nats, err := pl.SoftmaxXentPerImage(logits.Value, xt)
			g.Release()
			if err != nil {
				m.B.Release(xt)
				return res, err
			}
			for k, v := range nats {
				if v < best[k] { // ties keep the lower class
					best[k], pred[k] = v, y
				}
				if int32(y) == truth[k] {
					trueNats += v
				}
			}
		}
		m.B.Release(xt)
		for k, t := range truth {
			res.Confusion[t][pred[k]]++
			if int(t) == pred[k] {
				res.Correct++
			}
		}
		if progress != nil {
			progress(start+len(idx), n)
		}
	}
	res.BitsPerDim = BitsPerDim(trueNats, n*c.Subpixels())
	return res, nil
}
