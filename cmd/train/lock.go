//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// runLock is a held lock on a run directory.
type runLock struct{ f *os.File }

// errRunLocked is wrapped by the refusal when another process trains in the directory.
var errRunLocked = errors.New("run directory in use")

// lockRunDir takes the exclusive lock on dir, or returns an error naming the process that
// holds it.
func lockRunDir(dir string) (*runLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the run dir: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock the run dir: %s is not a regular file", path)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, lockedError(dir, f)
		}
		return nil, fmt.Errorf("lock the run dir: %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	return &runLock{f: f}, nil
}

// checkRunDirFree returns lockRunDir's error when another process holds dir's lock, without
// creating or changing anything.
func checkRunDirFree(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil // no lock file: nobody trains there (a problem with it shows when it is taken)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		return lockedError(dir, f)
	}
	return nil // closing f drops the probe's lock
}

// lockedError names the holder of dir's lock from the PID in its lock file f.
func lockedError(dir string, f *os.File) error {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return fmt.Errorf("%w: run dir %s is being trained by another process (it holds %s): wait for it to end, or choose another --run-dir",
			errRunLocked, dir, filepath.Join(dir, lockFile))
	}
	return fmt.Errorf("%w: run dir %s is being trained by another train process, PID %d: wait for it to end, stop it with kill -INT %d (it writes its checkpoint first), or choose another --run-dir",
		errRunLocked, dir, pid, pid)
}

// release unlocks; the lock file stays (removing it could let two processes lock two files).
func (l *runLock) release() {
	if l != nil {
		l.f.Close()
	}
}
