//go:build cuda

package cuda

import (
	"fmt"
	"slices"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/nn"
)

// Multi-tensor launches (kernels/multitensor.cuh): every tensor of a list is cut into chunks
// of at most chunkElems elements, and a table of TensorChunk entries — four device pointers
// offset to the chunk's start and the element count, five 64-bit words — is uploaded; block b
// of the launch handles entry b. The table for each op is cached and re-uploaded only when
// the list of buffers changes, so an optimizer step is one launch and no copy. The last
// tablesPerOp tables of each op are kept (two trainers, or a test's two sets of tensors,
// take turns without uploading). A table used while a graph is captured is pinned: the
// graph's launches keep its device pointer, so dropping it from the cache leaves it to the
// graph, which frees it on Release.
const (
	chunkElems  = 16384 // CHUNK_ELEMS in multitensor.cuh
	chunkWords  = 5
	chunkThread = 256
	tablesPerOp = 4
)

type chunkTable struct {
	op     string
	key    []uint64 // pointer and length of every buffer the table was built from
	dev    *devBuf  // the uploaded table
	chunks int
	pins   int // recorded graphs that launch with it
}

// table returns the device table over lists (each list one role: a, b, c, d; all the same
// length, tensor i of every list the same length), building and uploading it when no cached
// table of op was built from the same buffers. Caller holds enter.
func (b *Backend) table(op string, lists ...[]*nn.Tensor) (*chunkTable, error) {
	n := len(lists[0])
	var key []uint64
	lens := make([]int, n)
	for li, l := range lists {
		if len(l) != n {
			return nil, fmt.Errorf("cuda: %s: %d tensors but %d in list %d", op, n, len(l), li)
		}
		for i, t := range l {
			d, err := buf(fmt.Sprintf("cuda: %s: list %d tensor %d", op, li, i), t)
			if err != nil {
				return nil, err
			}
			if li == 0 {
				lens[i] = d.n
			} else if d.n != lens[i] {
				return nil, fmt.Errorf("cuda: %s: tensor %d shape %v, list %d has %v", op, i, lists[0][i].Shape, li, t.Shape)
			}
			key = append(key, uint64(d.ptr), uint64(d.n))
		}
	}
	if c := b.cachedTable(op, key); c != nil {
		if b.capturing {
			c.pins++
			b.heldTables = append(b.heldTables, c)
		}
		return c, nil
	}
	if b.capturing {
		// The upload below is a host copy, which a graph capture cannot contain (and the
		// graph would keep a table that a later rebuild frees): run the op once first.
		return nil, fmt.Errorf("cuda: %s: the chunk table changed during a graph capture", op)
	}
	var words []uint64
	for i := 0; i < n; i++ {
		for off := 0; off < lens[i]; off += chunkElems {
			var ptrs [4]uint64
			for li, l := range lists {
				ptrs[li] = uint64(l[i].Device.(*devBuf).ptr) + uint64(off)*4
			}
			words = append(words, ptrs[0], ptrs[1], ptrs[2], ptrs[3], uint64(min(chunkElems, lens[i]-off)))
		}
	}
	c := &chunkTable{op: op, key: key, chunks: len(words) / chunkWords}
	if c.chunks == 0 {
		return c, nil
	}
	// The table is 64-bit words; allocate it as twice as many 32-bit elements.
	d, err := b.allocLastingBuf(len(words) * 2) // cached across steps: not from a free list
	if err != nil {
		return nil, fmt.Errorf("cuda: %s: chunk table: %w", op, err)
	}
	if err := cu.MemcpyHtoD(d.ptr, unsafe.Pointer(&words[0]), int64(len(words))*8); err != nil {
		b.freeBuf(d)
		return nil, fmt.Errorf("cuda: %s: uploading chunk table: %w", op, err)
	}
	c.dev = d
	b.cacheTable(c)
	return c, nil
}

// cachedTable returns op's cached table built from key, moved to the front, or nil.
func (b *Backend) cachedTable(op string, key []uint64) *chunkTable {
	list := b.tables[op]
	for i, c := range list {
		if slices.Equal(c.key, key) {
			copy(list[1:i+1], list[:i])
			list[0] = c
			return c
		}
	}
	return nil
}

