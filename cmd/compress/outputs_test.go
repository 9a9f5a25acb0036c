package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// TestOutputsAndInputs: `encode --out DEVICE` is refused and the device node stays (it used
// to be replaced by the coded file, exit 0); `--out` equal to an input PNG is refused and
// the PNG left intact; `decode --out-dir LINK` to an empty directory fills the target and
// keeps the link (it used to replace the link by a real directory); `decode --in FIFO` is
// refused without hanging.
func TestOutputsAndInputs(t *testing.T) {
	dir := t.TempDir()
	ck := tinyCheckpoint(t, 1, 1)
	img := filepath.Join(dir, "a.png")
	savePNG(t, img, greyImage(4, 5, 0))
	imgBytes, _ := os.ReadFile(img)

	t.Run("encode --out DEVICE", func(t *testing.T) {
		dev := filepath.Join(t.TempDir(), "N")
		fileiotest.CharDevice(t, dev)
		err := encodeCmd([]string{"--checkpoint", ck, "--out", dev, "--quiet", img})
		if err == nil || !strings.Contains(err.Error(), dev) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("encode --out DEVICE: %v, want a refusal naming %s", err, dev)
		}
		if st, err := os.Lstat(dev); err != nil || st.Mode()&fs.ModeCharDevice == 0 {
			t.Errorf("the device node was replaced (%v, %v)", st.Mode(), err)
		}
	})
	t.Run("encode --out INPUT", func(t *testing.T) {
		err := encodeCmd([]string{"--checkpoint", ck, "--out", img, "--quiet", img})
		if err == nil || !strings.Contains(err.Error(), "same file as the input "+img) {
			t.Errorf("encode --out INPUT: %v, want a refusal naming both", err)
		}
		if b, _ := os.ReadFile(img); !bytes.Equal(b, imgBytes) {
			t.Error("the input PNG was overwritten")
		}
	})
	coded := filepath.Join(dir, "x.pxz")
	if err := encodeCmd([]string{"--checkpoint", ck, "--out", coded, "--quiet", img}); err != nil {
		t.Fatal(err)
	}
	t.Run("decode --out-dir LINK", func(t *testing.T) {
		d := t.TempDir()
		target, link := filepath.Join(d, "real"), filepath.Join(d, "link")
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := decodeCmd([]string{"--checkpoint", ck, "--in", coded, "--out-dir", link, "--quiet"}); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("--out-dir LINK: the link was replaced (%v, %v)", st.Mode(), err)
		}
		if _, err := os.Stat(filepath.Join(target, "000000.png")); err != nil {
			t.Errorf("--out-dir LINK: the target has no image: %v", err)
		}
	})
	t.Run("decode --in FIFO", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "in.pxz")
		fileiotest.FIFO(t, fifo)
		out := filepath.Join(t.TempDir(), "out")
		err := fileiotest.Within(t, 10*time.Second, "decode --in FIFO", func() error {
			return decodeCmd([]string{"--checkpoint", ck, "--in", fifo, "--out-dir", out, "--quiet"})
		})
		if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("decode --in FIFO: %v, want a refusal naming %s", err, fifo)
		}
	})
}
