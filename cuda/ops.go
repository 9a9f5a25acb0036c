//go:build cuda

package cuda

import (
	"fmt"

	"pixelcnn/nn"
)

// Elementwise launches: 256 threads, a grid-stride loop over at most elemGrid blocks.
const (
	elemBlock = 256
	elemGrid  = 4096
)

func elemGridFor(n int) dim3 { return dim3{min(ceilDiv(n, elemBlock), elemGrid), 1, 1} }

// sameLen checks that every tensor is live and as long as the first.
func sameLen(op string, ts ...*nn.Tensor) (int, error) {
	var n int
	for i, t := range ts {
		d, err := buf(op, t)
		if err != nil {
			return 0, err
		}
		if i == 0 {
			n = d.n
		} else if d.n != n {
			return 0, fmt.Errorf("%s: shapes %v and %v differ", op, ts[0].Shape, t.Shape)
		}
	}
	return n, nil
}

// elementwise validates ts (equal lengths), then launches kernel over them with n appended.
func (b *Backend) elementwise(op, kernel string, ts ...*nn.Tensor) error {
	n, err := sameLen("cuda: "+op, ts...)
	if err != nil {
		return err
	}
	exit, err := b.enterOp("cuda: " + op)
	if err != nil {
		return err
	}
	defer exit()
	if n == 0 {
		return nil
	}
	args := make([]uint64, 0, len(ts)+1)
	for _, t := range ts {
		args = append(args, ptrOf(t))
	}
	args = append(args, argInt(n))
	return b.launch(kernel, elemGridFor(n), elemBlock, args...)
}

func (b *Backend) ReLU(y, x *nn.Tensor) error { return b.elementwise("relu", "relu_forward_v1", y, x) }

func (b *Backend) ReLUBackward(dx, dy, y *nn.Tensor) error {
	return b.elementwise("relu backward", "relu_backward_v1", dx, dy, y)
}

func (b *Backend) Add(y, a, c *nn.Tensor) error { return b.elementwise("add", "add_v1", y, a, c) }

func (b *Backend) AddInto(dst, src *nn.Tensor) error {
	return b.elementwise("add into", "add_into_v1", dst, src)
}

// SetPosition writes src [N,1,1,F] into dst [N,H,W,F] at (i, j).
func (b *Backend) SetPosition(dst, src *nn.Tensor, i, j int) error {
	if _, err := buf("cuda: SetPosition: destination", dst); err != nil {
		return err
	}
	if _, err := buf("cuda: SetPosition: source", src); err != nil {
		return err
	}
	ds := dst.Shape
	if len(ds) != 4 {
		return fmt.Errorf("cuda: SetPosition: destination shape %v, want [N,H,W,F]", ds)
	}
	n, h, w, f := ds[0], ds[1], ds[2], ds[3]
	if err := nn.CheckShape("cuda: SetPosition: source", src.Shape, []int{n, 1, 1, f}); err != nil {
		return err
	}
	if i < 0 || i >= h || j < 0 || j >= w {
		return fmt.Errorf("cuda: SetPosition: position (%d,%d) outside a %dx%d image", i, j, h, w)
	}
	exit, err := b.enterOp("cuda: SetPosition")
	if err != nil {
		return err
	}
	defer exit()
	if n*f == 0 {
		return nil
	}
	return b.launch("set_position_v1", grid1(n*f, elemBlock), elemBlock, ptrOf(dst), ptrOf(src),
		argInt(n), argInt(h), argInt(w), argInt(f), argInt(i), argInt(j))
}
