package dist

import (
	"fmt"
	"os"
)

// Single is the world of one process: every collective is a copy.
type Single struct{}

func (Single) Size() int      { return 1 }
func (Single) Rank() int      { return 0 }
func (Single) LocalRank() int { return 0 }
func (Single) Name() string   { return "single process" }

func (Single) AllgatherFloat32(send, recv []float32) error {
	if len(recv) != len(send) {
		return fmt.Errorf("dist: allgather of %d floats into %d (world size 1)", len(send), len(recv))
	}
	copy(recv, send)
	return nil
}

func (Single) AllgatherBytes(send, recv []byte) error {
	if len(recv) != len(send) {
		return fmt.Errorf("dist: allgather of %d bytes into %d (world size 1)", len(send), len(recv))
	}
	copy(recv, send)
	return nil
}

func (Single) AllreduceSumFloat32([]float32) error { return nil }

func (Single) Broadcast(_ []byte, root int) error {
	if root != 0 {
		return fmt.Errorf("dist: broadcast from rank %d in a world of 1", root)
	}
	return nil
}

func (Single) Barrier() error { return nil }
func (Single) Abort(code int) { os.Exit(code) }
func (Single) Close() error   { return nil }
