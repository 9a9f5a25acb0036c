package dist

import (
	"sync/atomic"
	"time"
)

// WithTimeout wraps c so that a collective still waiting after limit ends every rank: a rank
// that stops taking part without dying (stopped by SIGSTOP, deadlocked, cut off by the
// network) would otherwise leave the others waiting for ever, since neither MPI nor NCCL
// collectives time out. (A rank that dies is seen by the launcher, which ends the job.) On
// expiry, expired is called with the collective's name and sequence number (to print what
// to do; the last checkpoint on disk is intact, its writes being atomic), then c.Abort(code).
// A limit <= 0 or a world of one returns c itself.
func WithTimeout(c Comm, limit time.Duration, code int, expired func(collective string, seq int64, limit time.Duration)) Comm {
	if limit <= 0 || c.Size() == 1 {
		return c
	}
	return &watchdog{Comm: c, limit: limit, code: code, expired: expired, abort: c.Abort}
}

type watchdog struct {
	Comm
	limit   time.Duration
	code    int
	expired func(string, int64, time.Duration)
	abort   func(code int) // c.Abort; a test's stand-in
	seq     atomic.Int64   // collectives started, for the message
}

// guard starts the timer of one collective; the caller stops it when the collective returns.
func (w *watchdog) guard(name string) *time.Timer {
	seq := w.seq.Add(1)
	return time.AfterFunc(w.limit, func() {
		if w.expired != nil {
			w.expired(name, seq, w.limit)
		}
		w.abort(w.code)
	})
}

func (w *watchdog) AllgatherFloat32(send, recv []float32) error {
	defer w.guard("allgather").Stop()
	return w.Comm.AllgatherFloat32(send, recv)
}

func (w *watchdog) AllgatherBytes(send, recv []byte) error {
	defer w.guard("allgather").Stop()
	return w.Comm.AllgatherBytes(send, recv)
}

func (w *watchdog) AllreduceSumFloat32(buf []float32) error {
	defer w.guard("allreduce").Stop()
	return w.Comm.AllreduceSumFloat32(buf)
}

func (w *watchdog) Broadcast(buf []byte, root int) error {
	defer w.guard("broadcast").Stop()
	return w.Comm.Broadcast(buf, root)
}

func (w *watchdog) Barrier() error {
	defer w.guard("barrier").Stop()
	return w.Comm.Barrier()
}
