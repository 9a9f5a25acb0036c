// Package rangecoder is a range coder (Subbotin/LZMA style, with carry propagation) in exact
// 64-bit integer arithmetic: symbols are coded from integer frequency tables, so an encoder
// and a decoder that are given the same tables produce and read the same bytes on every
// machine.
//
// State. The encoder keeps low (64 bits plus a carry) and a range of 64 bits that is
// renormalised to at least 2^56 by shifting out bytes. A symbol with cumulative frequency
// start, frequency size and table total T narrows the interval to
//
//	r = range / T;  low += r*start;  range = r*size
//
// so the coding loss per symbol is at most the truncation of range/T, a relative error below
// T/2^56: for T <= 2^32 under 2^-24 of a bit's worth of probability. Bytes are emitted the
// LZMA way: the top byte of low is held back (cache) with a count of pending 0xFF bytes, so a
// later carry can still reach it.
//
// Framing. The stream starts with one byte that is always 0 (the cache's initial value) and
// ends with the 8 bytes of low: a stream of n symbols is about 9 bytes longer than the ideal
// −Σ log2(size/T) bits.
package rangecoder

import (
	"errors"
	"fmt"
	"math/bits"
)

// MaxTotal is the largest frequency table total the coder accepts.
const MaxTotal = 1 << 32

const top = 1 << 56 // range is kept >= top between symbols

// Encoder appends coded bytes to a slice.
type Encoder struct {
	low       uint64
	carry     uint64 // 0 or 1: the bit above low
	rng       uint64
	cache     byte
	cacheSize int64 // the cache byte plus this many-1 pending 0xFF bytes
	out       []byte
}

// NewEncoder returns an encoder with an empty output.
func NewEncoder() *Encoder { return &Encoder{rng: ^uint64(0), cacheSize: 1} }

// Encode codes the symbol occupying [start, start+size) of a table whose frequencies sum to
// total. It reports an error, and codes nothing, for size 0, an interval past total or a
// total outside [1, MaxTotal].
func (e *Encoder) Encode(start, size, total uint64) error {
	if total == 0 || total > MaxTotal || size == 0 || start >= total || size > total-start {
		return fmt.Errorf("rangecoder: symbol [%d, %d+%d) in a table of total %d", start, start, size, total)
	}
	r := e.rng / total
	var c uint64
	e.low, c = bits.Add64(e.low, r*start, 0)
	e.carry += c
	e.rng = r * size
	for e.rng < top {
		e.rng <<= 8
		e.shiftLow()
	}
	return nil
}

// shiftLow moves low's top byte out, resolving the pending bytes when it can no longer
// change (low's top byte is below 0xFF) or a carry has reached it.
func (e *Encoder) shiftLow() {
	if e.low < 0xFF<<56 || e.carry != 0 {
		c := byte(e.carry)
		b := e.cache
		for ; e.cacheSize > 0; e.cacheSize-- {
			e.out = append(e.out, b+c)
			b = 0xFF
		}
		e.cache = byte(e.low >> 56)
		e.carry = 0
	}
	e.cacheSize++
	e.low <<= 8
}

// Finish flushes the state and returns the coded bytes. The encoder must not be used after.
func (e *Encoder) Finish() []byte {
	for i := 0; i < 9; i++ {
		e.shiftLow()
	}
	return e.out
}

// Len is the number of bytes emitted so far (Finish adds up to 9 and the pending ones).
func (e *Encoder) Len() int { return len(e.out) }

// ErrOverrun is returned (wrapped) when a decoder needs more bytes than the stream has:
// the stream is truncated or corrupt.
var ErrOverrun = errors.New("rangecoder: read past the end of the coded stream")

// Decoder reads symbols back from coded bytes.
type Decoder struct {
	code, rng uint64
	in        []byte
	pos       int
	r         uint64 // range/total of the pending Decode/Consume pair
	overrun   int
}

// NewDecoder starts decoding in.
func NewDecoder(in []byte) *Decoder {
	d := &Decoder{rng: ^uint64(0), in: in}
	d.next() // the always-zero first byte
	for i := 0; i < 8; i++ {
		d.code = d.code<<8 | uint64(d.next())
	}
	return d
}

func (d *Decoder) next() byte {
	if d.pos < len(d.in) {
		b := d.in[d.pos]
		d.pos++
		return b
	}
	d.overrun++
	return 0
}

// Target returns the cumulative frequency the next symbol's interval contains, for a table
// of the given total; the caller finds the symbol s with start(s) <= target < start(s)+size(s)
// and calls Consume with it. On a corrupt stream the target is clamped to total-1.
func (d *Decoder) Target(total uint64) (uint64, error) {
	if total == 0 || total > MaxTotal {
		return 0, fmt.Errorf("rangecoder: table total %d outside [1, %d]", total, uint64(MaxTotal))
	}
	d.r = d.rng / total
	return min(d.code/d.r, total-1), nil
}

// Consume removes the symbol [start, start+size) found from Target's value.
func (d *Decoder) Consume(start, size uint64) {
	d.code -= d.r * start
	d.rng = d.r * size
	for d.rng < top {
		d.rng <<= 8
		d.code = d.code<<8 | uint64(d.next())
	}
}

// Overrun reports whether decoding has read past the end of the stream.
func (d *Decoder) Overrun() bool { return d.overrun > 0 }

// Check reports ErrOverrun when decoding has read past the end of the stream (a complete
// stream never does) and an error when bytes were left unread.
func (d *Decoder) Check() error {
	if d.overrun > 0 {
		return fmt.Errorf("%w (%d bytes missing)", ErrOverrun, d.overrun)
	}
	if left := len(d.in) - d.pos; left > 0 {
		return fmt.Errorf("rangecoder: %d bytes after the end of the coded stream", left)
	}
	return nil
}
