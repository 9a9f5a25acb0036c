package dist

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// shardVectors are k vectors of n floats of mixed magnitudes, so that the order of their
// sum shows in the last bits.
func shardVectors(k, n int, seed float64) [][]float32 {
	vs := make([][]float32, k)
	for s := range vs {
		vs[s] = make([]float32, n)
		for i := range vs[s] {
			x := math.Sin(seed + float64(s*n+i)*0.7)
			vs[s][i] = float32(x * math.Pow(10, float64((s*7+i)%9-4)))
		}
	}
	return vs
}

func TestSumInOrderIsLeftToRight(t *testing.T) {
	vs := shardVectors(4, 1000, 1)
	sum := make([]float32, 1000)
	SumInOrder(sum, vs)
	for i := range sum {
		want := ((vs[0][i] + vs[1][i]) + vs[2][i]) + vs[3][i]
		if sum[i] != want {
			t.Fatalf("element %d: %v, want ((a+b)+c)+d = %v", i, sum[i], want)
		}
	}
	// The order matters in float32 (else the test above could not fail on a reordering).
	differs := 0
	for i := range sum {
		if rev := ((vs[3][i] + vs[2][i]) + vs[1][i]) + vs[0][i]; rev != sum[i] {
			differs++
		}
	}
	if differs == 0 {
		t.Fatal("the reversed order gave the same bits everywhere: the vectors cannot show an order bug")
	}
}

func TestReducerSingleProcess(t *testing.T) {
	vs := shardVectors(3, 257, 2)
	want := make([]float32, 257)
	SumInOrder(want, vs)
	for _, mode := range []Reduction{Exact, Fast} {
		r := &Reducer{Comm: Single{}, Mode: mode}
		sum := make([]float32, 257)
		for range 2 { // buffers reused
			if err := r.Sum(sum, vs); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sum, want) {
				t.Fatalf("%s: the sum differs from SumInOrder", mode)
			}
		}
	}
}

func TestReducerErrors(t *testing.T) {
	r := &Reducer{Comm: Single{}, Mode: Exact}
	if err := r.Sum(make([]float32, 3), [][]float32{make([]float32, 2)}); err == nil {
		t.Error("a local vector of the wrong length: no error")
	}
	if err := r.Sum(make([]float32, 3), nil); err == nil {
		t.Error("no local vectors: no error")
	}
}

func TestSingleCollectives(t *testing.T) {
	c := Single{}
	if c.Size() != 1 || c.Rank() != 0 || c.LocalRank() != 0 {
		t.Fatalf("size %d rank %d local %d", c.Size(), c.Rank(), c.LocalRank())
	}
	got, err := GatherFloat64(c, []float64{1.5, math.Inf(-1), 3})
	if err != nil || !slices.Equal(got, []float64{1.5, math.Inf(-1), 3}) {
		t.Fatalf("GatherFloat64: %v, %v", got, err)
	}
	for _, flag := range []bool{false, true} {
		if any, err := AnyTrue(c, flag); err != nil || any != flag {
			t.Fatalf("AnyTrue(%v) = %v, %v", flag, any, err)
		}
	}
	if bad, err := Mismatched(c, []byte("digest")); err != nil || len(bad) != 0 {
		t.Fatalf("Mismatched: %v, %v", bad, err)
	}
	if err := c.AllgatherFloat32(make([]float32, 2), make([]float32, 3)); err == nil {
		t.Error("allgather into a buffer of the wrong length: no error")
	}
	if err := c.Broadcast([]byte{1}, 1); err == nil {
		t.Error("broadcast from rank 1 of 1: no error")
	}
}

func TestParseReduction(t *testing.T) {
	for _, s := range []string{"exact", "fast"} {
		if r, err := ParseReduction(s); err != nil || string(r) != s {
			t.Errorf("%s: %v, %v", s, r, err)
		}
	}
	if _, err := ParseReduction("ring"); err == nil {
		t.Error("ring: no error")
	}
}

// TestLocalWorld: the in-process world's exact reduction over 4 ranks of 2 shards each is
// SumInOrder of the 8 shards, on every rank.
func TestLocalWorld(t *testing.T) {
	const ranks, perRank, n = 4, 2, 301
	all := shardVectors(ranks*perRank, n, 4)
	want := make([]float32, n)
	SumInOrder(want, all)
	errs := make(chan error, ranks)
	for r, c := range NewLocal(ranks) {
		go func() {
			errs <- func() error {
				red := &Reducer{Comm: c, Mode: Exact}
				sum := make([]float32, n)
				for range 3 {
					if err := red.Sum(sum, all[r*perRank:(r+1)*perRank]); err != nil {
						return err
					}
					if !slices.Equal(sum, want) {
						return fmt.Errorf("rank %d: the sum differs from SumInOrder", r)
					}
				}
				buf := []byte{byte(r)}
				if err := c.Broadcast(buf, 2); err != nil || buf[0] != 2 {
					return fmt.Errorf("rank %d: broadcast from 2 gave %d, %v", r, buf[0], err)
				}
				any, err := AnyTrue(c, r == 3)
				if err != nil || !any {
					return fmt.Errorf("rank %d: AnyTrue: %v, %v", r, any, err)
				}
				return c.Barrier()
			}()
		}()
	}
	for range ranks {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
