package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleTensors() []Tensor {
	w := make([]float32, 2*3*3*3)
	for i := range w {
		w[i] = float32(i)*0.25 - 3
	}
	w[5] = float32(math.Inf(-1))
	w[7] = float32(math.Copysign(0, -1))
	return []Tensor{
		{Name: "input_conv.weight", Shape: []int{2, 3, 3, 3}, Data: w},
		{Name: "input_conv.bias", Shape: []int{2}, Data: []float32{1.5, -2}},
		{Name: "scalar", Shape: []int{}, Data: []float32{42}},
		{Name: "empty", Shape: []int{0, 4}, Data: nil},
		{Name: "optim.m.input_conv.bias", Shape: []int{2}, Data: []float32{1e-30, 3e38}},
	}
}

func sampleMeta() map[string]string {
	return map[string]string{
		"format": "pixelcnn/v1",
		"config": `{"colors":1,"height":28,"width":28,"hidden":6,"blocks":2,"out_dim":12}`,
		"step":   "17",
		"quote":  "a \"b\" \\ \n é",
	}
}

func encode(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sameTensors(t *testing.T, got, want []Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || len(g.Shape) != len(w.Shape) || len(g.Data) != len(w.Data) {
			t.Fatalf("tensor %d: got %s %v (%d values), want %s %v (%d values)", i, g.Name, g.Shape, len(g.Data), w.Name, w.Shape, len(w.Data))
		}
		for j := range w.Shape {
			if g.Shape[j] != w.Shape[j] {
				t.Fatalf("tensor %s: shape %v, want %v", w.Name, g.Shape, w.Shape)
			}
		}
		for j := range w.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(w.Data[j]) {
				t.Fatalf("tensor %s[%d]: %v, want %v", w.Name, j, g.Data[j], w.Data[j])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	ts, meta := sampleTensors(), sampleMeta()
	if err := Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, f.Tensors, ts)
	if len(f.Metadata) != len(meta) {
		t.Fatalf("metadata %v, want %v", f.Metadata, meta)
	}
	for k, v := range meta {
		if f.Metadata[k] != v {
			t.Fatalf("metadata[%q] = %q, want %q", k, f.Metadata[k], v)
		}
	}
	b, ok := f.Get("input_conv.bias")
	if !ok || b.Data[1] != -2 {
		t.Fatalf("Get(input_conv.bias) = %v, %v", b, ok)
	}
	if _, ok := f.Get("nope"); ok {
		t.Fatal("Get of a missing tensor succeeded")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory has %d entries after Write, want 1", len(ents))
	}

	// Empty tensor list, no metadata.
	if err := Write(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	f, err = Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 0 || f.Metadata == nil || len(f.Metadata) != 0 {
		t.Fatalf("empty file decoded as %+v", f)
	}
}

func TestHeaderLayout(t *testing.T) {
	ts := []Tensor{
		{Name: "b", Shape: []int{3}, Data: []float32{1, 2, 3}},
		{Name: "a", Shape: []int{1, 2}, Data: []float32{4, 5}},
	}
	data := encode(t, ts, map[string]string{"format": "pixelcnn/v1", "a": "x"})
	n := binary.LittleEndian.Uint64(data[:8])
	if (8+n)%8 != 0 {
		t.Fatalf("data section starts at %d, not 8-byte aligned", 8+n)
	}
	hdr := string(data[8 : 8+n])
	trimmed := strings.TrimRight(hdr, " ")
	if len(hdr)-len(trimmed) >= 8 {
		t.Fatalf("header padded with %d spaces, want < 8", len(hdr)-len(trimmed))
	}
	want := `{"__metadata__":{"a":"x","format":"pixelcnn/v1"},` +
		`"b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},` +
		`"a":{"dtype":"F32","shape":[1,2],"data_offsets":[12,20]}}`
	if trimmed != want {
		t.Fatalf("header\n%s\nwant\n%s", trimmed, want)
	}
	body := data[8+n:]
	if len(body) != 20 {
		t.Fatalf("data section %d bytes, want 20", len(body))
	}
	for i, v := range []float32{1, 2, 3, 4, 5} {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:])); got != v {
			t.Fatalf("value %d = %v, want %v (little-endian, given order)", i, got, v)
		}
	}
	// Decoding keeps the offset (= written) order.
	f, err := Decode(data, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "b,a" {
		t.Fatalf("names %s, want b,a", got)
	}
}

func TestEncodeRejects(t *testing.T) {
	cases := map[string][]Tensor{
		"elements":  {{Name: "x", Shape: []int{2, 2}, Data: []float32{1}}},
		"duplicate": {{Name: "x", Shape: []int{1}, Data: []float32{1}}, {Name: "x", Shape: []int{1}, Data: []float32{1}}},
		"empty":     {{Name: "", Shape: []int{1}, Data: []float32{1}}},
		"reserved":  {{Name: MetadataKey, Shape: []int{1}, Data: []float32{1}}},
		"negative":  {{Name: "x", Shape: []int{-1}, Data: nil}},
	}
	for name, ts := range cases {
		path := filepath.Join(t.TempDir(), "out.safetensors")
		err := Write(path, ts, nil)
		if err == nil {
			t.Errorf("%s: Write succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name %s", name, err, path)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: file created despite the error", name)
		}
	}
}

