//go:build linux

package fileiotest

import (
	"os"
	"syscall"
)

// mkdev is the Linux dev_t of major:minor (glibc's makedev).
func mkdev(major, minor uint64) uint64 {
	return (minor & 0xff) | (major&0xfff)<<8 | (minor&^0xff)<<12 | (major&^0xfff)<<32
}

func mknodNull(path string) error {
	return syscall.Mknod(path, syscall.S_IFCHR|0o644, int(mkdev(1, 3)))
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// Unblock opens the FIFO at path for reading and for writing without blocking and closes
// it, which wakes a writer or a reader blocked opening it (a reader then reads EOF).
func Unblock(path string) {
	for _, flag := range []int{os.O_RDONLY, os.O_WRONLY} {
		if f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}
}
