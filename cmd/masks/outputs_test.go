package main

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// TestOutputFIFO: `masks --out FIFO` is refused naming the path and the FIFO stays (it used
// to be replaced by a PNG file, exit 0); `--out LINK` to a PNG writes the target and keeps
// the link.
func TestOutputFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "masks.png")
	fileiotest.FIFO(t, fifo)
	var stderr bytes.Buffer
	if rc := run([]string{"--out", fifo}, io.Discard, &stderr); rc == 0 {
		t.Errorf("exit 0 writing to a FIFO")
	}
	if !strings.Contains(stderr.String(), fifo) || !strings.Contains(stderr.String(), "not a regular file") {
		t.Errorf("stderr %q does not name %s as not a regular file", stderr.String(), fifo)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced (%v, %v)", st.Mode(), err)
	}

	target, link := filepath.Join(dir, "real.png"), filepath.Join(dir, "link.png")
	os.WriteFile(target, []byte("old"), 0o644)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if rc := run([]string{"--out", link}, io.Discard, &stderr); rc != 0 {
		t.Fatalf("exit %d: %s", rc, stderr.String())
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced (%v, %v)", st.Mode(), err)
	}
	if b, _ := os.ReadFile(target); !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("the link's target is not the PNG")
	}
}
