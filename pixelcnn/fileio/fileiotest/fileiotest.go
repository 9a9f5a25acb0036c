// Package fileiotest makes the special files (device nodes, FIFOs, sockets) that tests of
// fileio and of the commands use as hostile outputs and inputs.
package fileiotest

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// CharDevice makes a character device node at path with /dev/null's numbers (1, 3), as
// `mknod path c 1 3` does. It skips the test where that is not permitted (mknod needs root
// or CAP_MKNOD) or not supported.
func CharDevice(t testing.TB, path string) {
	t.Helper()
	if err := mknodNull(path); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, errors.ErrUnsupported) {
			t.Skipf("cannot make a character device here (%v): this check needs root or CAP_MKNOD", err)
		}
		t.Fatal(err)
	}
}

// FIFO makes a named pipe at path; when the test ends it unblocks any reader still waiting
// in an open of it (a test that failed by hanging), so the test binary can finish.
func FIFO(t testing.TB, path string) {
	t.Helper()
	if err := mkfifo(path); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skipf("no FIFOs here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { Unblock(path) })
}

// Socket makes a Unix socket file at path, kept until the test ends.
func Socket(t testing.TB, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Skipf("no Unix sockets here: %v", err)
	}
	l.SetUnlinkOnClose(false) // the file must stay for the test; TempDir removes it
	t.Cleanup(func() { l.Close() })
}

// Within runs f and fails the test if it has not returned within d: a read of a FIFO that
// hangs is a failure, not a stuck test binary. It returns f's error.
func Within(t testing.TB, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s hung (still running after %v)", what, d)
		return nil
	}
}
