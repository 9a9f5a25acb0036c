package pixelcnn

import (
	"fmt"
	"sync"

	"pixelcnn/nn"
)

// CachedPass on the CPU splits its images into groups too (see split.go), but its caller
// decides each subpixel's values for the whole batch at once (the codec's range coder codes
// the images in order), so the groups meet at every subpixel: each puts its images' logits in
// the batch's row, the last to arrive calls next for all of them, and each takes its values
// back. The logits are the whole batch's bits, so next sees exactly what one group gives it.

// lockstep is a reusable barrier of parties goroutines that runs a function once per round,
// and that any party can break with an error (a party that fails never arrives again).
type lockstep struct {
	mu      sync.Mutex
	cond    *sync.Cond
	parties int
	arrived int
	round   int
	err     error
}

func newLockstep(parties int) *lockstep {
	l := &lockstep{parties: parties}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// meet waits until every party has arrived; the last one runs last first. It returns the
// error that broke the barrier, if any (last's included).
func (l *lockstep) meet(last func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.arrived++
	if l.arrived == l.parties {
		l.err = last()
		l.arrived = 0
		l.round++
		l.cond.Broadcast()
		return l.err
	}
	for r := l.round; r == l.round && l.err == nil; {
		l.cond.Wait()
	}
	return l.err
}

// fail breaks the barrier with err (the first error is kept).
func (l *lockstep) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
	l.cond.Broadcast()
}

// passGroups is how many groups CachedPass runs n images in on b: one per CPU worker, with at
// least minImagesPerGroup images each (fewer would cost more in meetings than they save).
func passGroups(b nn.Backend, n int) int {
	w, ok := b.(interface{ Workers() int })
	if !ok {
		return 1
	}
	return max(1, min(w.Workers(), n/minImagesPerGroup))
}

const minImagesPerGroup = 4

// cachedPassSplit is CachedPass with its images in groups on their own goroutines.
func cachedPassSplit(m *Model, n int, labels []int32, next SubpixelFunc, groups int) error {
	colors := m.Config.Colors
	mine := make([]float32, n*Levels) // the batch's logits of the current subpixel
	vals := make([]uint8, n)
	ls := newLockstep(groups)
	var wg sync.WaitGroup
	for g := range groups {
		k0, k1 := g*n/groups, (g+1)*n/groups
		var gl []int32
		if labels != nil {
			gl = labels[k0:k1]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := stepperPass(m, k1-k0, gl, func(s, col int, host []float32, gv []uint8) error {
				for k := k0; k < k1; k++ {
					copy(mine[k*Levels:(k+1)*Levels], host[((k-k0)*colors+col)*Levels:])
				}
				if err := ls.meet(func() error { return next(s, mine, vals) }); err != nil {
					return err
				}
				copy(gv, vals[k0:k1])
				return nil
			})
			if err != nil {
				ls.fail(fmt.Errorf("images %d..%d: %w", k0, k1-1, err))
			}
		}()
	}
	wg.Wait()
	return ls.err
}
