//go:build !linux

package fileiotest

import "errors"

func mknodNull(string) error { return errors.ErrUnsupported }

func mkfifo(string) error { return errors.ErrUnsupported }

// Unblock: no FIFOs to unblock here.
func Unblock(string) {}
