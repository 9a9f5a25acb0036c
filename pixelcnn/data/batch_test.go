package data

import (
	"encoding/json"
	"slices"
	"testing"
)

func newBatcher(t *testing.T, n, batch int, seed uint64) *Batcher {
	t.Helper()
	b, err := NewBatcher(n, batch, seed)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func take(b *Batcher, k int) [][]int {
	out := make([][]int, k)
	for i := range out {
		out[i] = b.Next()
	}
	return out
}

func TestNewBatcherErrors(t *testing.T) {
	for _, c := range []struct{ n, batch int }{{10, 0}, {10, -1}, {10, 11}, {0, 1}} {
		if _, err := NewBatcher(c.n, c.batch, 1); err == nil {
			t.Errorf("NewBatcher(%d, %d): no error", c.n, c.batch)
		}
	}
}

// TestPermutationGolden pins the shuffle: a change here breaks resuming old checkpoints.
func TestPermutationGolden(t *testing.T) {
	for _, c := range []struct {
		seed, epoch uint64
		want        []int
	}{
		{1, 0, []int{7, 6, 1, 3, 2, 4, 8, 9, 0, 5}},
		{1, 1, []int{2, 5, 8, 3, 4, 1, 7, 6, 0, 9}},
		{2, 0, []int{4, 2, 9, 5, 8, 0, 1, 3, 7, 6}},
	} {
		if got := Permutation(10, c.seed, c.epoch); !slices.Equal(got, c.want) {
			t.Errorf("Permutation(10, %d, %d) = %v, want %v", c.seed, c.epoch, got, c.want)
		}
	}
}

func TestBatcherEpochs(t *testing.T) {
	for _, c := range []struct{ n, batch int }{{10, 3}, {10, 5}, {10, 10}, {10, 1}, {1, 1}, {1000, 64}, {7, 4}} {
		b := newBatcher(t, c.n, c.batch, 42)
		per := c.n / c.batch
		if b.BatchesPerEpoch() != per {
			t.Fatalf("n=%d batch=%d: BatchesPerEpoch = %d, want %d", c.n, c.batch, b.BatchesPerEpoch(), per)
		}
		var prev []int
		for epoch := uint64(0); epoch < 4; epoch++ {
			seen := make([]bool, c.n)
			var order []int
			for k := 0; k < per; k++ {
				idx := b.Next()
				if len(idx) != c.batch {
					t.Fatalf("n=%d batch=%d: batch of %d", c.n, c.batch, len(idx))
				}
				if s := b.State(); s.Epoch != epoch {
					t.Fatalf("n=%d batch=%d: epoch %d, want %d", c.n, c.batch, s.Epoch, epoch)
				}
				for _, i := range idx {
					if i < 0 || i >= c.n || seen[i] {
						t.Fatalf("n=%d batch=%d epoch %d: index %d repeated or out of range", c.n, c.batch, epoch, i)
					}
					seen[i] = true
				}
				order = append(order, idx...)
			}
			// Exactly the first per*batch entries of the epoch's permutation: the dropped
			// remainder is n%batch indices.
			if want := Permutation(c.n, 42, epoch)[:per*c.batch]; !slices.Equal(order, want) {
				t.Fatalf("n=%d batch=%d epoch %d: order %v, want %v", c.n, c.batch, epoch, order, want)
			}
			if c.n > 3 && slices.Equal(order, prev) {
				t.Errorf("n=%d batch=%d: epoch %d has the same order as the previous one", c.n, c.batch, epoch)
			}
			prev = order
		}
	}
}

func TestBatcherDeterminism(t *testing.T) {
	a, b, c := newBatcher(t, 100, 8, 7), newBatcher(t, 100, 8, 7), newBatcher(t, 100, 8, 8)
	sa, sb, sc := take(a, 40), take(b, 40), take(c, 40)
	for i := range sa {
		if !slices.Equal(sa[i], sb[i]) {
			t.Fatalf("batch %d: same seed gives %v and %v", i, sa[i], sb[i])
		}
	}
	if slices.EqualFunc(sa, sc, slices.Equal) {
		t.Errorf("seeds 7 and 8 give the same batches")
	}
	// Next returns a fresh slice: mutating it does not affect later batches.
	x, y := newBatcher(t, 10, 5, 3), newBatcher(t, 10, 5, 3)
	first := x.Next()
	clear(first)
	y.Next()
	if got, want := x.Next(), y.Next(); !slices.Equal(got, want) {
		t.Errorf("after mutating a returned batch: %v, want %v", got, want)
	}
}

func TestBatcherRestore(t *testing.T) {
	const n, batch = 23, 5 // 4 batches per epoch, 3 indices dropped
	for _, skip := range []int{0, 1, 3, 4, 5, 8, 9, 17} {
		orig := newBatcher(t, n, batch, 99)
		take(orig, skip)
		st := orig.State()
		// Round-trip through JSON as a checkpoint would.
		js, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var st2 BatcherState
		if err := json.Unmarshal(js, &st2); err != nil {
			t.Fatal(err)
		}
		resumed := newBatcher(t, n, batch, 12345) // seed comes from the state
		if err := resumed.Restore(st2); err != nil {
			t.Fatal(err)
		}
		if resumed.State() != st {
			t.Fatalf("skip %d: state %+v after Restore, want %+v", skip, resumed.State(), st)
		}
		want, got := take(orig, 13), take(resumed, 13)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("skip %d: batch %d after resume = %v, want %v", skip, i, got[i], want[i])
			}
		}
	}
}

func TestBatcherRestoreErrors(t *testing.T) {
	b := newBatcher(t, 23, 5, 1)
	good := b.State()
	for _, c := range []struct {
		name string
		mod  func(*BatcherState)
	}{
		{"other n", func(s *BatcherState) { s.N = 24 }},
		{"other batch", func(s *BatcherState) { s.Batch = 4 }},
		{"pos not multiple", func(s *BatcherState) { s.Pos = 3 }},
		{"pos negative", func(s *BatcherState) { s.Pos = -5 }},
		{"pos past end", func(s *BatcherState) { s.Pos = 25 }},
	} {
		s := good
		c.mod(&s)
		if err := b.Restore(s); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if b.State() != good {
		t.Errorf("failed Restore changed the state")
	}
}
