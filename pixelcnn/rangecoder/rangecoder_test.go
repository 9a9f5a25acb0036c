package rangecoder

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// table is a frequency table with its cumulative starts.
type table struct {
	freq, cum []uint64
	total     uint64
}

func newTable(freq []uint64) table {
	t := table{freq: freq, cum: make([]uint64, len(freq)+1)}
	for i, f := range freq {
		t.cum[i+1] = t.cum[i] + f
	}
	t.total = t.cum[len(freq)]
	return t
}

func (t table) find(target uint64) int {
	lo, hi := 0, len(t.freq)-1
	for lo < hi { // largest s with cum[s] <= target
		mid := (lo + hi + 1) / 2
		if t.cum[mid] <= target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// randomTable draws a table of k symbols with total exactly total (every symbol >= 1); skewed
// tables put almost all the mass on one symbol, as a trained model does on a background pixel.
func randomTable(rng *rand.Rand, k int, total uint64, skewed bool) table {
	freq := make([]uint64, k)
	left := total - uint64(k)
	for i := range freq {
		freq[i] = 1
	}
	if skewed {
		freq[rng.IntN(k)] += left
		return newTable(freq)
	}
	for left > 0 {
		add := min(left, 1+rng.Uint64N(left/uint64(k)+1))
		freq[rng.IntN(k)] += add
		left -= add
	}
	return newTable(freq)
}

// sample draws a symbol with probability freq/total.
func (t table) sample(rng *rand.Rand) int { return t.find(rng.Uint64N(t.total)) }

func TestRoundTripRandomTables(t *testing.T) {
	cases := []struct {
		name    string
		symbols int
		k       int
		total   uint64
		skewed  bool
	}{
		{"binary 2^16", 20000, 2, 1 << 16, false},
		{"256 symbols 2^24", 20000, 256, 1 << 24, false},
		{"256 symbols 2^24 skewed", 50000, 256, 1 << 24, true},
		{"256 symbols 2^32 skewed", 50000, 256, MaxTotal, true},
		{"3 symbols total 3", 5000, 3, 3, false},
		{"one symbol", 1000, 1, 1 << 20, false},
		{"odd total", 20000, 17, 1000003, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.symbols), c.total))
			// A pool of random tables, one drawn per symbol.
			pool := make([]table, 64)
			for i := range pool {
				pool[i] = randomTable(rng, c.k, c.total, c.skewed)
			}
			tables := make([]table, c.symbols)
			syms := make([]int, c.symbols)
			ideal := 0.0
			enc := NewEncoder()
			for i := range syms {
				tables[i] = pool[rng.IntN(len(pool))]
				syms[i] = tables[i].sample(rng)
				tb, s := tables[i], syms[i]
				ideal -= math.Log2(float64(tb.freq[s]) / float64(tb.total))
				if err := enc.Encode(tb.cum[s], tb.freq[s], tb.total); err != nil {
					t.Fatal(err)
				}
			}
			out := enc.Finish()
			// The coded length is the ideal plus the framing (9 bytes) and rounding up.
			if extra := float64(len(out)) - ideal/8; extra < 0 || extra > 12 {
				t.Errorf("%d bytes for an ideal of %.1f bytes: %+.2f bytes", len(out), ideal/8, extra)
			}
			dec := NewDecoder(out)
			for i, tb := range tables {
				target, err := dec.Target(tb.total)
				if err != nil {
					t.Fatal(err)
				}
				s := tb.find(target)
				if s != syms[i] {
					t.Fatalf("symbol %d: decoded %d, want %d", i, s, syms[i])
				}
				dec.Consume(tb.cum[s], tb.freq[s])
			}
			if err := dec.Check(); err != nil {
				t.Errorf("complete stream: %v", err)
			}
		})
	}
}

// TestCarryPropagation codes streams that keep low's top bytes at 0xFF (always the last
// symbol of a table whose last symbol has almost all the mass), where carries must ripple
// through pending bytes.
func TestCarryPropagation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		var starts, sizes []uint64
		total := uint64(1 << 24)
		enc := NewEncoder()
		for i := 0; i < 3000; i++ {
			start, size := total-1-uint64(rng.IntN(3)), uint64(1)
			if rng.IntN(4) == 0 {
				start, size = uint64(rng.IntN(10)), 1
			} else if rng.IntN(2) == 0 {
				start, size = 1, total-1
			}
			starts, sizes = append(starts, start), append(sizes, size)
			if err := enc.Encode(start, size, total); err != nil {
				t.Fatal(err)
			}
		}
		dec := NewDecoder(enc.Finish())
		for i := range starts {
			target, _ := dec.Target(total)
			if target < starts[i] || target >= starts[i]+sizes[i] {
				t.Fatalf("trial %d symbol %d: target %d outside [%d, %d)", trial, i, target, starts[i], starts[i]+sizes[i])
			}
			dec.Consume(starts[i], sizes[i])
		}
		if err := dec.Check(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, c := range []struct{ start, size, total uint64 }{
		{0, 0, 10}, {10, 1, 10}, {5, 6, 10}, {0, 1, 0}, {0, 1, MaxTotal + 1},
	} {
		if err := NewEncoder().Encode(c.start, c.size, c.total); err == nil {
			t.Errorf("Encode(%d, %d, %d): no error", c.start, c.size, c.total)
		}
	}
	if _, err := NewDecoder(nil).Target(0); err == nil {
		t.Error("Target(0): no error")
	}
}

func TestTruncatedAndPadded(t *testing.T) {
	enc := NewEncoder()
	for i := 0; i < 1000; i++ {
		if err := enc.Encode(uint64(i%7)*100, 100, 700); err != nil {
			t.Fatal(err)
		}
	}
	out := enc.Finish()
	decodeAll := func(b []byte) error {
		d := NewDecoder(b)
		for i := 0; i < 1000; i++ {
			target, _ := d.Target(700)
			s := target / 100
			d.Consume(s*100, 100)
		}
		return d.Check()
	}
	if err := decodeAll(out[:len(out)-3]); !errors.Is(err, ErrOverrun) {
		t.Errorf("truncated stream: %v, want ErrOverrun", err)
	}
	if err := decodeAll(append(append([]byte{}, out...), 0)); err == nil {
		t.Error("stream with a trailing byte: no error")
	}
}
