// Package safetensors reads and writes the safetensors checkpoint format
// (https://github.com/huggingface/safetensors), restricted to F32 tensors:
//
//	[8 bytes: N, little-endian uint64][N bytes: JSON header][data section]
//
// The header is a JSON object mapping each tensor name to
// {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (offsets relative to the
// start of the data section) plus an optional "__metadata__" object of string values. The
// data is raw little-endian float32. Encode pads the header with spaces so the data section
// starts at an 8-byte aligned offset, as the format allows.
//
// Decode validates the whole file and never trusts a length it has not checked against the
// size of the input, so corrupt or hostile files give an error naming the file, not a panic
// or a huge allocation. Write and Read go through package fileio: outputs are regular files
// replaced atomically, inputs regular files read with a bound.
package safetensors

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"pixelcnn/pixelcnn/fileio"
)

// MetadataKey is the reserved header key holding the string->string metadata.
const MetadataKey = "__metadata__"

// DTypeF32 is the only dtype this package reads or writes.
const DTypeF32 = "F32"

// MaxHeaderSize bounds the JSON header (the reference implementation uses the same 100 MB).
const MaxHeaderSize = 100 << 20

// Tensor is one named F32 tensor. Data is row-major with len(Data) == product(Shape).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// File is a decoded safetensors file.
type File struct {
	// Tensors in data-offset order (the order they were written by Encode).
	Tensors []Tensor
	// Metadata is never nil (empty when the file has none).
	Metadata map[string]string

	index map[string]int // name -> position in Tensors, set by Decode
}

// Get returns the tensor called name.
func (f *File) Get(name string) (Tensor, bool) {
	if f == nil {
		return Tensor{}, false
	}
	if f.index == nil { // a File built by hand: scan (Get never mutates, so it is goroutine-safe)
		for _, t := range f.Tensors {
			if t.Name == name {
				return t, true
			}
		}
		return Tensor{}, false
	}
	i, ok := f.index[name]
	if !ok || i >= len(f.Tensors) || f.Tensors[i].Name != name {
		return Tensor{}, false
	}
	return f.Tensors[i], true
}

// Names lists the tensor names in data-offset order.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	return names
}

// header field order is fixed: dtype, shape, data_offsets (the struct's field order).
type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// shapeLen is the element count of shape, or an error for a negative dimension.
func shapeLen(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		n *= d
	}
	return n, nil
}

