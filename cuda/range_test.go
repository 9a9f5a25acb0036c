//go:build cuda

package cuda

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestRange: NVTX ranges are per OS thread, so Range must keep the calling goroutine on one
// thread from the push until the returned func pops it, nested ranges included (an outer
// range stays pinned after an inner one closes). Busy goroutines
// that yield make an unpinned goroutine change threads (checked: without LockOSThread the
// loop below sees several thread ids).
func TestRange(t *testing.T) {
	b := gpu(t)
	var stop atomic.Bool
	defer stop.Store(true)
	for i := 0; i < 2*runtime.GOMAXPROCS(0); i++ {
		go func() {
			for x := 0; !stop.Load(); x++ {
				if x%1000 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	threads := func(n int, ids map[int]bool) {
		for i := 0; i < n; i++ {
			runtime.Gosched()
			ids[syscall.Gettid()] = true
		}
	}
	done := make(chan [2]int)
	go func() {
		outer := b.Range("outer")
		ids := map[int]bool{}
		inner := b.Range("inner")
		threads(2000, ids)
		inner()
		threads(2000, ids) // the outer range still pins the goroutine
		outer()
		unpinned := map[int]bool{}
		threads(2000, unpinned)
		done <- [2]int{len(ids), len(unpinned)}
	}()
	got := <-done
	if got[0] != 1 {
		t.Errorf("inside a range the goroutine ran on %d OS threads, want 1", got[0])
	}
	t.Logf("after the ranges closed: %d OS threads", got[1])
}
