package pixelcnn

import (
	"fmt"
	"sync"

	"pixelcnn/nn"
)

// Cached sampling splits its images into groups, one per CPU worker, each drawn by its own
// stepper on its own goroutine: a pass evaluates every layer at one position of N images,
// GEMMs of N rows that are too small to split usefully inside an op (MaskedConvAt keeps all
// but the widest on one goroutine), while the images themselves are independent. Each group
// computes exactly what the whole batch computes for its images (a GEMM sums every output
// element the same way whatever its row count) and draws with the batch's row numbers
// (nn.RowOffsetSampler), so the images are the same bits as unsplit, and as SampleNaive's.

// sampleGroups is how many groups SampleCached draws n images in on backend b: its worker
// count when it can number sample rows from an offset, else 1.
func sampleGroups(b nn.Backend, n int) int {
	w, hasWorkers := b.(interface{ Workers() int })
	if _, numbersRows := b.(nn.RowOffsetSampler); !hasWorkers || !numbersRows {
		return 1
	}
	return max(1, min(w.Workers(), n))
}

// sampleSplit draws o.N images in groups of contiguous images (out and x hold all of them,
// kept rows filled in). Only the first group reports progress.
func sampleSplit(m *Model, o SampleOptions, out []uint8, x []float32, groups int) error {
	imgLen := m.Config.Subpixels()
	rs := m.B.(nn.RowOffsetSampler)
	errs := make([]error, groups)
	var wg sync.WaitGroup
	for g := 0; g < groups; g++ {
		k0, k1 := g*o.N/groups, (g+1)*o.N/groups
		part := o
		part.N = k1 - k0
		if o.Labels != nil {
			part.Labels = o.Labels[k0:k1]
		}
		if g > 0 {
			part.Progress = nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := m.arch.newStepper(m, part.N, x[k0*imgLen:k1*imgLen], part.Labels)
			if err != nil {
				errs[g] = err
				return
			}
			defer st.release()
			draw := drawRows(m, part, out[k0*imgLen:k1*imgLen], func(draws []int32, logits *nn.Tensor, offset int, s uint64) error {
				return rs.SampleCategoricalFrom(draws, logits, offset, o.Temperature, o.Seed, s, k0)
			})
			if err := runPasses(st, m.Config, part.N, o.KeepRows, draw, part.Progress); err != nil {
				errs[g] = fmt.Errorf("images %d..%d: %w", k0, k1-1, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
