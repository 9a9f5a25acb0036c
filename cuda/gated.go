//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"pixelcnn/nn"
)

// The gated PixelCNN's ops (nn.GatedOps) on the kernels of kernels/gated.cu: the gate and
// ELU as grid-stride elementwise launches, the class bias with the labels copied to the
// device per call, and its backward in two fixed-order passes (deterministic, no atomics).

var _ nn.GatedOps = (*Backend)(nil)

// classBiasSlice is how many positions of one image pass 1 of the class bias's backward sums
// per thread (doubled until the grid's rows fit).
const classBiasSlice = 32

// Gate implements nn.GatedOps: y = tanh(a) * sigmoid(g) per colour group of x's last
// dimension (gate_forward_v1).
func (b *Backend) Gate(y, x *nn.Tensor, colors int) error {
	if err := nn.CheckGate(y, x, colors); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return b.gate("gate", "gate_forward_v1", colors, x, y, x)
}

// GateBackward implements nn.GatedOps: dx += dL/dx from dy and x (gate_backward_v1).
func (b *Backend) GateBackward(dx, dy, x *nn.Tensor, colors int) error {
	if err := nn.CheckGate(dy, x, colors); err != nil {
		return fmt.Errorf("cuda: gate backward: %w", err)
	}
	if err := nn.CheckSameShape("gate backward: input gradient", dx, x); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return b.gate("gate backward", "gate_backward_v1", colors, x, dx, dy, x)
}

// gate launches kernel over ts (which must be live) with the row count, half width and
// colour count of x's [..., 2F] layout appended.
func (b *Backend) gate(op, kernel string, colors int, x *nn.Tensor, ts ...*nn.Tensor) error {
	for _, t := range ts {
		if _, err := buf("cuda: "+op, t); err != nil {
			return err
		}
	}
	exit, err := b.enterOp("cuda: " + op)
	if err != nil {
		return err
	}
	defer exit()
	n := x.Len() / 2 // gate outputs
	if n == 0 {
		return nil
	}
	f2 := x.Shape[len(x.Shape)-1]
	args := make([]uint64, 0, len(ts)+3)
	for _, t := range ts {
		args = append(args, ptrOf(t))
	}
	args = append(args, argInt(x.Len()/f2), argInt(f2/colors/2), argInt(colors))
	return b.launch(kernel, elemGridFor(n), elemBlock, args...)
}

// ELU implements nn.GatedOps (elu_forward_v1).
func (b *Backend) ELU(y, x *nn.Tensor) error {
	if err := nn.CheckSameShape("elu", y, x); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return b.elementwise("elu", "elu_forward_v1", y, x)
}

// ELUBackward implements nn.GatedOps (elu_backward_v1).
func (b *Backend) ELUBackward(dx, dy, y *nn.Tensor) error {
	if err := nn.CheckSameShape("elu backward", dx, dy, y); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return b.elementwise("elu backward", "elu_backward_v1", dx, dy, y)
}

// uploadLabels copies labels into a new pool buffer (the caller frees it after queueing its
// launches; later work that reuses the buffer is ordered after them, see Pool). It is a host
// copy, which a CUDA graph capture cannot contain: the trainer runs class-conditional
// models' steps op by op (pixelcnn/train.go), and a capture gets this error. Caller holds
// enter.
func (b *Backend) uploadLabels(op string, labels []int32) (*devBuf, error) {
	if b.capturing {
		return nil, fmt.Errorf("cuda: %s: the labels are host data, which a recorded CUDA graph cannot hold", op)
	}
	d, err := b.allocBuf(len(labels))
	if err != nil {
		return nil, fmt.Errorf("cuda: %s: labels: %w", op, err)
	}
	if len(labels) > 0 {
		if err := cu.MemcpyHtoD(d.ptr, unsafe.Pointer(&labels[0]), int64(len(labels))*4); err != nil {
			b.freeBuf(d)
			return nil, fmt.Errorf("cuda: %s: copying %d labels to the device: %w", op, len(labels), err)
		}
	}
	return d, nil
}

// AddClassBias implements nn.GatedOps: y = x + table[labels[n]] for image n
// (add_class_bias_v1).
func (b *Backend) AddClassBias(y, x, table *nn.Tensor, labels []int32) error {
	if err := nn.CheckClassBias(y, x, table, labels); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	for i, t := range []*nn.Tensor{y, x, table} {
		if _, err := buf("cuda: class bias: "+[]string{"output", "input", "table"}[i], t); err != nil {
			return err
		}
	}
	exit, err := b.enterOp("cuda: class bias")
	if err != nil {
		return err
	}
	defer exit()
	n := y.Len()
	if n == 0 {
		return nil
	}
	lab, err := b.uploadLabels("class bias", labels)
	if err != nil {
		return err
	}
	defer b.freeBuf(lab)
	per, f := y.Shape[1]*y.Shape[2], y.Shape[3]
	return b.launch("add_class_bias_v1", elemGridFor(n), elemBlock, ptrOf(y), ptrOf(x), ptrOf(table),
		argPtr(lab.ptr), argInt(per), argInt(f), argInt(n))
}

// classBiasSlices returns pass 1's slice length and count for images of per positions: the
// grid has images*slices rows, at most 65535.
func classBiasSlices(images, per int) (sliceLen, slices int, err error) {
	sliceLen = classBiasSlice
	for images*ceilDiv(per, sliceLen) > 65535 && sliceLen < per {
		sliceLen *= 2
	}
	slices = ceilDiv(per, sliceLen)
	if images*slices > 65535 {
		return 0, 0, fmt.Errorf("cuda: class bias backward: %d images exceed the launch grid", images)
	}
	return sliceLen, slices, nil
}

// ClassBiasBackward implements nn.GatedOps: dtable[labels[n]] += the sum of dy over image n's
// positions, in two passes whose order depends on the shapes only (class_bias_partial_v1,
// class_bias_reduce_v1): the same bits on every run.
func (b *Backend) ClassBiasBackward(dtable, dy *nn.Tensor, labels []int32) error {
	if err := nn.CheckClassBias(dy, nil, dtable, labels); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	if _, err := buf("cuda: class bias backward: gradient", dy); err != nil {
		return err
	}
	if _, err := buf("cuda: class bias backward: table gradient", dtable); err != nil {
		return err
	}
	exit, err := b.enterOp("cuda: class bias backward")
	if err != nil {
		return err
	}
	defer exit()
	images, per, f := dy.Shape[0], dy.Shape[1]*dy.Shape[2], dy.Shape[3]
	if images == 0 || per == 0 || f == 0 {
		return nil // no position: nothing is added
	}
	sliceLen, slices, err := classBiasSlices(images, per)
	if err != nil {
		return err
	}
	lab, err := b.uploadLabels("class bias backward", labels)
	if err != nil {
		return err
	}
	defer b.freeBuf(lab)
	partial, err := b.allocBuf(images * slices * f) // at most dy's size
	if err != nil {
		return fmt.Errorf("cuda: class bias backward: partial sums: %w", err)
	}
	defer b.freeBuf(partial)
	if err := b.launch("class_bias_partial_v1", dim3{ceilDiv(f, elemBlock), images * slices, 1}, elemBlock,
		argPtr(partial.ptr), ptrOf(dy), argInt(per), argInt(f), argInt(sliceLen), argInt(slices)); err != nil {
		return err
	}
	classes := dtable.Shape[0]
	return b.launch("class_bias_reduce_v1", grid1(classes*f, elemBlock), elemBlock, ptrOf(dtable), argPtr(partial.ptr),
		argPtr(lab.ptr), argInt(images), argInt(slices), argInt(f), argInt(classes))
}
