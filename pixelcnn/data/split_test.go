package data

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadSplit: LoadSplit reads the named split's files only, so a directory holding only the
// test files loads its test split, and the train split's error names the file it lacks.
func TestLoadSplit(t *testing.T) {
	idx := t.TempDir()
	writeFile(t, filepath.Join(idx, "t10k-images-idx3-ubyte"), genIDX(0x803, 2, 28, 28))
	cif := t.TempDir() // the tarball's layout: a cifar-10-batches-bin subdirectory
	writeFile(t, filepath.Join(cif, "cifar-10-batches-bin", "test_batch.bin"), readTestdata(t, cifarFile)[:2*3073])
	for _, tc := range []struct {
		name, dir string
		h, c      int
		pixels    []uint8
	}{
		{"mnist", idx, 28, 1, wantIDXPixels(2, 28, 28)},
		{"fashion-mnist", idx, 28, 1, wantIDXPixels(2, 28, 28)},
		{"cifar10", cif, 32, 3, wantCIFARPixels(2)},
	} {
		d, err := LoadSplit(tc.name, tc.dir, "test")
		if err != nil {
			t.Fatalf("%s test split: %v", tc.name, err)
		}
		if d.Name != tc.name || d.H != tc.h || d.W != tc.h || d.C != tc.c || d.Test.N != 2 || d.Train.N != 0 || !bytes.Equal(d.Test.Pixels, tc.pixels) {
			t.Errorf("%s: got %dx%dx%d test %d train %d", tc.name, d.H, d.W, d.C, d.Test.N, d.Train.N)
		}
	}
	for _, tc := range []struct{ name, dir, split, want string }{
		{"mnist", idx, "train", "no train-images idx file"},
		{"cifar10", cif, "train", "data_batch_1.bin"},
		{"mnist", idx, "valid", `split "valid"`},
	} {
		if _, err := LoadSplit(tc.name, tc.dir, tc.split); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s split: %v, want an error containing %q", tc.name, tc.split, err, tc.want)
		}
	}
}
