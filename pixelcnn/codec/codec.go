package codec

import (
	"crypto/sha256"
	"fmt"
	"math"
	"runtime"
	"strings"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu/isa"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/rangecoder"
)

// levels is the values of a subpixel, one frequency table entry each.
const levels = pixelcnn.Levels

// DefaultBatch is the number of images per cached pass: large enough that the per-position
// GEMMs have rows to work on, small enough that the caches (about 0.7 MB per 28x28 mnist
// image) stay modest.
const DefaultBatch = 200

// BackendTag names the arithmetic a backend computes logits with: the backend kind (the CPU
// without its worker count, which does not change results; a GPU with its model and compute
// capability), its precision and the architecture of this binary. On amd64 the CPU's AVX2 and
// AVX-512 kernels compute the same bits (tag "cpu/fp32/amd64", as files before the choice of
// kernels had), the generic Go code (no FMA) others: "cpu/fp32/amd64-generic".
func BackendTag(b nn.Backend) string {
	name, arch := b.Name(), runtime.GOARCH
	switch {
	case strings.HasPrefix(name, "cpu"):
		name = "cpu"
		if arch == "amd64" && isa.FP32Kernels() == isa.Generic {
			arch += "-generic"
		}
	case strings.HasPrefix(name, "cuda:"): // "cuda:0 (NVIDIA H100 ..., sm_90)": drop the ordinal
		if i := strings.IndexByte(name, ' '); i > 0 {
			name = "cuda" + name[i:]
		}
	}
	tag := fmt.Sprintf("%s/%s/%s", name, nn.BackendPrecision(b), arch)
	if len(tag) > 255 {
		tag = tag[:255]
	}
	return tag
}

// Stats describe an encoding.
type Stats struct {
	Images, Subpixels int
	Bytes             int     // the whole file
	NLLBits           float64 // the model's NLL of the images, −Σ log2 p, from the same logits in float64
	QuantBits         float64 // −Σ log2(f/FreqTotal): the ideal code length of the integer tables
}

// BitsPerDim is the file's size in bits per subpixel.
func (s Stats) BitsPerDim() float64 { return float64(8*s.Bytes) / float64(s.Subpixels) }

// NLLBitsPerDim is the model's NLL in bits per subpixel.
func (s Stats) NLLBitsPerDim() float64 { return s.NLLBits / float64(s.Subpixels) }

// Options control a run of the codec.
type Options struct {
	// Batch is the number of images per cached pass (encode only; decode uses the file's).
	Batch int
	// Progress, when set, is called after each batch with the images done and the total.
	Progress func(done, total int)
	// Labels are the images' classes, one per image, for a class-conditional model (encode
	// only: the file stores them, coded uniformly over the classes, log2(Classes) bits each,
	// and Decode returns them in Header.Labels).
	Labels []uint8
}

// checkModel compares the file's description with the model that is to decode it.
func checkModel(m *pixelcnn.Model, h Header) error {
	c := m.Config
	if h.Height != c.Height || h.Width != c.Width || h.Colors != c.Colors {
		return fmt.Errorf("codec: the file holds %dx%dx%d images, the checkpoint's model is for %dx%dx%d",
			h.Height, h.Width, h.Colors, c.Height, c.Width, c.Colors)
	}
	hash, err := m.TensorHash()
	if err != nil {
		return err
	}
	if hash != h.ModelHash {
		return fmt.Errorf("codec: the file was coded with another checkpoint (tensor SHA-256 %x..., this one's %x...)", h.ModelHash[:6], hash[:6])
	}
	if tag := BackendTag(m.B); tag != h.Backend {
		return fmt.Errorf("codec: the file was coded on %q, this backend is %q: its arithmetic may differ; decode on the same kind of backend and precision", h.Backend, tag)
	}
	return nil
}

// Encode codes n images (HWC bytes, n*Subpixels) with model m.
func Encode(m *pixelcnn.Model, pixels []uint8, n int, o Options) ([]byte, Stats, error) {
	c := m.Config
	sub := c.Subpixels()
	if n < 1 || n > MaxImages || len(pixels) != n*sub {
		return nil, Stats{}, fmt.Errorf("codec: %d bytes for %d images of %dx%dx%d", len(pixels), n, c.Height, c.Width, c.Colors)
	}
	batch := o.Batch
	if batch < 1 {
		batch = DefaultBatch
	}
	batch = min(batch, n)
	if err := checkLabels(m, o.Labels, n); err != nil {
		return nil, Stats{}, err
	}
	hash, err := m.TensorHash()
	if err != nil {
		return nil, Stats{}, err
	}
	h := Header{Count: n, Height: c.Height, Width: c.Width, Colors: c.Colors, Batch: batch,
		Backend: BackendTag(m.B), ModelHash: hash, PixelHash: sha256.Sum256(pixels)}
	st := Stats{Images: n, Subpixels: n * sub}
	enc := rangecoder.NewEncoder()
	for b0 := 0; b0 < n; b0 += batch {
		nb := min(batch, n-b0)
		img := pixels[b0*sub : (b0+nb)*sub]
		var labels []int32
		if m.Conditional() {
			labels = make([]int32, nb)
			for k, l := range o.Labels[b0 : b0+nb] {
				if err := enc.Encode(uint64(l), 1, uint64(m.Config.Classes)); err != nil {
					return nil, Stats{}, err
				}
				labels[k] = int32(l)
			}
		}
		bt := newBatchTables(nb, m.B)
		err := pixelcnn.CachedPass(m, nb, labels, func(s int, logits []float32, vals []uint8) error {
			if err := bt.quantize(logits, len(vals)); err != nil {
				return err
			}
			for k := range vals {
				v := img[k*sub+s]
				vals[k] = v
				t := &bt.t[k]
				f := uint64(t.freq[v])
				if err := enc.Encode(t.start(int(v)), f, FreqTotal); err != nil {
					return err
				}
				st.QuantBits += FreqBits - math.Log2(float64(f))
				st.NLLBits += nllBits(logits[k*levels:(k+1)*levels], int(v), bt.modes[k], bt.sums[k])
			}
			return nil
		})
		if err != nil {
			return nil, Stats{}, fmt.Errorf("codec: images %d..%d: %w", b0, b0+nb-1, err)
		}
		if o.Progress != nil {
			o.Progress(b0+nb, n)
		}
	}
	file := h.marshal(enc.Finish())
	st.Bytes = len(file)
	return file, st, nil
}

