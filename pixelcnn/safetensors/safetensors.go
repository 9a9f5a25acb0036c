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
// or a huge allocation.
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
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
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
// Tensors, which are in data-offset order, to detect a damaged data section.
func DataSHA256(tensors []Tensor) string {
	h := sha256.New()
	var buf [4 << 10]byte
	for _, t := range tensors {
		for i := 0; i < len(t.Data); i += len(buf) / 4 {
			part := t.Data[i:min(i+len(buf)/4, len(t.Data))]
			for j, v := range part {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
			}
			h.Write(buf[:4*len(part)])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// testHookWriter, when set by tests, wraps the temp-file writer (to simulate a full disk).
var testHookWriter func(io.Writer) io.Writer

// Write writes tensors and metadata to path atomically: a temp file in the same directory is
// written, fsynced, closed and renamed over path, then the directory is fsynced. On any
// failure before the rename the temp file is removed and an existing file at path is left
// untouched. Every error names path.
func Write(path string, tensors []Tensor, metadata map[string]string) (err error) {
	// Validate before touching the filesystem.
	if _, err := header(tensors, metadata); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close() // may already be closed; the error is irrelevant then
			os.Remove(tmpName)
		}
		if err != nil {
			err = fmt.Errorf("safetensors: write %s: %w", path, err)
		}
	}()
	var w io.Writer = tmp
	if testHookWriter != nil {
		w = testHookWriter(w)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err = Encode(bw, tensors, metadata); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmpName, path); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		// Some filesystems refuse fsync on directories; that is not a write failure.
		if errors.Is(err, os.ErrInvalid) || errors.Is(err, syscall.EINVAL) {
			return nil
		}
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// Read reads and validates the safetensors file at path.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return Decode(data, path)
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
	if len(data) < 8 {
		return nil, fmt.Errorf("not a safetensors file (%d bytes, too short for the 8-byte header length)", len(data))
	}
	hl := binary.LittleEndian.Uint64(data[:8])
	if hl < 2 {
		return nil, fmt.Errorf("header length %d is too small", hl)
	}
	if hl > MaxHeaderSize {
		return nil, fmt.Errorf("not a safetensors file (its first 8 bytes give a header length of %d, over the %d-byte limit)", hl, MaxHeaderSize)
	}
	if hl > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes after the length field (truncated file, or not a safetensors file)", hl, len(data)-8)
	}
	hdr := data[8 : 8+hl]
	body := data[8+hl:]
	if hdr[0] != '{' {
		return nil, fmt.Errorf("not a safetensors file (the header does not start with '{')")
	}

	entries, meta, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}

	// Offsets: in range, sizes match shapes, sorted they tile the data section exactly.
	for i := range entries {
		r := &entries[i]
		if r.e.DType != DTypeF32 {
			return nil, fmt.Errorf("tensor %q has dtype %q; only F32 is supported", r.name, r.e.DType)
		}
		n, err := shapeLen(r.e.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", r.name, err)
		}
		b, e := r.e.DataOffsets[0], r.e.DataOffsets[1]
		if b < 0 || e < b || e > int64(len(body)) {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] out of range for a %d-byte data section", r.name, b, e, len(body))
		}
		if n > math.MaxInt/4 || int64(4*n) != e-b {
			return nil, fmt.Errorf("tensor %q: shape %v needs %d elements (%s bytes) but data_offsets [%d, %d] span %d bytes", r.name, r.e.Shape, n, bytesOf(n), b, e, e-b)
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
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap the previous tensor (ending at %d)", r.name, b, e, pos)
		}
		if b > pos {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a gap of %d bytes after offset %d", r.name, b, e, b-pos, pos)
		}
		pos = e
	}
	if pos != int64(len(body)) {
		return nil, fmt.Errorf("tensors cover %d bytes but the data section has %d bytes", pos, len(body))
	}

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
	return f, nil
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
