package codec

import (
	"sync"

	"pixelcnn/nn"
)

// batchTables holds one frequency table per image of a batch. quantize fills them all for
// one subpixel, the images split over the backend's CPU workers: each table depends on its
// own image's logits only, so the tables are the same whatever the split, and the range
// coder then codes the images in order.
type batchTables struct {
	t       []tables
	modes   []int
	sums    []float64
	workers int
}

// minImagesPerWorker keeps the goroutines' start-up (a few microseconds) below the work
// they share: one table costs a few microseconds.
const minImagesPerWorker = 8

func newBatchTables(n int, b nn.Backend) *batchTables {
	workers := 1
	if w, ok := b.(interface{ Workers() int }); ok {
		workers = max(1, min(w.Workers(), n/minImagesPerWorker))
	}
	return &batchTables{t: make([]tables, n), modes: make([]int, n), sums: make([]float64, n), workers: workers}
}

// quantize fills the tables of images [0, n) from logits (n rows of 256), returning the
// error of the lowest image whose logits are not finite.
func (bt *batchTables) quantize(logits []float32, n int) error {
	errs := make([]error, bt.workers)
	run := func(g int) {
		for k := g * n / bt.workers; k < (g+1)*n/bt.workers; k++ {
			var err error
			bt.modes[k], bt.sums[k], err = bt.t[k].quantize(logits[k*levels : (k+1)*levels])
			if err != nil {
				errs[g] = err
				return
			}
		}
	}
	if bt.workers == 1 {
		run(0)
	} else {
		var wg sync.WaitGroup
		for g := range bt.workers {
			wg.Add(1)
			go func() { defer wg.Done(); run(g) }()
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