// header builds the padded JSON header for tensors and metadata.
func header(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		mk, _ := json.Marshal(MetadataKey)
		buf.Write(mk)
		buf.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, err := json.Marshal(k)
			if err != nil {
				return nil, fmt.Errorf("metadata key %q: %w", k, err)
			}
			vb, err := json.Marshal(metadata[k])
			if err != nil {
				return nil, fmt.Errorf("metadata value of %q: %w", k, err)
			}
			buf.Write(kb)
			buf.WriteByte(':')
			buf.Write(vb)
		}
		buf.WriteByte('}')
		first = false
	}
	seen := make(map[string]bool, len(tensors))
	var off int64
	for _, t := range tensors {
		if t.Name == "" {
			return nil, errors.New("tensor with empty name")
		}
		if t.Name == MetadataKey {
			return nil, fmt.Errorf("tensor name %q is reserved", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		n, err := shapeLen(t.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if n != len(t.Data) {
			return nil, fmt.Errorf("tensor %q: shape %v has %d elements but data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a scalar: "shape": [] rather than null
		}
		e := headerEntry{DType: DTypeF32, Shape: shape, DataOffsets: [2]int64{off, off + 4*int64(n)}}
		off += 4 * int64(n)
		eb, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		nb, err := json.Marshal(t.Name)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(nb)
		buf.WriteByte(':')
		buf.Write(eb)
	}
	buf.WriteByte('}')
	// Pad with spaces so that 8 + len(header) is a multiple of 8.
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}

// Encode writes tensors (header entries and data in the given order) and metadata to w.
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	h, err := header(tensors, metadata)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(h)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	const chunk = 1 << 14 // floats per write
	buf := make([]byte, 4*chunk)
	for _, t := range tensors {
		for i := 0; i < len(t.Data); i += chunk {
			part := t.Data[i:min(i+chunk, len(t.Data))]
			for j, v := range part {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
			}
			if _, err := w.Write(buf[:4*len(part)]); err != nil {
				return err
			}
		}
	}
	return nil
}

// DataSHA256 is the hex SHA-256 of the data section Encode writes for tensors (their
// little-endian float32 bytes, in order). A reader recomputes it over a decoded File's
// Tensors, which are in data-offset order, to detect a damaged data section. It covers the
// data only; ContentSHA256 covers the metadata and the header's names and shapes too.
func DataSHA256(tensors []Tensor) string {
	h := sha256.New()
	for _, t := range tensors {
		writeFloats(h, t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ContentSHA256 is the hex SHA-256 of a file's content in a canonical form: the metadata
// (every key and value, in sorted key order), then each tensor's name, shape and data (its
// little-endian float32 bytes), in order. Every string and list is length-prefixed, so two
// different contents never encode alike. A writer that stores it in the metadata leaves its
// own key out of metadata here; a reader recomputes it over a decoded File, whose Tensors
// are in data-offset order (the order Encode wrote them), without that key.
func ContentSHA256(tensors []Tensor, metadata map[string]string) string {
	h := sha256.New()
	var num [8]byte
	putInt := func(n int) {
		binary.LittleEndian.PutUint64(num[:], uint64(n))
		h.Write(num[:])
	}
	putString := func(s string) {
		putInt(len(s))
		io.WriteString(h, s)
	}
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	putInt(len(keys))
	for _, k := range keys {
		putString(k)
		putString(metadata[k])
	}
	putInt(len(tensors))
	for _, t := range tensors {
		putString(t.Name)
		putInt(len(t.Shape))
		for _, d := range t.Shape {
			putInt(d)
		}
		putInt(len(t.Data))
		writeFloats(h, t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeFloats writes d's little-endian float32 bytes to a hash.
func writeFloats(h io.Writer, d []float32) {
	var buf [4 << 10]byte
	for i := 0; i < len(d); i += len(buf) / 4 {
		part := d[i:min(i+len(buf)/4, len(d))]
		for j, v := range part {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		h.Write(buf[:4*len(part)])
	}
}

// testHookWriter, when set by tests, wraps the temp-file writer (to simulate a full disk).
var testHookWriter func(io.Writer) io.Writer

// Write writes tensors and metadata to path atomically with fileio.Write: a crash or a full
// disk leaves any existing file intact, and a path that is not a regular file (or a link to
// one) is refused. Every error names path.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	// Validate before touching the filesystem.
	if _, err := header(tensors, metadata); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	err := fileio.Write(path, func(w io.Writer) error {
		if testHookWriter != nil {
			w = testHookWriter(w)
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := Encode(bw, tensors, metadata); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// MaxFileSize bounds the files Read opens: 16 GiB, far above any checkpoint of this
// project's presets (cifar10's, with Adam's state, is about 100 MB). Read also reads a
// file's data only once its header has accounted for every byte of it.
const MaxFileSize = 16 << 30

// Read reads and validates the safetensors file at path. It must be a regular file; its
// header is read and checked against the file's size before the data is read, so a file
// that is not safetensors, or whose header does not describe it, costs no more than its
// header to refuse.
func Read(path string) (*File, error) {
	f, err := fileio.Open(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	fail := func(err error) (*File, error) {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	readFull := func(b []byte) error {
		_, err := io.ReadFull(f, b)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("safetensors: %s: the file shrank while it was read", path)
		}
		if err != nil {
			return fmt.Errorf("safetensors: %w", err) // fileio's errors name the path
		}
		return nil
	}
	size := f.Size()
	prefix := make([]byte, min(size, 8))
	if err := readFull(prefix); err != nil {
		return nil, err
	}
	hl, err := headerLength(prefix, size)
	if err != nil {
		return fail(err)
	}
	hdr := make([]byte, hl)
	if err := readFull(hdr); err != nil {
		return nil, err
	}
	entries, meta, err := checkHeader(hdr, size-8-hl)
	if err != nil {
		return fail(err)
	}
	body := make([]byte, size-8-hl)
	if err := readFull(body); err != nil {
		return nil, err
	}
	if n, _ := f.Read(make([]byte, 1)); n > 0 {
		return fail(errors.New("the file grew while it was read"))
	}
	return build(entries, meta, body), nil
}

// Decode parses and validates a whole safetensors file held in data; name (usually the path)
// is used in errors.
func Decode(data []byte, name string) (*File, error) {
	f, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", name, err)
	}
	return f, nil
}

type rawEntry struct {
	name string
	e    headerEntry
	n    int // element count
}

func decode(data []byte) (*File, error) {
	hl, err := headerLength(data, int64(len(data)))
	if err != nil {
		return nil, err
	}
	entries, meta, err := checkHeader(data[8:8+hl], int64(len(data))-8-hl)
	if err != nil {
		return nil, err
	}
	return build(entries, meta, data[8+hl:]), nil
}

// headerLength checks the 8-byte header length at the start of prefix (the file's first
// min(size, 8) bytes) against the size of the file and returns it.
func headerLength(prefix []byte, size int64) (int64, error) {
	if size < 8 {
		return 0, fmt.Errorf("not a safetensors file (%d bytes, too short for the 8-byte header length)", size)
	}
	hl := binary.LittleEndian.Uint64(prefix[:8])
	if hl < 2 {
		return 0, fmt.Errorf("header length %d is too small", hl)
	}
	if hl > MaxHeaderSize {
		return 0, fmt.Errorf("not a safetensors file (its first 8 bytes give a header length of %d, over the %d-byte limit)", hl, MaxHeaderSize)
	}
	if hl > uint64(size-8) {
		return 0, fmt.Errorf("header length %d exceeds the %d bytes after the length field (truncated file, or not a safetensors file)", hl, size-8)
	}
	return int64(hl), nil
}

// checkHeader parses the JSON header and checks its entries against a data section of
// bodyLen bytes: offsets in range, sizes matching shapes, and together tiling the data
// section exactly. It returns the entries in data-offset order.
func checkHeader(hdr []byte, bodyLen int64) ([]rawEntry, map[string]string, error) {
	if hdr[0] != '{' {
		return nil, nil, fmt.Errorf("not a safetensors file (the header does not start with '{')")
	}
	entries, meta, err := parseHeader(hdr)
	if err != nil {
		return nil, nil, err
	}
	for i := range entries {
		r := &entries[i]
		if r.e.DType != DTypeF32 {
			return nil, nil, fmt.Errorf("tensor %q has dtype %q; only F32 is supported", r.name, r.e.DType)
		}
		n, err := shapeLen(r.e.Shape)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", r.name, err)
		}
		b, e := r.e.DataOffsets[0], r.e.DataOffsets[1]
		if b < 0 || e < b || e > bodyLen {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] out of range for a %d-byte data section", r.name, b, e, bodyLen)
		}
		if n > math.MaxInt/4 || int64(4*n) != e-b {
			return nil, nil, fmt.Errorf("tensor %q: shape %v needs %d elements (%s bytes) but data_offsets [%d, %d] span %d bytes", r.name, r.e.Shape, n, bytesOf(n), b, e, e-b)
		}
		r.n = n
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i].e.DataOffsets, entries[j].e.DataOffsets
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		return a[1] < b[1]
	})
	var pos int64
	for _, r := range entries {
		b, e := r.e.DataOffsets[0], r.e.DataOffsets[1]
		if b < pos {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap the previous tensor (ending at %d)", r.name, b, e, pos)
		}
		if b > pos {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a gap of %d bytes after offset %d", r.name, b, e, b-pos, pos)
		}
		pos = e
	}
	if pos != bodyLen {
		return nil, nil, fmt.Errorf("tensors cover %d bytes but the data section has %d bytes", pos, bodyLen)
	}
	return entries, meta, nil
}

// build converts the checked entries' bytes in body to a File.
func build(entries []rawEntry, meta map[string]string, body []byte) *File {
	f := &File{Tensors: make([]Tensor, len(entries)), Metadata: meta, index: make(map[string]int, len(entries))}
	for i, r := range entries {
		f.index[r.name] = i
		raw := body[r.e.DataOffsets[0]:r.e.DataOffsets[1]]
		vals := make([]float32, r.n)
		for j := range vals {
			vals[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		shape := append([]int{}, r.e.Shape...)
		f.Tensors[i] = Tensor{Name: r.name, Shape: shape, Data: vals}
	}
	return f
}

func bytesOf(n int) string {
	if n > math.MaxInt/4 {
		return "too many"
	}
	return strconv.Itoa(4 * n)
}

// parseHeader walks the top-level JSON object token by token so duplicate keys are caught
// and every value is decoded strictly (unknown fields, trailing data and wrong types fail).
func parseHeader(hdr []byte) ([]rawEntry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("header is not a JSON object")
	}
	meta := map[string]string{}
	seen := map[string]bool{}
	var entries []rawEntry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("header is not valid JSON: key %v", tok)
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("header has duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON (at key %q): %w", key, err)
		}
		if key == MetadataKey {
			m, err := parseMetadata(raw)
			if err != nil {
				return nil, nil, err
			}
			meta = m
			continue
		}
		if key == "" {
			return nil, nil, fmt.Errorf("header has a tensor with an empty name")
		}
		e, err := parseEntry(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", key, err)
		}
		entries = append(entries, rawEntry{name: key, e: e})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	// Only whitespace (the format pads with spaces) may follow the object.
	rest := hdr[dec.InputOffset():]
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, nil, fmt.Errorf("header has trailing data after the JSON object")
	}
	return entries, meta, nil
}

func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return map[string]string{}, nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s must be an object of strings: %w", MetadataKey, err)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

func parseEntry(raw json.RawMessage) (headerEntry, error) {
	var e struct {
		DType       *string  `json:"dtype"`
		Shape       *[]int   `json:"shape"`
		DataOffsets *[]int64 `json:"data_offsets"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return headerEntry{}, fmt.Errorf("bad header entry: %w", err)
	}
	switch {
	case e.DType == nil:
		return headerEntry{}, errors.New("header entry has no dtype")
	case e.Shape == nil:
		return headerEntry{}, errors.New("header entry has no shape")
	case e.DataOffsets == nil:
		return headerEntry{}, errors.New("header entry has no data_offsets")
	case len(*e.DataOffsets) != 2:
		return headerEntry{}, fmt.Errorf("data_offsets has %d values, want 2", len(*e.DataOffsets))
	}
	do := *e.DataOffsets
	return headerEntry{DType: *e.DType, Shape: *e.Shape, DataOffsets: [2]int64{do[0], do[1]}}, nil
}
