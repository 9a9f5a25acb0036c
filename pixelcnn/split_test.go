package pixelcnn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"pixelcnn/nn/cpu"
)

// TestSampleSplitMatchesWhole: cached sampling on a backend of W workers draws its images in
// W groups; the images are the same bits for every W (1: one group), for both architectures,
// conditional or not, with kept rows, with uneven groups and one image per group.
func TestSampleSplitMatchesWhole(t *testing.T) {
	for _, tc := range []struct {
		arch                  string
		colors, classes, keep int
	}{{ArchGated, 1, 0, 0}, {ArchGated, 3, 2, 2}, {ArchPixelCNN, 1, 3, 0}, {ArchPixelCNN, 3, 0, 3}} {
		t.Run(fmt.Sprintf("%s,C=%d,classes=%d,keep=%d", tc.arch, tc.colors, tc.classes, tc.keep), func(t *testing.T) {
			c := gatedTestConfig(tc.colors, 6, 5, tc.classes)
			if tc.arch == ArchPixelCNN {
				c = tinyConfig(tc.colors, 6, 5)
				c.Classes = tc.classes
			}
			r := rand.New(rand.NewPCG(4, 4))
			const n = 5
			o := SampleOptions{N: n, Seed: 9, Temperature: 0.9, KeepRows: tc.keep}
			if tc.keep > 0 {
				o.Known = make([]uint8, n*c.Subpixels())
				for k := range o.Known {
					o.Known[k] = uint8(r.IntN(256))
				}
			}
			if tc.classes > 0 {
				for k := range n {
					o.Labels = append(o.Labels, int32(k%tc.classes))
				}
			}
			var want []uint8
			for _, workers := range []int{1, 2, 3, 5, 8} {
				b := cpu.NewWorkers(workers)
				if g := sampleGroups(b, n); g != min(workers, n) {
					t.Fatalf("%d workers: %d groups, want %d", workers, g, min(workers, n))
				}
				m, err := NewModel(b, c, 2)
				if err != nil {
					t.Fatal(err)
				}
				randomizeParams(t, m, rand.New(rand.NewPCG(3, 3)))
				got, err := SampleCached(m, o)
				if err != nil {
					t.Fatalf("%d workers: %v", workers, err)
				}
				if want == nil {
					want = got
				} else if !slices.Equal(got, want) {
					t.Fatalf("%d workers: images differ from one group's", workers)
				}
			}
		})
	}
}
