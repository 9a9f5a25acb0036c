// Package codec is a lossless image codec built on a trained PixelCNN: each subpixel is
// range-coded (package rangecoder) with the frequencies of the model's predicted
// distribution, so a file is about as many bits as the model's NLL on its images.
//
// Encoder and decoder both compute every distribution with the cached incremental pass
// (pixelcnn.CachedPass, the sampler's machinery: one pass per subpixel, n images at a
// time), the encoder feeding it the true pixels and the decoder the ones it has decoded, so
// they run the same arithmetic on the same numbers. The file records the backend and
// precision that computed them; the hash of the pixels catches anything else.
//
// File format (integers little-endian):
//
//	magic      "PXCNNZ\r\n" (8 bytes)
//	version    u8 = 1
//	count      u32   images
//	height     u16, width u16, colors u8
//	batch      u32   images per cached pass (the decoder must use the same)
//	freq bits  u8    log2 of the frequency tables' total (24)
//	backend    u8 length + that many bytes, e.g. "cpu/fp32/amd64"
//	model      [32]  SHA-256 of the checkpoint's tensors (pixelcnn.Model.TensorHash)
//	pixels     [32]  SHA-256 of the images, count*height*width*colors bytes in HWC order
//	payload    u64 length + the range coder's bytes
//	crc        u32   CRC-32 (IEEE) of everything before it
package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Magic starts every file.
const Magic = "PXCNNZ\r\n"

// Version is the format version written and read.
const Version = 1

// MaxImages bounds the image count a file may claim.
const MaxImages = 1 << 24

// Header is the file's description of its contents.
type Header struct {
	Count                 int
	Height, Width, Colors int
	Batch                 int
	Backend               string
	ModelHash, PixelHash  [32]byte
	// Labels are the images' classes, decoded from the payload of a class-conditional
	// model's file (nil otherwise).
	Labels []uint8
}

// Subpixels is the number of coded values.
func (h Header) Subpixels() int { return h.Count * h.Height * h.Width * h.Colors }

// ErrFormat is wrapped by every error about a malformed file.
var ErrFormat = errors.New("not a valid pixelcnn codec file")

func (h Header) marshal(payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString(Magic)
	b.WriteByte(Version)
	le := binary.LittleEndian
	b.Write(le.AppendUint32(nil, uint32(h.Count)))
	b.Write(le.AppendUint16(nil, uint16(h.Height)))
	b.Write(le.AppendUint16(nil, uint16(h.Width)))
	b.WriteByte(byte(h.Colors))
	b.Write(le.AppendUint32(nil, uint32(h.Batch)))
	b.WriteByte(FreqBits)
	b.WriteByte(byte(len(h.Backend)))
	b.WriteString(h.Backend)
	b.Write(h.ModelHash[:])
	b.Write(h.PixelHash[:])
	b.Write(le.AppendUint64(nil, uint64(len(payload))))
	b.Write(payload)
	b.Write(le.AppendUint32(nil, crc32.ChecksumIEEE(b.Bytes())))
	return b.Bytes()
}

// reader reads fields and remembers the first shortfall.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated in the %s", ErrFormat, what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8(what string) int {
	if b := r.take(1, what); b != nil {
		return int(b[0])
	}
	return 0
}

func (r *reader) u16(what string) int {
	if b := r.take(2, what); b != nil {
		return int(binary.LittleEndian.Uint16(b))
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// ParseHeader checks a file's framing (magic, version, lengths, CRC) and fields and returns
// its header and payload.
func ParseHeader(file []byte) (Header, []byte, error) {
	var h Header
	if len(file) < len(Magic) || string(file[:len(Magic)]) != Magic {
		return h, nil, fmt.Errorf("%w: no %q magic at the start", ErrFormat, Magic)
	}
	if len(file) < len(Magic)+5 {
		return h, nil, fmt.Errorf("%w: truncated after the magic (%d bytes)", ErrFormat, len(file))
	}
	body, sum := file[:len(file)-4], binary.LittleEndian.Uint32(file[len(file)-4:])
	r := &reader{b: body}
	r.take(len(Magic), "magic")
	if v := r.u8("version"); v != Version {
		return h, nil, fmt.Errorf("%w: format version %d, this build reads version %d", ErrFormat, v, Version)
	}
	h.Count = int(r.u32("image count"))
	h.Height, h.Width, h.Colors = r.u16("height"), r.u16("width"), r.u8("colors")
	h.Batch = int(r.u32("batch size"))
	bits := r.u8("frequency bits")
	h.Backend = string(r.take(r.u8("backend length"), "backend"))
	copy(h.ModelHash[:], r.take(32, "model hash"))
	copy(h.PixelHash[:], r.take(32, "pixel hash"))
	var payload []byte
	if n := r.take(8, "payload length"); n != nil {
		size := binary.LittleEndian.Uint64(n)
		if size != uint64(len(r.b)) {
			return h, nil, fmt.Errorf("%w: the payload should be %d bytes, the file has %d (truncated or extended)", ErrFormat, size, len(r.b))
		}
		payload = r.b
	}
	if r.err != nil {
		return h, nil, r.err
	}
	if got := crc32.ChecksumIEEE(body); got != sum {
		return h, nil, fmt.Errorf("%w: CRC-32 %08x, the file says %08x (corrupted or truncated)", ErrFormat, got, sum)
	}
	switch {
	case bits != FreqBits:
		return h, nil, fmt.Errorf("%w: frequency tables of 2^%d, this build codes 2^%d", ErrFormat, bits, FreqBits)
	case h.Count < 1 || h.Count > MaxImages:
		return h, nil, fmt.Errorf("%w: image count %d outside [1, %d]", ErrFormat, h.Count, MaxImages)
	case h.Height < 1 || h.Width < 1 || (h.Colors != 1 && h.Colors != 3):
		return h, nil, fmt.Errorf("%w: image shape %dx%dx%d", ErrFormat, h.Height, h.Width, h.Colors)
	case h.Batch < 1 || h.Batch > h.Count:
		return h, nil, fmt.Errorf("%w: batch %d outside [1, %d images]", ErrFormat, h.Batch, h.Count)
	}
	return h, payload, nil
}
