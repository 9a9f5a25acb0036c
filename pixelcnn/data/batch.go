package data

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// Batcher yields batches of image indices 0..n-1 in a seeded shuffled order, epoch after
// epoch, forever. Epoch e visits the permutation Permutation(n, seed, e) in consecutive
// slices of batch indices; the last n%batch indices of each epoch are dropped (every batch
// is full, and every epoch has n/batch batches), so each index appears at most once per
// epoch and the sequence depends only on (n, batch, seed).
//
// Its full state is BatcherState (seed, epoch, position): a Batcher restored from State()
// yields exactly the same batches as the original from that point on.
type Batcher struct {
	n, batch int
	seed     uint64
	epoch    uint64
	pos      int   // indices of perm already returned
	perm     []int // permutation of epoch, nil until first needed
}

// BatcherState is a Batcher's full state, suitable for a checkpoint (plain exported
// fields: encode it with encoding/json or gob).
type BatcherState struct {
	N, Batch int    // dataset size and batch size; Restore checks they match
	Seed     uint64 // shuffle seed
	Epoch    uint64 // epoch of the batch Next returned last (0 before the first)
	Pos      int    // indices of that epoch already returned: a multiple of Batch, <= N
}

// NewBatcher returns a Batcher over n indices in batches of batch, shuffled by seed,
// starting at epoch 0. It is an error unless 1 <= batch <= n.
func NewBatcher(n, batch int, seed uint64) (*Batcher, error) {
	if batch < 1 || batch > n {
		return nil, fmt.Errorf("data: batch size %d must be in 1..%d (the number of images)", batch, n)
	}
	return &Batcher{n: n, batch: batch, seed: seed}, nil
}

// BatchesPerEpoch is n/batch: the number of batches Next returns per epoch.
func (b *Batcher) BatchesPerEpoch() int { return b.n / b.batch }

// Next returns the indices of the next batch (a fresh slice of length batch the caller may
// keep). When fewer than batch indices remain in the epoch, it starts the next epoch.
func (b *Batcher) Next() []int {
	if b.pos+b.batch > b.n {
		b.epoch++
		b.pos = 0
		b.perm = nil
	}
	if b.perm == nil {
		b.perm = Permutation(b.n, b.seed, b.epoch)
	}
	out := make([]int, b.batch)
	copy(out, b.perm[b.pos:b.pos+b.batch])
	b.pos += b.batch
	return out
}

// State returns the Batcher's full state.
func (b *Batcher) State() BatcherState {
	return BatcherState{N: b.n, Batch: b.batch, Seed: b.seed, Epoch: b.epoch, Pos: b.pos}
}

// Restore sets the Batcher to state s (from State, possibly of another Batcher in an earlier
// run), after which it yields exactly the batches the Batcher that produced s would have.
// s.N and s.Batch must equal this Batcher's and s.Pos be a multiple of s.Batch in 0..N.
func (b *Batcher) Restore(s BatcherState) error {
	if s.N != b.n || s.Batch != b.batch {
		return fmt.Errorf("data: batcher state is for %d images in batches of %d, this batcher has %d in batches of %d", s.N, s.Batch, b.n, b.batch)
	}
	if s.Pos < 0 || s.Pos > s.N || s.Pos%s.Batch != 0 {
		return fmt.Errorf("data: batcher state position %d is not a multiple of %d in 0..%d", s.Pos, s.Batch, s.N)
	}
	b.seed, b.epoch, b.pos, b.perm = s.Seed, s.Epoch, s.Pos, nil
	return nil
}

// Permutation returns the permutation of 0..n-1 for (seed, epoch): a Fisher-Yates shuffle
// driven by rand.NewPCG(seed, epoch), with its own bounded draw (not rand.Rand's) so that
// the result is fixed across runs, platforms and Go releases.
func Permutation(n int, seed, epoch uint64) []int {
	src := rand.NewPCG(seed, epoch)
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := uniform(src, uint64(i)+1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// uniform returns an unbiased draw from [0, bound) (Lemire's multiply-and-reject method).
func uniform(src *rand.PCG, bound uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), bound)
		}
	}
	return hi
}
