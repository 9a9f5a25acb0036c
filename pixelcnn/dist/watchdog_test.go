package dist

import (
	"sync"
	"testing"
	"time"
)

// TestWithTimeout: a collective that one rank never joins ends the world after the limit,
// naming the collective; collectives that complete in time stop their timers.
func TestWithTimeout(t *testing.T) {
	for _, c := range []struct {
		name string
		call func(Comm) error
		want string
	}{
		{"barrier", func(c Comm) error { return c.Barrier() }, "barrier"},
		{"allgather", func(c Comm) error { return c.AllgatherBytes([]byte{1}, make([]byte, 2)) }, "allgather"},
		{"allgather float32", func(c Comm) error { return c.AllgatherFloat32([]float32{1}, make([]float32, 2)) }, "allgather"},
		{"allreduce", func(c Comm) error { return c.AllreduceSumFloat32([]float32{1}) }, "allreduce"},
		{"broadcast", func(c Comm) error { return c.Broadcast([]byte{1}, 0) }, "broadcast"},
	} {
		t.Run(c.name, func(t *testing.T) {
			comms := NewLocal(2)
			var mu sync.Mutex
			var got string
			var gotSeq int64
			aborted := make(chan int, 1)
			w := WithTimeout(comms[0], 30*time.Millisecond, 7, func(name string, seq int64, _ time.Duration) {
				mu.Lock()
				got, gotSeq = name, seq
				mu.Unlock()
			}).(*watchdog)
			w.abort = func(code int) {
				aborted <- code
				_ = c.call(comms[1]) // the late rank arrives: let rank 0's call return
			}
			// One collective that both ranks join in time: its timer must not fire.
			done := make(chan error)
			go func() { done <- comms[1].Barrier() }()
			if err := w.Barrier(); err != nil {
				t.Fatal(err)
			}
			<-done
			time.Sleep(60 * time.Millisecond)
			select {
			case code := <-aborted:
				t.Fatalf("a completed barrier aborted the world (code %d)", code)
			default:
			}
			// Rank 1 does not come: rank 0's watchdog ends the world.
			if err := c.call(w); err != nil {
				t.Fatal(err)
			}
			if code := <-aborted; code != 7 {
				t.Errorf("abort code %d, want 7", code)
			}
			mu.Lock()
			defer mu.Unlock()
			if got != c.want || gotSeq != 2 {
				t.Errorf("expired(%q, %d), want (%q, 2)", got, gotSeq, c.want)
			}
		})
	}
	if c := (Single{}); WithTimeout(c, time.Second, 1, nil) != Comm(c) {
		t.Error("a world of one is wrapped")
	}
	if c := NewLocal(2)[0]; WithTimeout(c, 0, 1, nil) != c {
		t.Error("limit 0 wraps the world")
	}
}
