package pixelcnn

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
)

// The lossless codec's access to the model (package pixelcnn/codec does the coding): the
// cached incremental pass driven by the caller's pixel values, and a hash of the weights.

// SubpixelFunc is called once per subpixel s (raster-then-colour order) of a CachedPass with
// the logits of that subpixel for each of the n images (logits[k*256 : (k+1)*256] is image
// k's) and must fill vals with the n images' values of subpixel s, which the pass then feeds
// to the network: a decoder decodes them from the logits, an encoder copies the true pixels.
type SubpixelFunc func(s int, logits []float32, vals []uint8) error

// CachedPass runs the cached sampler's passes (one pass through the net per subpixel, at one
// position, on n images at once) with the subpixel values given by next instead of drawn.
// Encoder and decoder both run it, so both compute the very same logits, in the same order,
// with the same arithmetic.
func CachedPass(m *Model, n int, next SubpixelFunc) error {
	c := m.Config
	if n < 1 {
		return fmt.Errorf("cached pass: %d images, want >= 1", n)
	}
	if err := checkDeviceMemory(m, n); err != nil {
		return err
	}
	s, err := newCachedSampler(m, n, make([]float32, n*c.Subpixels()))
	if err != nil {
		return err
	}
	defer s.release()
	logits := make([]float32, n*256*c.Colors)
	mine := make([]float32, n*256)
	vals := make([]uint8, n)
	for i := 0; i < c.Height; i++ {
		for j := 0; j < c.Width; j++ {
			clear(s.pix)
			for col := 0; col < c.Colors; col++ {
				lt, err := s.step(hostPos{m.B, i, j})
				if err != nil {
					return fmt.Errorf("cached pass: pixel (%d,%d) colour %d: %w", i, j, col, err)
				}
				if err := m.B.ToHost(logits, lt); err != nil {
					return fmt.Errorf("cached pass: pixel (%d,%d) colour %d: %w", i, j, col, err)
				}
				for k := 0; k < n; k++ {
					copy(mine[k*256:(k+1)*256], logits[(k*c.Colors+col)*256:])
				}
				sub := (i*c.Width+j)*c.Colors + col
				if err := next(sub, mine, vals); err != nil {
					return err
				}
				for k, v := range vals {
					s.pix[k*c.Colors+col] = float32(v) / 255
				}
				if err := s.setPixel(i, j); err != nil {
					return err
				}
			}
		}
	}
	return nil
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
