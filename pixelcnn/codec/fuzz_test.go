package codec

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzDecode: no file makes Decode panic, and whatever it accepts hashes to the pixel hash
// it carries. With reseal the fuzzer's bytes get a correct CRC, so mutations reach the
// header's fields and the range decoder instead of stopping at the CRC check.
func FuzzDecode(f *testing.F) {
	m := testModel(f, 1, testConfig, 9)
	for _, n := range []int{1, 3} {
		file, _, err := Encode(m, testImages(n, testConfig, uint64(n)), n, Options{Batch: 2})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(file, false)
		f.Add(file, true)
		f.Add(file[:len(file)/2], true)
	}
	f.Add([]byte(Magic), true)
	f.Fuzz(func(t *testing.T, file []byte, reseal bool) {
		if reseal && len(file) >= 4 {
			file = bytes.Clone(file)
			binary.LittleEndian.PutUint32(file[len(file)-4:], crc32.ChecksumIEEE(file[:len(file)-4]))
		}
		h, _, err := ParseHeader(file)
		if err != nil || h.Count > 4 { // keep each run short
			return
		}
		h, px, err := Decode(m, file, Options{})
		if err != nil {
			return
		}
		if sha256.Sum256(px) != h.PixelHash || len(px) != h.Subpixels() {
			t.Fatalf("accepted %d images that do not match the file's pixel hash", h.Count)
		}
	})
}