// rewrite builds a file from a literal header and data section (header unpadded).
func rewrite(hdr string, body []byte) []byte {
	out := make([]byte, 8, 8+len(hdr)+len(body))
	binary.LittleEndian.PutUint64(out, uint64(len(hdr)))
	out = append(out, hdr...)
	return append(out, body...)
}

func TestDecodeErrors(t *testing.T) {
	good := encode(t, sampleTensors(), sampleMeta())
	hl := binary.LittleEndian.Uint64(good[:8])
	body8 := make([]byte, 8)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"short length", good[:5], "too short"},
		{"truncated data", good[:len(good)-3], "data section"},
		{"truncated header", good[:8+hl/2], "header length"},
		{"huge header length", func() []byte {
			d := append([]byte{}, good...)
			binary.LittleEndian.PutUint64(d, uint64(len(d)))
			return d
		}(), "header length"},
		{"header length over limit", func() []byte {
			d := append([]byte{}, good...)
			binary.LittleEndian.PutUint64(d, 1<<62)
			return d
		}(), "header length"},
		{"corrupt JSON", rewrite(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]`, body8), "JSON"},
		{"not an object", rewrite(`["x"]`, nil), "'{'"},
		{"trailing garbage", rewrite(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}x`, body8), "trailing"},
		{"wrong dtype", rewrite(`{"x":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, body8), `"x" has dtype "F16"`},
		{"offsets out of range", rewrite(`{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, body8), "out of range"},
		{"offsets reversed", rewrite(`{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, body8), "out of range"},
		{"negative offset", rewrite(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, body8), "out of range"},
		{"shape mismatch", rewrite(`{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, body8), "shape [3]"},
		{"overlap", rewrite(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, body8), "overlap"},
		{"gap", rewrite(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, body8), "gap"},
		{"uncovered tail", rewrite(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, body8), "cover"},
		{"duplicate key", rewrite(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, body8), "duplicate"},
		{"missing field", rewrite(`{"x":{"dtype":"F32","data_offsets":[0,8]}}`, body8), "no shape"},
		{"unknown field", rewrite(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"z":1}}`, body8), "unknown field"},
		{"three offsets", rewrite(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, body8), "data_offsets"},
		{"negative dim", rewrite(`{"x":{"dtype":"F32","shape":[-2,-1],"data_offsets":[0,8]}}`, body8), "negative"},
		{"overflowing shape", rewrite(`{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, body8), "overflow"},
		{"metadata not strings", rewrite(`{"__metadata__":{"step":3}}`, nil), "__metadata__"},
		{"text file", []byte("step,loss\n1,5.5\n2,5.4\n3,5.3\n"), "not a safetensors file"},
		{"png", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...), "not a safetensors file"},
		{"small length, not JSON", rewrite(`xy`, nil), "not a safetensors file"},
	}
	for _, c := range cases {
		_, err := Decode(c.data, "/some/ckpt.safetensors")
		if err == nil {
			t.Errorf("%s: Decode succeeded", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "/some/ckpt.safetensors") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q should name the file and contain %q", c.name, msg, c.want)
		}
	}
}

func TestReadErrorsNameFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trunc.safetensors")
	good := encode(t, sampleTensors(), sampleMeta())
	if err := os.WriteFile(path, good[:len(good)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Read(truncated) = %v, want an error naming %s", err, path)
	}
	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := Read(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Read(missing) = %v, want an error naming %s", err, missing)
	}
}

// failAfter accepts n bytes, then fails like a full disk.
type failAfter struct {
	w io.Writer
	n int
}

var errNoSpace = errors.New("no space left on device (simulated)")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errNoSpace
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func writeOld(t *testing.T, path string) []byte {
	t.Helper()
	old := []Tensor{{Name: "old", Shape: []int{1}, Data: []float32{7}}}
	if err := Write(path, old, map[string]string{"step": "1"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkIntact(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the existing file was modified by a failed Write")
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temp file %s left behind", e.Name())
		}
	}
}

func TestWriteFailureKeepsOldFile(t *testing.T) {
	big := []Tensor{{Name: "big", Shape: []int{1 << 18}, Data: make([]float32, 1<<18)}}
	for _, limit := range []int{0, 5, 100, 1 << 19} {
		path := filepath.Join(t.TempDir(), "ckpt.safetensors")
		old := writeOld(t, path)
		testHookWriter = func(w io.Writer) io.Writer { return &failAfter{w: w, n: limit} }
		err := Write(path, big, nil)
		testHookWriter = nil
		if err == nil || !errors.Is(err, errNoSpace) || !strings.Contains(err.Error(), path) {
			t.Fatalf("limit %d: Write = %v, want the disk-full error naming %s", limit, err, path)
		}
		checkIntact(t, path, old)
	}
}

func TestWriteRenameFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	// Something inside so the rename cannot replace an empty directory either.
	keep := filepath.Join(path, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(path, sampleTensors(), sampleMeta())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Write over a directory = %v, want an error naming %s", err, path)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "x" {
		t.Fatal("directory contents disturbed")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d entries in the directory after a failed Write, want 1 (temp file left?)", len(ents))
	}
}

