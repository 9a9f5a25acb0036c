// Package progress prints a command's status: on a terminal an update redraws one line in
// place; elsewhere (a log file, a pipe) updates are whole lines at most once per Interval, so
// a long run's log stays small. train, eval and sample all print through it.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Interval is how often updates print a line off a terminal; New reads it (a variable so
// that tests can change it).
var Interval = 5 * time.Second

// Printer prints status updates and lines; it is safe for concurrent use.
type Printer struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	interval time.Duration
	last     time.Time
	open     bool // an update is on the terminal without its newline
}

// New returns a Printer on w, which is a terminal when it is a character device.
func New(w io.Writer) *Printer {
	p := &Printer{w: w, interval: Interval}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

// Update shows a status that the next update replaces (off a terminal: a line, unless one
// was printed less than the interval ago).
func (p *Printer) Update(format string, args ...any) {
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

// Line prints a line that stays, ending an open update first.
func (p *Printer) Line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// End ends an open update on a terminal (a newline), so that what follows starts a line.
func (p *Printer) End() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}
