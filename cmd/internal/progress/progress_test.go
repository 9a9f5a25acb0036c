package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestOffTerminal: off a terminal, a burst of updates prints one line, and another only once
// the interval has passed; Line always prints.
func TestOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := New(&buf)
	p.interval = 50 * time.Millisecond
	for i := 0; i < 1000; i++ {
		p.Update("pixel %d", i)
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 {
		t.Fatalf("1000 quick updates printed %d lines:\n%s", got, buf.String())
	}
	time.Sleep(60 * time.Millisecond)
	p.Update("later")
	p.Line("done")
	if want := "pixel 0\nlater\ndone\n"; buf.String() != want {
		t.Fatalf("output %q, want %q", buf.String(), want)
	}
}

func TestTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := &Printer{w: &buf, terminal: true}
	p.Update("a")
	p.Update("b")
	p.Line("done")
	p.Update("c")
	p.End()
	p.End()
	if want := "\ra   \rb   \ndone\n\rc   \n"; buf.String() != want {
		t.Fatalf("output %q, want %q", buf.String(), want)
	}
}