// checkLabels checks that a conditional model gets one label in range per image and an
// unconditional one none.
func checkLabels(m *pixelcnn.Model, labels []uint8, n int) error {
	classes := m.Config.Classes
	switch {
	case classes == 0 && labels != nil:
		return fmt.Errorf("codec: labels given for an unconditional model")
	case classes == 0:
		return nil
	case len(labels) != n:
		return fmt.Errorf("codec: a class-conditional model codes each image with its label: %d labels for %d images", len(labels), n)
	}
	for i, l := range labels {
		if int(l) >= classes {
			return fmt.Errorf("codec: image %d has label %d, the model has classes 0..%d", i, l, classes-1)
		}
	}
	return nil
}

// maxSubpixels bounds the subpixels a payload of n bytes can hold. Every table gives any
// symbol at most FreqTotal-255 of FreqTotal, so each coded subpixel costs at least
// −log2(1 − 255/2^24) > 2.19e-5 bits, and the coder's bytes are at least the ideal bits / 8.
func maxSubpixels(n int) int {
	return int(float64(8*n+64) / 2.19e-5)
}

// nllBits is −log2 softmax(logits)[v] in float64, given the mode (the index of the largest
// logit) and S = Σ exp(x_i − max) from quantize.
func nllBits(logits []float32, v, mode int, sum float64) float64 {
	return (math.Log(sum) - (float64(logits[v]) - float64(logits[mode]))) / math.Ln2
}

// Decode decodes a file coded by Encode with the same checkpoint on the same kind of backend
// and returns its header and images. It checks everything it can before the long decode
// (framing, CRC, shape, checkpoint, backend) and the pixels' SHA-256 after it.
func Decode(m *pixelcnn.Model, file []byte, o Options) (Header, []uint8, error) {
	h, payload, err := ParseHeader(file)
	if err != nil {
		return h, nil, err
	}
	if err := checkModel(m, h); err != nil {
		return h, nil, err
	}
	if max := maxSubpixels(len(payload)); h.Subpixels() > max {
		return h, nil, fmt.Errorf("%w: %d images of %dx%dx%d cannot fit in %d bytes of payload (at most %d subpixels)",
			ErrFormat, h.Count, h.Height, h.Width, h.Colors, len(payload), max)
	}
	sub := m.Config.Subpixels()
	// The images grow batch by batch, so a file that lies about its count fails (the coder
	// runs out of bytes) before it can make the decoder allocate much.
	var pixels []uint8
	dec := rangecoder.NewDecoder(payload)
	for b0 := 0; b0 < h.Count; b0 += h.Batch {
		nb := min(h.Batch, h.Count-b0)
		pixels = append(pixels, make([]uint8, nb*sub)...)
		img := pixels[b0*sub:]
		var labels []int32
		if classes := uint64(m.Config.Classes); classes > 0 {
			labels = make([]int32, nb)
			for k := range labels {
				l, err := dec.Target(classes)
				if err != nil {
					return h, nil, fmt.Errorf("codec: images %d..%d: label: %w", b0, b0+nb-1, err)
				}
				dec.Consume(l, 1)
				labels[k] = int32(l)
				h.Labels = append(h.Labels, uint8(l))
			}
		}
		bt := newBatchTables(nb, m.B)
		err := pixelcnn.CachedPass(m, nb, labels, func(s int, logits []float32, vals []uint8) error {
			if err := bt.quantize(logits, len(vals)); err != nil {
				return err
			}
			for k := range vals {
				t := &bt.t[k]
				target, err := dec.Target(FreqTotal)
				if err != nil {
					return err
				}
				v, start := t.find(target)
				dec.Consume(start, uint64(t.freq[v]))
				vals[k] = uint8(v)
				img[k*sub+s] = uint8(v)
			}
			return nil
		})
		if err != nil {
			return h, nil, fmt.Errorf("codec: images %d..%d: %w", b0, b0+nb-1, err)
		}
		if dec.Overrun() {
			return h, nil, fmt.Errorf("codec: images %d..%d: %w: the file is truncated or corrupt", b0, b0+nb-1, rangecoder.ErrOverrun)
		}
		if o.Progress != nil {
			o.Progress(b0+nb, h.Count)
		}
	}
	if err := dec.Check(); err != nil {
		return h, nil, fmt.Errorf("codec: %w", err)
	}
	if sha256.Sum256(pixels) != h.PixelHash {
		return h, nil, fmt.Errorf("codec: the decoded images do not match the file's pixel SHA-256: the file is corrupt or this machine's arithmetic differs from the encoder's (%s)", h.Backend)
	}
	return h, pixels, nil
}
