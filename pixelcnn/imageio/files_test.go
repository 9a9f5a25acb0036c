package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// TestWritePNGOutputs: WritePNG refuses a device node and a FIFO (it used to replace them
// with a file), and through a link to a regular file replaces the target, keeping the link.
func TestWritePNGOutputs(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 3, 2))
	for _, tc := range []struct {
		name string
		make func(testing.TB, string)
	}{{"character device", fileiotest.CharDevice}, {"FIFO", fileiotest.FIFO}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.png")
			tc.make(t, path)
			before, _ := os.Lstat(path)
			err := WritePNG(path, img)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("WritePNG = %v, want an error naming %s as not a regular file", err, path)
			}
			if after, _ := os.Lstat(path); after.Mode() != before.Mode() {
				t.Errorf("%s is now %v, was %v", path, after.Mode(), before.Mode())
			}
		})
	}
	t.Run("link", func(t *testing.T) {
		dir := t.TempDir()
		target, link := filepath.Join(dir, "real.png"), filepath.Join(dir, "link.png")
		os.WriteFile(target, []byte("old"), 0o644)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := WritePNG(link, img); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("the link was replaced (%v, %v)", st.Mode(), err)
		}
		if got := decodePNG(t, target).Bounds(); got != img.Bounds() {
			t.Errorf("the target holds a %v image, want %v", got, img.Bounds())
		}
	})
}

// hugePNG is a valid PNG header (signature and IHDR) claiming a w x h grey image, followed
// by the IDAT and IEND of a 1x1 image: a few dozen bytes that would make a decoder allocate
// w*h bytes.
func hugePNG(t *testing.T, w, h uint32) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	// IHDR's data starts at 16 (8 signature + 4 length + 4 type); its CRC covers type+data.
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

// TestReadImageInputs: ReadImage refuses a FIFO (without hanging), a device node and a
// directory naming the path, and checks a PNG's size from its header before decoding it.
func TestReadImageInputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(testing.TB, string)
		want string
	}{
		{"FIFO", fileiotest.FIFO, "not a regular file"},
		{"character device", fileiotest.CharDevice, "not a regular file"},
		{"directory", func(t testing.TB, p string) { os.Mkdir(p, 0o755) }, "not a regular file"},
		{"huge header", func(t testing.TB, p string) { os.WriteFile(p, hugePNG(t.(*testing.T), 40000, 30000), 0o644) }, "image is 40000x30000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.png")
			tc.make(t, path)
			err := fileiotest.Within(t, 10*time.Second, "ReadImage", func() error {
				_, err := ReadImage(path, 4, 4, 1)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadImage = %v, want an error naming %s and containing %q", err, path, tc.want)
			}
		})
	}
}
