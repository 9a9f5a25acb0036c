package dist

import (
	"fmt"
	"os"
	"sync"
)

// NewLocal returns a world of n ranks in this process, one Comm per rank, each to be used by
// its own goroutine: the collectives of the MPI world without MPI, for tests of what runs on
// top of them (ranks stepping in lockstep, the order of the reduction).
func NewLocal(n int) []Comm {
	w := &localWorld{n: n, slots: make([]any, n)}
	w.cond = sync.NewCond(&w.mu)
	cs := make([]Comm, n)
	for r := range cs {
		cs[r] = &localRank{w: w, rank: r}
	}
	return cs
}

// localWorld meets its ranks one collective at a time: each deposits its value, the last to
// arrive hands the round's values to all.
type localWorld struct {
	n       int
	mu      sync.Mutex
	cond    *sync.Cond
	round   int
	arrived int
	slots   []any
	result  []any
}

// exchange returns every rank's v for this round, rank 0's first.
func (w *localWorld) exchange(rank int, v any) []any {
	w.mu.Lock()
	defer w.mu.Unlock()
	round := w.round
	w.slots[rank] = v
	w.arrived++
	if w.arrived == w.n {
		w.result, w.slots, w.arrived = w.slots, make([]any, w.n), 0
		w.round++
		w.cond.Broadcast()
		return w.result
	}
	for round == w.round {
		w.cond.Wait()
	}
	// No later round can finish before this rank arrives at it, so result is still ours.
	return w.result
}

type localRank struct {
	w    *localWorld
	rank int
}

func (c *localRank) Size() int      { return c.w.n }
func (c *localRank) Rank() int      { return c.rank }
func (c *localRank) LocalRank() int { return c.rank }
func (c *localRank) Name() string   { return fmt.Sprintf("local rank %d/%d", c.rank, c.w.n) }

func (c *localRank) AllgatherFloat32(send, recv []float32) error {
	if len(recv) != len(send)*c.w.n {
		return fmt.Errorf("dist: allgather of %d floats into %d (world size %d)", len(send), len(recv), c.w.n)
	}
	for r, v := range c.w.exchange(c.rank, append([]float32(nil), send...)) {
		copy(recv[r*len(send):], v.([]float32))
	}
	return nil
}

func (c *localRank) AllgatherBytes(send, recv []byte) error {
	if len(recv) != len(send)*c.w.n {
		return fmt.Errorf("dist: allgather of %d bytes into %d (world size %d)", len(send), len(recv), c.w.n)
	}
	for r, v := range c.w.exchange(c.rank, append([]byte(nil), send...)) {
		copy(recv[r*len(send):], v.([]byte))
	}
	return nil
}

func (c *localRank) AllreduceSumFloat32(buf []float32) error {
	all := c.w.exchange(c.rank, append([]float32(nil), buf...))
	vs := make([][]float32, len(all))
	for r, v := range all {
		vs[r] = v.([]float32)
	}
	SumInOrder(buf, vs)
	return nil
}

func (c *localRank) Broadcast(buf []byte, root int) error {
	if root < 0 || root >= c.w.n {
		return fmt.Errorf("dist: broadcast from rank %d in a world of %d", root, c.w.n)
	}
	copy(buf, c.w.exchange(c.rank, append([]byte(nil), buf...))[root].([]byte))
	return nil
}

func (c *localRank) Barrier() error {
	c.w.exchange(c.rank, nil)
	return nil
}

func (c *localRank) Abort(code int) { os.Exit(code) }
func (c *localRank) Close() error   { return nil }
