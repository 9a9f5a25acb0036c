package fileio

import (
	"fmt"
	"io"
	"os"
)

// File is an input opened by Open: a regular file read through a limit.
type File struct {
	f     *os.File
	path  string
	size  int64 // at open
	limit int64
	read  int64
}

// Open opens path for reading as an input of at most limit bytes. The open does not block
// (a FIFO is refused, not waited on); the open file must be a regular file (a link to one is
// followed) no larger than limit. Reads past limit bytes fail with ErrTooLarge, so a file
// that grows while it is read is caught too. Every error names path.
func Open(path string, limit int64) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, err // *PathError names the path (and keeps fs.ErrNotExist)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("read %s: %w (it is %s); name a regular file", path, ErrNotRegular, kind(st.Mode()))
	}
	if st.Size() > limit {
		f.Close()
		return nil, fmt.Errorf("read %s: %w: %d bytes, over the %d-byte limit for this kind of file", path, ErrTooLarge, st.Size(), limit)
	}
	return &File{f: f, path: path, size: st.Size(), limit: limit}, nil
}

// Size is the file's size when it was opened.
func (f *File) Size() int64 { return f.size }

// Name is the path it was opened with.
func (f *File) Name() string { return f.path }

// Read reads like os.File.Read, but never more than limit bytes in all: the byte past the
// limit is an ErrTooLarge error naming the path.
func (f *File) Read(p []byte) (int, error) {
	if f.read > f.limit {
		return 0, f.grew()
	}
	if room := f.limit + 1 - f.read; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := f.f.Read(p)
	f.read += int64(n)
	if f.read > f.limit {
		return n - 1, f.grew() // the byte past the limit is not returned
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read %s: %w", f.path, err)
	}
	return n, err
}

func (f *File) grew() error {
	return fmt.Errorf("read %s: %w: it grew past the %d-byte limit while being read", f.path, ErrTooLarge, f.limit)
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// ReadFile reads the whole input at path, which must be a regular file of at most limit
// bytes (see Open). The buffer is sized from the file's size, which the limit bounds.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 0, f.size+1) // +1: room to see EOF (or growth) without reallocating
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