// TestWriteFailsCleanly: writes that fail for any user, root included (CI runs as root,
// which ignores permissions): the target is an existing directory (the rename fails after
// the data is written), or its parent is a regular file (no temp file can be created). The
// error names the path, no temp file is left, and what was there is untouched.
func TestWriteFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "ckpt.safetensors")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(target, "keep.txt")
	os.WriteFile(inside, []byte("keep me"), 0o644)
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, []byte("a file"), 0o644)
	for _, path := range []string{target, filepath.Join(notDir, "ckpt.safetensors")} {
		err := Write(path, sampleTensors(), nil)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Write(%s) = %v, want an error naming it", path, err)
		}
	}
	checkIntact(t, inside, []byte("keep me"))
	checkIntact(t, notDir, []byte("a file"))
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

func TestWriteMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "ckpt.safetensors")
	if err := Write(path, sampleTensors(), nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Write into a missing dir = %v, want an error naming %s", err, path)
	}
}

func TestHeaderIsValidJSON(t *testing.T) {
	data := encode(t, sampleTensors(), sampleMeta())
	n := binary.LittleEndian.Uint64(data[:8])
	var m map[string]any
	if err := json.Unmarshal(data[8:8+n], &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m[MetadataKey]; !ok {
		t.Fatal("no __metadata__")
	}
}

// fuzzSeeds are valid encodings and corrupted variants of them.
func fuzzSeeds(t testing.TB) [][]byte {
	valid := [][]byte{
		encode(t, sampleTensors(), sampleMeta()),
		encode(t, nil, nil),
		encode(t, []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}}, nil),
		encode(t, []Tensor{{Name: "w", Shape: []int{2, 1, 3, 3}, Data: make([]float32, 18)}, {Name: "b", Shape: []int{2}, Data: []float32{0, 1}}}, map[string]string{"format": "pixelcnn/v1"}),
	}
	seeds := append([][]byte{}, valid...)
	for _, v := range valid {
		n := binary.LittleEndian.Uint64(v[:8])
		seeds = append(seeds, v[:len(v)/2], v[:8+n], v[:7])
		flip := append([]byte{}, v...)
		flip[8+n/2] ^= 0xff
		seeds = append(seeds, flip)
		big := append([]byte{}, v...)
		binary.LittleEndian.PutUint64(big, n+1)
		seeds = append(seeds, big)
		huge := append([]byte{}, v...)
		binary.LittleEndian.PutUint64(huge, math.MaxUint64)
		seeds = append(seeds, huge)
		seeds = append(seeds, append(append([]byte{}, v...), 0, 0, 0, 0))
	}
	body8 := make([]byte, 8)
	seeds = append(seeds,
		rewrite(`{"x":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, body8),
		rewrite(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, body8),
		rewrite(`{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, body8),
		rewrite(`{"__metadata__":null,"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, body8),
	)
	return seeds
}

func TestFuzzSeedsDecodeWithoutPanic(t *testing.T) {
	for _, s := range fuzzSeeds(t) {
		checkDecode(t, s)
	}
}

// checkDecode: Decode never panics, and whatever it accepts re-encodes to a file that decodes
// to the same tensors and metadata.
func checkDecode(t *testing.T, data []byte) {
	f, err := Decode(data, "fuzz")
	if err != nil {
		if !strings.Contains(err.Error(), "fuzz") {
			t.Fatalf("error %q does not name the file", err)
		}
		return
	}
	var buf bytes.Buffer
	if err := Encode(&buf, f.Tensors, f.Metadata); err != nil {
		t.Fatalf("re-encoding a decoded file: %v", err)
	}
	g, err := Decode(buf.Bytes(), "re-encoded")
	if err != nil {
		t.Fatalf("decoding a re-encoded file: %v", err)
	}
	sameTensors(t, g.Tensors, f.Tensors)
	if len(g.Metadata) != len(f.Metadata) {
		t.Fatalf("metadata changed on re-encoding")
	}
	for k, v := range f.Metadata {
		if g.Metadata[k] != v {
			t.Fatalf("metadata[%q] changed on re-encoding", k)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkDecode)
}

// TestDataSHA256 checks DataSHA256 against SHA-256 of the data section Encode writes.
func TestDataSHA256(t *testing.T) {
	ts := sampleTensors()
	enc := encode(t, ts, nil)
	hl := binary.LittleEndian.Uint64(enc[:8])
	sum := sha256.Sum256(enc[8+hl:])
	if got, want := DataSHA256(ts), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("DataSHA256 = %s, want %s", got, want)
	}
	ts[0].Data[0] += 1
	if DataSHA256(ts) == hex.EncodeToString(sum[:]) {
		t.Fatalf("DataSHA256 did not change with the data")
	}
}
