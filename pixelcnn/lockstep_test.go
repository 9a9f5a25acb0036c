package pixelcnn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"pixelcnn/nn/cpu"
)

// TestCachedPassSplitMatchesWhole: CachedPass on W workers runs its images in groups that
// meet at every subpixel; next sees the same logits (bits) for any W, both architectures,
// conditional or not; an error from next, or from a group, ends the pass with that error and
// no goroutine left waiting.
func TestCachedPassSplitMatchesWhole(t *testing.T) {
	for _, tc := range []struct {
		arch            string
		colors, classes int
	}{{ArchGated, 1, 0}, {ArchGated, 3, 2}, {ArchPixelCNN, 1, 3}, {ArchPixelCNN, 3, 0}} {
		t.Run(fmt.Sprintf("%s,C=%d,classes=%d", tc.arch, tc.colors, tc.classes), func(t *testing.T) {
			c := gatedTestConfig(tc.colors, 5, 4, tc.classes)
			if tc.arch == ArchPixelCNN {
				c = tinyConfig(tc.colors, 5, 4)
				c.Classes = tc.classes
			}
			const n = 13
			var labels []int32
			for k := range n {
				if tc.classes > 0 {
					labels = append(labels, int32(k%tc.classes))
				}
			}
			var want []float32
			for _, workers := range []int{1, 2, 3} {
				m, err := NewModel(cpu.NewWorkers(workers), c, 2)
				if err != nil {
					t.Fatal(err)
				}
				randomizeParams(t, m, rand.New(rand.NewPCG(3, 3)))
				if g := passGroups(m.B, n); g != workers {
					t.Fatalf("%d workers: %d groups", workers, g)
				}
				var seen []float32
				r := rand.New(rand.NewPCG(5, 5))
				err = CachedPass(m, n, labels, func(s int, logits []float32, vals []uint8) error {
					seen = append(seen, logits...)
					for k := range vals {
						vals[k] = uint8(r.IntN(256))
					}
					return nil
				})
				if err != nil {
					t.Fatalf("%d workers: %v", workers, err)
				}
				if want == nil {
					want = seen
				} else if !slices.Equal(seen, want) {
					t.Fatalf("%d workers: logits differ from one group's", workers)
				}
				stop := errors.New("stop here")
				err = CachedPass(m, n, labels, func(s int, logits []float32, vals []uint8) error {
					if s == 7 {
						return stop
					}
					return nil
				})
				if !errors.Is(err, stop) {
					t.Fatalf("%d workers: error %v, want next's", workers, err)
				}
			}
		})
	}
}

// TestLockstepFail: a party that fails releases the others waiting at the barrier.
func TestLockstepFail(t *testing.T) {
	ls := newLockstep(3)
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- ls.meet(func() error { return nil }) }()
	}
	boom := errors.New("boom")
	ls.fail(boom)
	for range 2 {
		if err := <-done; !errors.Is(err, boom) {
			t.Fatalf("waiting party got %v, want the failure", err)
		}
	}
	if err := ls.meet(func() error { return nil }); !errors.Is(err, boom) {
		t.Fatalf("meet after a failure: %v", err)
	}
}
