package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// offTerminalInterval is how often progress prints a line when the output is not a terminal
// (a variable for tests).
var offTerminalInterval = 5 * time.Second

// progress prints status. On a terminal an update redraws one line in place; elsewhere (a log
// file, a pipe) updates are printed as whole lines at most once per interval, so a long run's
// log stays small. It is safe for concurrent use (a sampler reports from its own goroutine).
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	interval time.Duration
	last     time.Time
	open     bool // an update line is on the terminal without its newline
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, interval: offTerminalInterval}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

// update shows a status that the next update replaces.
func (p *progress) update(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		fmt.Fprintf(p.w, "\r"+format+"   ", args...)
		p.open = true
		return
	}
	if now := time.Now(); p.last.IsZero() || now.Sub(p.last) >= p.interval {
		p.last = now
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// line prints a line that stays.
func (p *progress) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
