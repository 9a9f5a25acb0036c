package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/nn/cpu/isa"
	"pixelcnn/pixelcnn"
)

// testConfig is wide enough at the head (768 logits from 24 features) for the CPU backend
// to split the position GEMMs' columns over workers when it has several.
var testConfig = pixelcnn.Config{Colors: 3, Height: 5, Width: 4, Hidden: 6, Blocks: 2, OutDim: 24}

func testModel(t testing.TB, workers int, c pixelcnn.Config, seed uint64) *pixelcnn.Model {
	t.Helper()
	m, err := pixelcnn.NewModel(cpu.NewWorkers(workers), c, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testImages are smooth-ish images (a ramp plus noise), so the untrained model's
// distributions are not all the same shape.
func testImages(n int, c pixelcnn.Config, seed uint64) []uint8 {
	rng := rand.New(rand.NewPCG(seed, 3))
	px := make([]uint8, n*c.Subpixels())
	for i := range px {
		px[i] = uint8(i*7 + rng.IntN(9))
	}
	return px
}

// TestRoundTripAcrossWorkers encodes with one CPU worker count and decodes with others: the
// images come back exactly, and the file's size is the model's NLL plus the header.
func TestRoundTripAcrossWorkers(t *testing.T) {
	const n = 37 // batches of 16, 16, 5
	px := testImages(n, testConfig, 1)
	enc := testModel(t, 1, testConfig, 9)
	file, st, err := Encode(enc, px, n, Options{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	payloadBits := float64(8 * (st.Bytes - headerBytes(enc)))
	if over := payloadBits - st.NLLBits; over < 0 || over > 0.001*st.NLLBits+12*8 {
		t.Errorf("payload %.0f bits, NLL %.1f bits: %+.1f bits over", payloadBits, st.NLLBits, over)
	}
	if q := st.QuantBits - st.NLLBits; q < 0 || q > 1e-3*st.NLLBits {
		t.Errorf("quantization costs %.3f bits of %.1f", q, st.NLLBits)
	}
	for _, workers := range []int{1, 2, 3} {
		h, got, err := Decode(testModel(t, workers, testConfig, 9), file, Options{})
		if err != nil {
			t.Fatalf("decode with %d workers: %v", workers, err)
		}
		if h.Count != n || !bytes.Equal(got, px) {
			t.Fatalf("decode with %d workers: images differ", workers)
		}
	}
}

// headerBytes is the size of a file with an empty payload.
func headerBytes(m *pixelcnn.Model) int {
	return len(Header{Backend: BackendTag(m.B)}.marshal(nil))
}

func TestDecodeErrors(t *testing.T) {
	px := testImages(3, testConfig, 2)
	m := testModel(t, 1, testConfig, 9)
	file, _, err := Encode(m, px, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	otherShape := testModel(t, 1, pixelcnn.Config{Colors: 1, Height: 5, Width: 4, Hidden: 6, Blocks: 2, OutDim: 24}, 9)
	corrupt := func(i int) []byte {
		b := bytes.Clone(file)
		b[i] ^= 0x10
		return b
	}
	cases := []struct {
		name string
		m    *pixelcnn.Model
		file []byte
		want string
	}{
		{"empty", m, nil, "magic"},
		{"not ours", m, []byte("\x89PNG\r\n\x1a\n...."), "magic"},
		{"truncated header", m, file[:20], "truncated"},
		{"truncated payload", m, file[:len(file)-9], "payload"},
		{"extra byte", m, append(bytes.Clone(file), 0), "payload"},
		{"corrupt payload", m, corrupt(len(file) - 6), "CRC"},
		{"corrupt count", m, corrupt(9), "CRC"},
		{"another checkpoint", testModel(t, 1, testConfig, 10), file, "another checkpoint"},
		{"another shape", otherShape, file, "5x4x3 images"},
	}
	for _, c := range cases {
		_, _, err := Decode(c.m, c.file, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// TestDecodeWrongBackend rewrites the backend tag (and the CRC): decoding refuses it.
func TestDecodeWrongBackend(t *testing.T) {
	px := testImages(2, testConfig, 2)
	m := testModel(t, 1, testConfig, 9)
	file, _, err := Encode(m, px, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, payload, err := ParseHeader(file)
	if err != nil {
		t.Fatal(err)
	}
	h.Backend = "cuda (NVIDIA H100, sm_90)/tf32/amd64"
	if _, _, err := Decode(m, h.marshal(payload), Options{}); err == nil || !strings.Contains(err.Error(), "cuda (NVIDIA H100") {
		t.Errorf("another backend: %v", err)
	}
}

// TestCorruptPayloadCaughtByHash: a payload changed with a recomputed CRC decodes to other
// pixels, which the pixel hash refuses (or the coder notices the stream's end is wrong).
func TestCorruptPayloadCaughtByHash(t *testing.T) {
	px := testImages(4, testConfig, 3)
	m := testModel(t, 1, testConfig, 9)
	file, _, err := Encode(m, px, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, payload, _ := ParseHeader(file)
	payload = bytes.Clone(payload)
	payload[len(payload)/2] ^= 1
	_, _, err = Decode(m, h.marshal(payload), Options{})
	if err == nil || !(strings.Contains(err.Error(), "SHA-256") || errors.Is(err, ErrFormat) || strings.Contains(err.Error(), "rangecoder")) {
		t.Errorf("corrupt payload: %v", err)
	}
}

// TestConditionalRoundTrip codes images of a class-conditional gated model with their
// labels: the images and the labels come back exactly, the labels cost about log2(classes)
// bits each, and a missing, short or out-of-range label list is refused before coding.
func TestConditionalRoundTrip(t *testing.T) {
	c := pixelcnn.Config{Arch: pixelcnn.ArchGated, Colors: 3, Height: 4, Width: 5, Hidden: 6, Blocks: 2,
		Dilations: []int{1, 2}, Classes: 5}
	m := testModel(t, 2, c, 4)
	const n = 11
	px := testImages(n, c, 2)
	labels := []uint8{0, 4, 1, 1, 3, 2, 0, 4, 4, 2, 3}
	file, st, err := Encode(m, px, n, Options{Batch: 4, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	h, got, err := Decode(testModel(t, 1, c, 4), file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, px) || !bytes.Equal(h.Labels, labels) {
		t.Fatalf("round trip: images equal %v, labels %v, want %v", bytes.Equal(got, px), h.Labels, labels)
	}
	payloadBits := float64(8 * (st.Bytes - headerBytes(m)))
	labelBits := n * 2.3219 // log2(5)
	if over := payloadBits - st.NLLBits - labelBits; over < -8 || over > 0.001*st.NLLBits+12*8 {
		t.Errorf("payload %.0f bits, NLL %.1f + labels %.1f bits: %+.1f bits over", payloadBits, st.NLLBits, labelBits, over)
	}
	for _, bad := range [][]uint8{nil, labels[:3], {0, 1, 2, 3, 5, 0, 0, 0, 0, 0, 0}} {
		if _, _, err := Encode(m, px, n, Options{Labels: bad}); err == nil || !strings.Contains(err.Error(), "label") {
			t.Errorf("labels %v: error %v, want one about the labels", bad, err)
		}
	}
	if _, _, err := Encode(testModel(t, 1, testConfig, 9), testImages(2, testConfig, 1), 2, Options{Labels: []uint8{0, 1}}); err == nil {
		t.Errorf("labels for an unconditional model: no error")
	}
}

// TestRoundTripAcrossISAs: a file coded with one of the CPU's assembly kernel levels decodes
// at every other (they compute the same bits); one coded with the generic Go kernels, whose
// logits differ in the last bits, is refused elsewhere by its backend tag before decoding,
// not by a broken stream.
func TestRoundTripAcrossISAs(t *testing.T) {
	levels := isa.Available()
	if len(levels) < 2 {
		t.Skipf("this CPU runs only %s", isa.Detected)
	}
	t.Cleanup(func() { isa.Set(isa.Detected) })
	const n = 3
	px := testImages(n, testConfig, 2)
	files := map[isa.Level][]byte{}
	for _, l := range levels {
		if err := isa.Set(l); err != nil {
			t.Fatal(err)
		}
		file, _, err := Encode(testModel(t, 2, testConfig, 9), px, n, Options{})
		if err != nil {
			t.Fatalf("encode at %s: %v", l, err)
		}
		files[l] = file
	}
	for _, enc := range levels {
		for _, dec := range levels {
			isa.Set(dec)
			_, got, err := Decode(testModel(t, 2, testConfig, 9), files[enc], Options{})
			sameBits := (enc == isa.Generic) == (dec == isa.Generic)
			switch {
			case sameBits && err != nil:
				t.Errorf("coded at %s, decoded at %s: %v", enc, dec, err)
			case sameBits && !bytes.Equal(got, px):
				t.Errorf("coded at %s, decoded at %s: images differ", enc, dec)
			case !sameBits && (err == nil || !strings.Contains(err.Error(), "was coded on")):
				t.Errorf("coded at %s, decoded at %s: error %v, want the backend tag's refusal", enc, dec, err)
			}
		}
	}
}
