// Package dist is the communication layer of data-parallel training: a world of Size
// processes (ranks), each training its own copy of the model on its shard of every global
// batch, and the collectives they need to agree (Allgather, Broadcast, Barrier).
//
// Two implementations: the single process (the default build: world size 1, no cgo) and MPI
// (build tag mpi: a thin cgo layer over Open MPI's C API, every return code turned into a
// Go error). Open picks the one this binary has.
//
// The default reduction (Exact) gathers every shard's gradient on every rank and sums them in
// shard order, rank 0's first, so every rank holds the same bits, and they equal those of a
// single process that adds the same shard gradients in the same order (SumInOrder). Fast uses
// the native allreduce, whose summation order depends on the library, the rank count and the
// message size: it is not bit-reproducible.
package dist

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Comm is a world of processes. Every collective must be called by every rank, in the same
// order, with the same lengths; recv buffers of the gathers hold Size() times len(send)
// elements, rank 0's first.
type Comm interface {
	Size() int
	Rank() int
	// LocalRank is the rank among the processes on this machine (it picks a GPU).
	LocalRank() int
	// Name says which implementation this is and where the rank stands, e.g. "mpi rank 1/4".
	Name() string
	AllgatherFloat32(send, recv []float32) error
	AllgatherBytes(send, recv []byte) error
	// AllreduceSumFloat32 replaces buf by the element-wise sum over the ranks, in the
	// library's order (not bit-reproducible: the Fast reduction only).
	AllreduceSumFloat32(buf []float32) error
	// Broadcast copies root's buf into every rank's buf.
	Broadcast(buf []byte, root int) error
	Barrier() error
	// Abort ends every rank of the world at once with exit status code (a rank that cannot
	// go on must not leave the others waiting in a collective).
	Abort(code int)
	Close() error
}

// Reduction says how the shard gradients are summed.
type Reduction string

const (
	// Exact gathers every shard's gradient and sums them in shard order: bit-reproducible.
	Exact Reduction = "exact"
	// Fast sums each rank's shards in order, then uses the native allreduce: not
	// bit-reproducible across rank counts, libraries or message sizes.
	Fast Reduction = "fast"
)

// ParseReduction parses a --reduce value.
func ParseReduction(s string) (Reduction, error) {
	switch r := Reduction(s); r {
	case Exact, Fast:
		return r, nil
	}
	return "", fmt.Errorf("reduction %q: want exact (bit-reproducible, the default) or fast (the native allreduce, not bit-reproducible)", s)
}

// SumInOrder writes into sum the element-wise sum of vs in their order: vs[0] + vs[1] + ...,
// each element added left to right in float32. It is the one definition of the order the
// exact reduction promises. Every vector must have len(sum) elements.
func SumInOrder(sum []float32, vs [][]float32) {
	copy(sum, vs[0])
	for _, v := range vs[1:] {
		v = v[:len(sum)]
		for i, x := range v {
			sum[i] += x
		}
	}
}

// Reducer sums shard gradients over the world: each rank gives the vectors of its own shards
// (the same count on every rank, rank r holding shards r*k .. r*k+k-1), and every rank gets
// the sum over all shards. It keeps its buffers between calls.
type Reducer struct {
	Comm Comm
	Mode Reduction

	send, gathered []float32
	chunks         [][]float32
}

// Sum writes into sum the sum over every rank's local vectors (each len(sum) long): with
// Exact, gathered and added in shard order (SumInOrder); with Fast, each rank's added in
// order and then allreduced.
func (r *Reducer) Sum(sum []float32, local [][]float32) error {
	n := len(sum)
	for i, v := range local {
		if len(v) != n {
			return fmt.Errorf("dist: local vector %d has %d elements, the sum %d", i, len(v), n)
		}
	}
	if len(local) == 0 {
		return fmt.Errorf("dist: no local vectors to sum")
	}
	if r.Mode == Fast {
		SumInOrder(sum, local)
		if r.Comm.Size() == 1 {
			return nil
		}
		return r.Comm.AllreduceSumFloat32(sum)
	}
	if r.Comm.Size() == 1 {
		SumInOrder(sum, local)
		return nil
	}
	total := len(local) * n
	r.send = grow(r.send, total)
	for i, v := range local {
		copy(r.send[i*n:], v)
	}
	r.gathered = grow(r.gathered, total*r.Comm.Size())
	if err := r.Comm.AllgatherFloat32(r.send, r.gathered); err != nil {
		return err
	}
	r.chunks = r.chunks[:0]
	for off := 0; off < len(r.gathered); off += n {
		r.chunks = append(r.chunks, r.gathered[off:off+n])
	}
	SumInOrder(sum, r.chunks)
	return nil
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// GatherFloat64 returns every rank's local values, rank 0's first (exact: the bits travel).
func GatherFloat64(c Comm, local []float64) ([]float64, error) {
	send := make([]byte, 8*len(local))
	for i, v := range local {
		binary.LittleEndian.PutUint64(send[8*i:], math.Float64bits(v))
	}
	recv := make([]byte, len(send)*c.Size())
	if err := c.AllgatherBytes(send, recv); err != nil {
		return nil, err
	}
	all := make([]float64, len(recv)/8)
	for i := range all {
		all[i] = math.Float64frombits(binary.LittleEndian.Uint64(recv[8*i:]))
	}
	return all, nil
}

// AnyTrue reports on every rank whether flag is true on at least one rank (an agreement: all
// ranks stop at the same step when any of them was asked to).
func AnyTrue(c Comm, flag bool) (bool, error) {
	send := []byte{0}
	if flag {
		send[0] = 1
	}
	recv := make([]byte, c.Size())
	if err := c.AllgatherBytes(send, recv); err != nil {
		return false, err
	}
	for _, b := range recv {
		if b != 0 {
			return true, nil
		}
	}
	return false, nil
}

// Mismatched returns the ranks whose digest differs from rank 0's (every rank gets the same
// answer). The digests must have the same length on every rank.
func Mismatched(c Comm, digest []byte) ([]int, error) {
	recv := make([]byte, len(digest)*c.Size())
	if err := c.AllgatherBytes(digest, recv); err != nil {
		return nil, err
	}
	var bad []int
	first := recv[:len(digest)]
	for r := 1; r < c.Size(); r++ {
		if string(recv[r*len(digest):(r+1)*len(digest)]) != string(first) {
			bad = append(bad, r)
		}
	}
	return bad, nil
}
