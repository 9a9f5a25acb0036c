package data

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func FuzzReadIDX(f *testing.F) {
	raw := readTestdata(f, idxRawFile)
	f.Add(raw)
	f.Add(readTestdata(f, idxGzFile))
	small := genIDX(idxImagesMagic, 2, 2, 3)
	f.Add(small)
	f.Add(gz(f, small))
	f.Add(small[:len(small)-1])
	f.Add(small[:10])
	f.Add(append(slices.Clone(small), 0))
	f.Add(genIDX(0x801, 1, 1, 1))
	f.Add(idxHeader(0x803, 0, 1, 1))
	f.Add(idxHeader(0x803, 0xffffffff, 0xffff, 0xffff))
	f.Add(gz(f, small[:12]))
	gzs := gz(f, small)
	f.Add(gzs[:len(gzs)-3])
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, h, w, pix, err := ParseIDXImages(bytes.NewReader(b), "fuzz-input")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz-input") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		if n < 1 || h < 1 || w < 1 || len(pix) != n*h*w {
			t.Fatalf("n, h, w = %d, %d, %d with %d pixels", n, h, w, len(pix))
		}
		if len(b) > 0 && b[0] == 0 && (len(b) != 16+len(pix) || !bytes.Equal(pix, b[16:])) {
			t.Fatalf("raw input of %d bytes parsed as %d pixels", len(b), len(pix))
		}
	})
}

func FuzzReadCIFAR(f *testing.F) {
	cif := readTestdata(f, cifarFile)
	f.Add(cif)
	f.Add(cif[:3073])
	f.Add(cif[:len(cif)-1])
	f.Add(append(slices.Clone(cif), 0))
	f.Add([]byte{})
	f.Add([]byte{3})
	bad := slices.Clone(cif[:3073])
	bad[0] = 200
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, pix, err := ParseCIFAR(b, "fuzz-input")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz-input") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		if n < 1 || len(b) != n*3073 || len(pix) != n*3072 {
			t.Fatalf("%d bytes parsed as %d records, %d pixels", len(b), n, len(pix))
		}
		// Last pixel of the last record: B plane's last byte.
		if pix[len(pix)-1] != b[len(b)-1] || pix[0] != b[1] {
			t.Fatalf("planar to HWC conversion wrong")
		}
	})
}
