//go:build mpi

package dist

import (
	"slices"
	"testing"
)

// TestMPIExactReduction runs under mpirun (make test-mpi: -np 2 and -np 4; alone it is world
// size 1): every rank's exact sum of the shards of all ranks equals SumInOrder of the same
// vectors computed locally, bit for bit.
func TestMPIExactReduction(t *testing.T) {
	c, notice, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	if notice != "" {
		t.Log(notice)
	}
	const perRank, n = 2, 100_003
	all := shardVectors(perRank*c.Size(), n, 3)
	local := all[c.Rank()*perRank : (c.Rank()+1)*perRank]
	want := make([]float32, n)
	SumInOrder(want, all)
	sum := make([]float32, n)
	r := &Reducer{Comm: c, Mode: Exact}
	if err := r.Sum(sum, local); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(sum, want); i >= 0 {
		t.Fatalf("%s: element %d: %v, the ordered sum is %v", c.Name(), i, sum[i], want[i])
	}
	fast := make([]float32, n)
	if err := (&Reducer{Comm: c, Mode: Fast}).Sum(fast, local); err != nil {
		t.Fatal(err)
	}
	diffs := 0
	for i := range fast {
		if fast[i] != want[i] {
			diffs++
		}
	}
	t.Logf("%s: the fast (MPI_Allreduce) sum differs from the ordered one in %d of %d elements", c.Name(), diffs, n)
	stop, err := AnyTrue(c, c.Rank() == c.Size()-1)
	if err != nil || stop != (c.Size() > 0) {
		t.Fatalf("AnyTrue with the last rank set: %v, %v", stop, err)
	}
	digest := []byte("same")
	if c.Rank() == 1 {
		digest = []byte("diff")
	}
	bad, err := Mismatched(c, digest)
	if err != nil {
		t.Fatal(err)
	}
	if wantBad := []int{1}; c.Size() > 1 && !slices.Equal(bad, wantBad) {
		t.Fatalf("Mismatched: %v, want %v", bad, wantBad)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func firstDiff(a, b []float32) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
