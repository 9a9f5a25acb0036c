//go:build unix

package fileio

import "syscall"

// nonBlock is added to the open flags so that opening a FIFO returns at once (and the
// fstat that follows refuses it) instead of waiting for a writer or reader.
const nonBlock = syscall.O_NONBLOCK
