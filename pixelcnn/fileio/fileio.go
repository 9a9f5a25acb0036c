// Package fileio is the one place the commands write and read the files a user names:
// checkpoints, PNGs, codec files, JSON reports, run directories, datasets, config.json.
// It exists so that the rules for those files hold everywhere, not in five copies:
//
//   - An output is a regular file that we create or replace atomically (temp file beside
//     it, fsync, rename, fsync the directory). A path that exists and is anything else (a
//     directory, a device, a FIFO, a socket) is refused; a symbolic link is followed to a
//     regular file, whose target is replaced and the link kept; a dangling link or a link
//     to anything else is refused. An output is never one of the command's inputs.
//   - An input is opened without blocking (a FIFO cannot hang the open), must be a regular
//     file, and is read with a size limit: a file over it, or one that grows past it while
//     being read, is an error naming the path and the limit.
//
// Every error names the path.
package fileio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Errors wrapped by the refusals, for errors.Is.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrSameFile   = errors.New("an output must not overwrite an input")
	ErrTooLarge   = errors.New("file too large")
)

// kind says what a non-regular file is, for error messages.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsRegular():
		return "a regular file"
	}
	return "an irregular file"
}

// resolveOutput returns the file a write to path replaces: path itself when it does not
// exist or is a regular file, the target of a symbolic link to a regular file; anything
// else is refused.
func resolveOutput(path string) (string, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("output %w", err) // *PathError names the path
	}
	if st.Mode().IsRegular() {
		return path, nil
	}
	if st.Mode()&fs.ModeSymlink == 0 {
		return "", fmt.Errorf("output %s: %w (it is %s); name a regular file or a new one", path, ErrNotRegular, kind(st.Mode()))
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		dest, _ := os.Readlink(path)
		return "", fmt.Errorf("output %s: a symbolic link to %s, which cannot be followed (%v): refused, a write would replace the link", path, dest, err)
	}
	tst, err := os.Stat(target)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", path, err)
	}
	if !tst.Mode().IsRegular() {
		return "", fmt.Errorf("output %s: %w (it is a symbolic link to %s, %s); name a regular file or a new one", path, ErrNotRegular, target, kind(tst.Mode()))
	}
	return target, nil
}

// CheckOutput reports whether path may be written as an output of a command that reads
// inputs (paths of files or directories; "" is skipped): it must not exist, or be a regular
// file or a link to one, and must not be the same file as any input. Commands call it
// before their work so that a bad --out fails fast; the writers check the file kind again.
func CheckOutput(path string, inputs ...string) error {
	if path == "" {
		return errors.New("output: empty file name")
	}
	if _, err := resolveOutput(path); err != nil {
		return err
	}
	return checkNotInput(path, inputs)
}

// checkNotInput refuses an output that is (after links) the same file as an input.
func checkNotInput(path string, inputs []string) error {
	out, err := os.Stat(path)
	if err != nil {
		return nil // it does not exist yet, so it is no input
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		if st, err := os.Stat(in); err == nil && os.SameFile(out, st) {
			return fmt.Errorf("output %s is the same file as the input %s: %w", path, in, ErrSameFile)
		}
	}
	return nil
}

// WriteFile writes data to path atomically, with the rules of Write.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write writes path atomically: fill writes the contents to a temporary file in the
// target's directory (buffered), which is then made 0644, fsynced, closed and renamed over
// the target, and the directory is fsynced. A path that is a link to a regular file has its
// target replaced (the link stays); any other existing non-regular path is refused. On any
// failure before the rename the temporary file is removed and an existing file is left
// untouched. Every error names path.
func Write(path string, fill func(io.Writer) error) (err error) {
	target, err := resolveOutput(path)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close() // may already be closed; the error is irrelevant then
			os.Remove(tmp.Name())
		}
		if err != nil {
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil { // CreateTemp makes 0600; outputs are ordinary files
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		// Some filesystems refuse fsync on directories; that is not a write failure.
		if errors.Is(err, os.ErrInvalid) || errors.Is(err, syscall.EINVAL) {
			return nil
		}
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// resolveOutputDir returns the directory a WriteDir to dir replaces: dir itself when it
// does not exist or is an empty directory, the target of a symbolic link to an empty
// directory; anything else is refused.
func resolveOutputDir(dir string) (string, error) {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return dir, nil
	}
	if err != nil {
		return "", fmt.Errorf("output directory %w", err)
	}
	target := dir
	if st.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(dir); err != nil {
			dest, _ := os.Readlink(dir)
			return "", fmt.Errorf("output directory %s: a symbolic link to %s, which cannot be followed (%v): refused, a write would replace the link", dir, dest, err)
		}
		if st, err = os.Stat(target); err != nil {
			return "", fmt.Errorf("output directory %s: %w", dir, err)
		}
	}
	if !st.IsDir() {
		what := kind(st.Mode())
		if target != dir {
			what = "a symbolic link to " + target + ", " + what
		}
		return "", fmt.Errorf("output directory %s exists and is %s, not a directory; name a new directory", dir, what)
	}
	ents, err := os.ReadDir(target)
	if err != nil {
		return "", fmt.Errorf("output directory %s: %w", dir, err)
	}
	if len(ents) > 0 {
		return "", fmt.Errorf("output directory %s exists and is not empty; name a new directory", dir)
	}
	return target, nil
}

// CheckOutputDir reports whether WriteDir(dir, ...) may write dir: it must not exist, or
// be an empty directory or a link to one. Commands call it before their work.
func CheckOutputDir(dir string) error {
	if dir == "" {
		return errors.New("output directory: empty name")
	}
	_, err := resolveOutputDir(dir)
	return err
}

// WriteDir creates the directory dir atomically: fill writes the files into a temporary
// directory beside it (it is given that directory's path), which is then made 0755 and
// renamed to dir, so dir appears complete or not at all. dir must not exist or be an empty
// directory; a link to an empty directory is followed (its target is replaced, the link
// stays). On failure the temporary directory is removed. Every error names dir.
func WriteDir(dir string, fill func(tmp string) error) (err error) {
	target, err := resolveOutputDir(dir)
	if err != nil {
		return err
	}
	parent := filepath.Dir(filepath.Clean(target))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write directory %s: %w", dir, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			os.RemoveAll(tmp)
		}
	}()
	if err := fill(tmp); err != nil {
		return err // fill's errors name their files
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("write directory %s: %w", dir, err)
	}
	// Check again: the directory may have appeared, or been filled, while fill ran.
	if t, err := resolveOutputDir(dir); err != nil {
		return err
	} else if t != target {
		return fmt.Errorf("output directory %s changed while it was being written", dir)
	}
	// os.Rename refuses to replace a directory, so remove the empty one first (Remove fails
	// on a directory that is not empty).
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write directory %s: %w", dir, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("write directory %s: %w", dir, err)
	}
	renamed = true
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("write directory %s: %w", dir, err)
	}
	return nil
}

// OpenAppend opens path for appending, creating it (0644) if needed. It must be a regular
// file (or a link to one): anything else is refused, and the open cannot block on a FIFO.
func OpenAppend(path string) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("output %s: %w (it is %s); name a regular file or a new one", path, ErrNotRegular, kind(st.Mode()))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY|nonBlock, 0o644)
	if err != nil {
		return nil, err // *PathError names the path
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("output %s: %w (it is %s); name a regular file or a new one", path, ErrNotRegular, kind(st.Mode()))
	}
	return f, nil
}
