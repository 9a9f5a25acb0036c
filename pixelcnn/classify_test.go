package pixelcnn

import (
	"context"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn/data"
)

// TestClassify trains a small conditional gated model on two classes that differ in
// brightness (class 0 dark noise, class 1 bright noise) and checks that the generative
// classifier sorts held-out images into them, that its confusion matrix adds up, and that an
// unconditional model refuses to classify.
func TestClassify(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	c := gatedTestConfig(1, 6, 6, 2)
	split := func(n int) data.Split {
		s := data.Split{N: n, Pixels: make([]uint8, n*c.Subpixels()), Labels: make([]uint8, n)}
		for i := 0; i < n; i++ {
			s.Labels[i] = uint8(i % 2)
			for k := 0; k < c.Subpixels(); k++ {
				s.Pixels[i*c.Subpixels()+k] = uint8(r.IntN(100) + 155*(i%2))
			}
		}
		return s
	}
	train, test := split(64), split(20)
	b := cpu.New()
	m, err := NewModel(b, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultTrainOptions()
	o.LR = 3e-3
	tr, err := NewTrainer(m, train, o)
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 60; s++ {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Classify(context.Background(), m, test, 0, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, row := range res.Confusion {
		for _, v := range row {
			sum += v
		}
	}
	if sum != test.N || res.Images != test.N {
		t.Fatalf("confusion matrix holds %d images, want %d", sum, test.N)
	}
	if res.Accuracy() < 0.95 {
		t.Errorf("accuracy %.2f on separable classes, want >= 0.95 (confusion %v)", res.Accuracy(), res.Confusion)
	}
	bpd, _, err := Evaluate(m, test, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if d := res.BitsPerDim - bpd; d > 1e-9 || d < -1e-9 {
		t.Errorf("classify's bits/dim given the true label %v, Evaluate's %v", res.BitsPerDim, bpd)
	}
	u, _ := NewModel(b, gatedTestConfig(1, 6, 6, 0), 1)
	if _, err := Classify(context.Background(), u, test, 0, 8, nil); err == nil {
		t.Errorf("an unconditional model classified")
	}
	if _, err := NewTrainer(m, data.Split{N: 4, Pixels: make([]uint8, 4*c.Subpixels())}, o); err == nil {
		t.Errorf("a conditional trainer accepted a split without labels")
	}
}