// cacheTable puts c at the front of its op's tables, dropping the least recently used one
// beyond tablesPerOp (freed unless a graph has it pinned).
func (b *Backend) cacheTable(c *chunkTable) {
	list := append([]*chunkTable{c}, b.tables[c.op]...)
	if len(list) > tablesPerOp {
		old := list[tablesPerOp]
		list = list[:tablesPerOp]
		if old.pins == 0 {
			b.freeBuf(old.dev)
		}
	}
	b.tables[c.op] = list
}

// unpin drops a graph's pin on c, freeing c once no graph uses it and the cache no longer
// holds it. Caller holds b.mu.
func (b *Backend) unpin(c *chunkTable) {
	c.pins--
	if c.pins == 0 && !slices.Contains(b.tables[c.op], c) {
		b.freeBuf(c.dev)
	}
}

// SumSquares returns the sum of squares over ts: one launch, one float64 partial per chunk,
// added here in chunk order (deterministic).
func (b *Backend) SumSquares(ts []*nn.Tensor) (float64, error) {
	exit, err := b.enterOp("cuda: sum squares")
	if err != nil {
		return 0, err
	}
	defer exit()
	partial, chunks, err := b.sumSquaresPartials(ts)
	if err != nil || chunks == 0 {
		return 0, err
	}
	defer b.freeBuf(partial)
	return sumPartials("cuda: sum squares", partial, chunks)
}

// sumSquaresPartials queues sum_squares_multi_v1 over ts, which writes one float64 partial
// per chunk into the returned buffer (chunks of them; the caller frees it). Nothing to sum: no
// buffer and 0 chunks. Caller holds enter.
func (b *Backend) sumSquaresPartials(ts []*nn.Tensor) (*devBuf, int, error) {
	if len(ts) == 0 {
		return nil, 0, nil
	}
	tab, err := b.table("sumsq", ts)
	if err != nil || tab.chunks == 0 {
		return nil, 0, err
	}
	partial, err := b.allocBuf(tab.chunks * 2) // float64s
	if err != nil {
		return nil, 0, fmt.Errorf("cuda: sum squares: %w", err)
	}
	if err := b.launch("sum_squares_multi_v1", dim3{tab.chunks, 1, 1}, chunkThread, argPtr(partial.ptr), argPtr(tab.dev.ptr)); err != nil {
		b.freeBuf(partial)
		return nil, 0, err
	}
	return partial, tab.chunks, nil
}

// ZeroAll zeroes every tensor of ts in one launch (zero_multi_v1), for a model's gradients:
// one kernel instead of a memset per tensor (nn.MultiZeroer).
func (b *Backend) ZeroAll(ts []*nn.Tensor) error {
	exit, err := b.enterOp("cuda: zero")
	if err != nil {
		return err
	}
	defer exit()
	if len(ts) == 0 {
		return nil
	}
	tab, err := b.table("zero", ts)
	if err != nil || tab.chunks == 0 {
		return err
	}
	return b.launch("zero_multi_v1", dim3{tab.chunks, 1, 1}, chunkThread, argPtr(tab.dev.ptr))
}

// Scale multiplies every element of every tensor of ts by s in one launch.
func (b *Backend) Scale(ts []*nn.Tensor, s float32) error {
	exit, err := b.enterOp("cuda: scale")
	if err != nil {
		return err
	}
	defer exit()
	if len(ts) == 0 {
		return nil
	}
	tab, err := b.table("scale", ts)
	if err != nil || tab.chunks == 0 {
		return err
	}
	return b.launch("scale_multi_v1", dim3{tab.chunks, 1, 1}, chunkThread, argPtr(tab.dev.ptr), argF32(s))
}

// Lerp implements nn.Averager: dst += w * (src - dst) over every pair of tensors in one
// launch (lerp_multi_v1), each operation rounded as nn.LerpHost rounds it.
func (b *Backend) Lerp(dst, src []*nn.Tensor, w float32) error {
	if err := nn.CheckLerp(dst, src, w); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	exit, err := b.enterOp("cuda: lerp")
	if err != nil {
		return err
	}
	defer exit()
	if len(dst) == 0 {
		return nil
	}
	tab, err := b.table("lerp", dst, src)
	if err != nil || tab.chunks == 0 {
		return err
	}
	return b.launch("lerp_multi_v1", dim3{tab.chunks, 1, 1}, chunkThread, argPtr(tab.dev.ptr), argF32(w))
}

var _ nn.Averager = (*Backend)(nil)
