// Package datatest writes small datasets for the commands' tests, so that they need not load
// the real 70,000 MNIST images.
package datatest

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// NoiseIDX writes uncompressed 28x28 IDX image files of random pixels (train images and
// t10k images, the names every idx dataset uses) into a new temporary directory and returns it.
func NoiseIDX(t testing.TB, train, test int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct {
		name string
		n    int
	}{{"train-images-idx3-ubyte", train}, {"t10k-images-idx3-ubyte", test}} {
		b := binary.BigEndian.AppendUint32(nil, 0x803) // idx3, unsigned bytes
		for _, v := range []int{s.n, 28, 28} {
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		}
		for range s.n * 28 * 28 {
			b = append(b, byte(rng.IntN(256)))
		}
		if err := os.WriteFile(filepath.Join(dir, s.name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// NoiseIDXLabels is NoiseIDX with label files beside the images (train-labels and
// t10k-labels, labels i mod 10), for conditional models.
func NoiseIDXLabels(t testing.TB, train, test int) string {
	t.Helper()
	dir := NoiseIDX(t, train, test)
	for _, s := range []struct {
		name string
		n    int
	}{{"train-labels-idx1-ubyte", train}, {"t10k-labels-idx1-ubyte", test}} {
		b := binary.BigEndian.AppendUint32(nil, 0x801) // idx1, unsigned bytes
		b = binary.BigEndian.AppendUint32(b, uint32(s.n))
		for i := range s.n {
			b = append(b, byte(i%10))
		}
		if err := os.WriteFile(filepath.Join(dir, s.name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
