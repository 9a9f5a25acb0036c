package pixelcnn

import (
	"context"
	"errors"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn/data"
)

// TestEvaluateContext: progress is reported per batch, the result is Evaluate's, and a done
// context stops the evaluation before its next batch.
func TestEvaluateContext(t *testing.T) {
	c := Config{Colors: 1, Height: 6, Width: 5, Hidden: 4, Blocks: 1, OutDim: 6}
	m, err := NewModel(cpu.New(), c, 3)
	if err != nil {
		t.Fatal(err)
	}
	split := data.Split{N: 10, Pixels: make([]uint8, 10*c.Subpixels())}
	for i := range split.Pixels {
		split.Pixels[i] = uint8(i * 37)
	}
	var seen [][2]int
	got, _, err := EvaluateContext(context.Background(), m, split, 0, 4, func(done, total int) {
		seen = append(seen, [2]int{done, total})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want, _, _ := Evaluate(m, split, 0, 4); got != want {
		t.Errorf("EvaluateContext %v, Evaluate %v", got, want)
	}
	if len(seen) != 3 || seen[0] != [2]int{4, 10} || seen[2] != [2]int{10, 10} {
		t.Errorf("progress %v, want (4,10) (8,10) (10,10)", seen)
	}

	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	_, _, err = EvaluateContext(ctx, m, split, 0, 4, func(done, total int) {
		batches++
		cancel()
	})
	if !errors.Is(err, context.Canceled) || batches != 1 {
		t.Errorf("cancelled after the first batch: error %v after %d batches, want context.Canceled after 1", err, batches)
	}
}
