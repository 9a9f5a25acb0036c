package data

// The tiny files in testdata/data are generated here: `go test ./pixelcnn/data/ -run
// TestTestdata -update` rewrites them; without -update, TestTestdata checks that the
// committed files are what the generator makes.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated files in testdata/data")

// testdataDir is testdata/data at the repository root, seen from this package.
var testdataDir = filepath.Join("..", "..", "testdata", "data")

// The committed test files.
const (
	idxRawFile = "mnist5-idx3-ubyte"    // 5 images 28x28, raw idx
	idxGzFile  = "mnist5-idx3-ubyte.gz" // the same, gzipped
	cifarFile  = "cifar3.bin"           // 3 CIFAR-10 records, labels 0, 1, 2
)

// idxPixel is the value of pixel (y, x) of image i in the generated idx files.
func idxPixel(i, y, x int) uint8 { return uint8(i*53 + y*7 + x*11 + (x*y)%5) }

// cifarPixel is the value of channel c of pixel (y, x) of record i in the generated CIFAR file.
func cifarPixel(i, c, y, x int) uint8 { return uint8(i*29 + c*90 + y*13 + x*3 + (x^y)%7) }

// genIDX returns a raw idx3-ubyte file of n images h x w with magic magic.
func genIDX(magic uint32, n, h, w int) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, uint32(h))
	b = binary.BigEndian.AppendUint32(b, uint32(w))
	for i := 0; i < n; i++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				b = append(b, idxPixel(i, y, x))
			}
		}
	}
	return b
}

// wantIDXPixels is what ParseIDXImages must return for genIDX(_, n, h, w).
func wantIDXPixels(n, h, w int) []uint8 { return genIDX(idxImagesMagic, n, h, w)[16:] }

// genCIFAR returns a CIFAR-10 binary batch of n records (label i%10, planar RGB).
func genCIFAR(n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, uint8(i%10))
		for c := 0; c < 3; c++ {
			for y := 0; y < 32; y++ {
				for x := 0; x < 32; x++ {
					b = append(b, cifarPixel(i, c, y, x))
				}
			}
		}
	}
	return b
}

// wantCIFARPixels is what ParseCIFAR must return for genCIFAR(n): HWC, written out
// independently of the parser's indexing.
func wantCIFARPixels(n int) []uint8 {
	var p []uint8
	for i := 0; i < n; i++ {
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				for c := 0; c < 3; c++ {
					p = append(p, cifarPixel(i, c, y, x))
				}
			}
		}
	}
	return p
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTestdata checks (or with -update, writes) the committed generated files.
func TestTestdata(t *testing.T) {
	raw := genIDX(idxImagesMagic, 5, 28, 28)
	files := []struct {
		name string
		data []byte
		gz   bool // compare decompressed: gzip output may differ between Go releases
	}{
		{idxRawFile, raw, false},
		{idxGzFile, gz(t, raw), true},
		{cifarFile, genCIFAR(3), false},
	}
	for _, f := range files {
		path := filepath.Join(testdataDir, f.name)
		if *update {
			if err := os.MkdirAll(testdataDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with -update)", err)
		}
		want := f.data
		if f.gz {
			got, want = gunzip(t, got), raw
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output (regenerate with -update)", path)
		}
	}
}

// readTestdata returns the bytes of a committed test file.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
