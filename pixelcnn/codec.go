package pixelcnn

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"pixelcnn/nn"
)

// The lossless codec's access to the model (package pixelcnn/codec does the coding): the
// cached incremental pass driven by the caller's pixel values, and a hash of the weights.

// SubpixelFunc is called once per subpixel s (raster-then-colour order) of a CachedPass with
// the logits of that subpixel for each of the n images (logits[k*256 : (k+1)*256] is image
// k's) and must fill vals with the n images' values of subpixel s, which the pass then feeds
// to the network: a decoder decodes them from the logits, an encoder copies the true pixels.
type SubpixelFunc func(s int, logits []float32, vals []uint8) error

// CachedPass runs the cached sampler's passes (one pass through the net per subpixel, at one
// position, on n images at once) with the subpixel values given by next instead of drawn;
// labels are the n images' classes for a conditional model (nil otherwise). Encoder and
// decoder both run it, so both compute the very same logits, in the same order, with the
// same arithmetic.
func CachedPass(m *Model, n int, labels []int32, next SubpixelFunc) error {
	c := m.Config
	if n < 1 {
		return fmt.Errorf("cached pass: %d images, want >= 1", n)
	}
	if err := m.checkLabels(n, labels); err != nil {
		return fmt.Errorf("cached pass: %w", err)
	}
	if err := checkDeviceMemory(m, n); err != nil {
		return err
	}
	var err error
	if groups := passGroups(m.B, n); groups > 1 {
		err = cachedPassSplit(m, n, labels, next, groups)
	} else {
		mine := make([]float32, n*Levels)
		err = stepperPass(m, n, labels, func(sub, col int, host []float32, vals []uint8) error {
			for k := 0; k < n; k++ {
				copy(mine[k*Levels:(k+1)*Levels], host[(k*c.Colors+col)*Levels:])
			}
			return next(sub, mine, vals)
		})
	}
	if err != nil {
		return fmt.Errorf("cached pass: %w", err)
	}
	return nil
}

// stepperPass runs one stepper's passes over n images (starting blank), handing fn each
// subpixel's logits as host values [n, C*Levels] with its colour.
func stepperPass(m *Model, n int, labels []int32, fn func(sub, col int, host []float32, vals []uint8) error) error {
	c := m.Config
	st, err := m.arch.newStepper(m, n, make([]float32, n*c.Subpixels()), labels)
	if err != nil {
		return err
	}
	defer st.release()
	host := make([]float32, n*Levels*c.Colors)
	return runPasses(st, c, n, 0, func(sub, col int, lt *nn.Tensor, vals []uint8) error {
		if err := m.B.ToHost(host, lt); err != nil {
			return err
		}
		return fn(sub, col, host, vals)
	}, nil)
}

// TensorHash is the SHA-256 of the model's parameters as a checkpoint stores them: for each
// tensor in checkpoint order its name, shape and float32 values (little-endian bits, PyTorch
// layout). Two checkpoints with the same weights hash the same whatever their training state.
func (m *Model) TensorHash() ([32]byte, error) {
	ts, err := m.paramTensors(nil)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	var buf [8]byte
	for _, t := range ts {
		binary.LittleEndian.PutUint64(buf[:], uint64(len(t.Name)))
		h.Write(buf[:])
		h.Write([]byte(t.Name))
		binary.LittleEndian.PutUint64(buf[:], uint64(len(t.Shape)))
		h.Write(buf[:])
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(buf[:], uint64(d))
			h.Write(buf[:])
		}
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(buf[:4], math.Float32bits(v))
			h.Write(buf[:4])
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}
