package safetensors

// Cross-checks against the PyTorch twin (tools/peer/pixelcnn_torch.py, tools/interop.py),
// run with Debian's /usr/bin/python3. Skipped when it or torch is missing.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const python = "/usr/bin/python3"

func needTorch(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import torch, numpy").Run(); err != nil {
		t.Skipf("%s with torch and numpy not available: %v", python, err)
	}
}

func toolsDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "tools"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "interop.py")); err != nil {
		t.Skipf("tools/interop.py not found: %v", err)
	}
	return d
}

func TestPythonReadsGoFile(t *testing.T) {
	needTorch(t)
	tools := toolsDir(t)
	path := filepath.Join(t.TempDir(), "x.safetensors")
	ts, meta := sampleTensors(), sampleMeta()
	if err := Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys
sys.path.insert(0, sys.argv[1])
from pixelcnn_torch import load_safetensors
ts, meta = load_safetensors(sys.argv[2])
out = {"meta": meta, "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype),
       "values": [float(x) if x == x and abs(x) != float("inf") else str(float(x)) for x in v.flatten().tolist()]} for k, v in ts.items()}}
print(json.dumps(out))
`
	out, err := exec.Command(python, "-c", script, filepath.Join(tools, "peer"), path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var got struct {
		Meta    map[string]string
		Tensors map[string]struct {
			Shape  []int
			DType  string
			Values []any
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for k, v := range meta {
		if got.Meta[k] != v {
			t.Errorf("python metadata[%q] = %q, want %q", k, got.Meta[k], v)
		}
	}
	for _, want := range ts {
		g, ok := got.Tensors[want.Name]
		if !ok {
			t.Fatalf("python lacks %s", want.Name)
		}
		if fmt.Sprint(g.Shape) != fmt.Sprint(want.Shape) || g.DType != "torch.float32" || len(g.Values) != len(want.Data) {
			t.Fatalf("%s: python sees %v %s (%d values), want %v", want.Name, g.Shape, g.DType, len(g.Values), want.Shape)
		}
		for i, v := range want.Data {
			switch gv := g.Values[i].(type) {
			case float64:
				if float32(gv) != v {
					t.Fatalf("%s[%d]: python %v, want %v", want.Name, i, gv, v)
				}
			case string:
				if gv != fmt.Sprint(float64(v)) && !(gv == "-inf" && math.IsInf(float64(v), -1)) {
					t.Fatalf("%s[%d]: python %v, want %v", want.Name, i, gv, v)
				}
			}
		}
	}
}

// maskAt is the PixelCNN mask of entry [o, i, y, x] of a k x k conv, PyTorch layout.
func maskAt(o, i, y, x, k, in, out, colors int, maskA bool) bool {
	c := k / 2
	if y < c || (y == c && x < c) {
		return true
	}
	if y != c || x != c {
		return false
	}
	ci, co := i/(in/colors), o/(out/colors)
	if maskA {
		return ci < co
	}
	return ci <= co
}

type convDef struct {
	name       string
	in, out, k int
	maskA      bool
}

func modelConvs(colors, hidden, blocks, outDim int) []convDef {
	r := 2 * hidden
	cs := []convDef{{name: "input_conv", in: colors, out: r, k: 7, maskA: true}}
	for b := 0; b < blocks; b++ {
		p := fmt.Sprintf("blocks.%d.", b)
		cs = append(cs,
			convDef{name: p + "conv_in", in: r, out: hidden, k: 1},
			convDef{name: p + "conv_mid", in: hidden, out: hidden, k: 3},
			convDef{name: p + "conv_out", in: hidden, out: r, k: 1})
	}
	return append(cs,
		convDef{name: "output_conv1", in: r, out: outDim, k: 1},
		convDef{name: "output_conv2", in: outDim, out: outDim, k: 1},
		convDef{name: "final_conv", in: outDim, out: 256 * colors, k: 1})
}

// randomCheckpoint builds effective (masked) random weights, or all-zero weights when zero
// is set, plus optimizer-state entries that Python must ignore.
func randomCheckpoint(rng *rand.Rand, colors, h, w, hidden, blocks, outDim int, zero bool) ([]Tensor, map[string]string) {
	var ts, opt []Tensor
	for _, c := range modelConvs(colors, hidden, blocks, outDim) {
		wt := make([]float32, c.out*c.in*c.k*c.k)
		if !zero {
			std := 1 / math.Sqrt(float64(c.in*c.k*c.k))
			idx := 0
			for o := 0; o < c.out; o++ {
				for i := 0; i < c.in; i++ {
					for y := 0; y < c.k; y++ {
						for x := 0; x < c.k; x++ {
							if maskAt(o, i, y, x, c.k, c.in, c.out, colors, c.maskA) {
								wt[idx] = float32(rng.NormFloat64() * std)
							}
							idx++
						}
					}
				}
			}
		}
		b := make([]float32, c.out)
		for i := range b {
			b[i] = float32(rng.NormFloat64() * 0.5)
		}
		ts = append(ts,
			Tensor{Name: c.name + ".weight", Shape: []int{c.out, c.in, c.k, c.k}, Data: wt},
			Tensor{Name: c.name + ".bias", Shape: []int{c.out}, Data: b})
		opt = append(opt, Tensor{Name: "optim.m." + c.name + ".weight", Shape: []int{c.out, c.in, c.k, c.k}, Data: make([]float32, len(wt))})
	}
	cfg := fmt.Sprintf(`{"colors":%d,"height":%d,"width":%d,"hidden":%d,"blocks":%d,"out_dim":%d,"preset":"tiny"}`, colors, h, w, hidden, blocks, outDim)
	return append(ts, opt...), map[string]string{"format": "pixelcnn/v1", "config": cfg, "step": "0"}
}

func writeIdx(t *testing.T, path string, imgs []byte, n, h, w int) {
	t.Helper()
	var buf bytes.Buffer
	for _, v := range []uint32{0x803, uint32(n), uint32(h), uint32(w)} {
		binary.Write(&buf, binary.BigEndian, v)
	}
	buf.Write(imgs)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeCifar(t *testing.T, path string, imgs []byte, n int) {
	t.Helper()
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		buf.WriteByte(byte(i % 10))
		buf.Write(imgs[i*3072 : (i+1)*3072])
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type interopResult struct {
	BitsPerDim   float64 `json:"bits_per_dim"`
	NatsPerImage float64 `json:"nats_per_image"`
	Images       int     `json:"images"`
}

func runInterop(t *testing.T, args ...string) (interopResult, string, error) {
	t.Helper()
	tools := toolsDir(t)
	cmd := exec.Command(python, append([]string{filepath.Join(tools, "interop.py"), "--threads", "1"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var r interopResult
	if err == nil {
		if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
			t.Fatalf("interop output %q: %v", stdout.String(), jerr)
		}
	}
	return r, stderr.String(), err
}

// With all weights zero the logits are final_conv's bias everywhere, so the exact loss is
// known: this pins the logit layout (channel k = colour k/256, value k%256) and targets.
func TestPythonInteropZeroModelExact(t *testing.T) {
	needTorch(t)
	for _, colors := range []int{1, 3} {
		rng := rand.New(rand.NewSource(int64(colors)))
		h, w, n := 28, 28, 5
		if colors == 3 {
			h, w = 32, 32
		}
		ts, meta := randomCheckpoint(rng, colors, h, w, 6, 2, 12, true)
		dir := t.TempDir()
		ckpt := filepath.Join(dir, "zero.safetensors")
		if err := Write(ckpt, ts, meta); err != nil {
			t.Fatal(err)
		}
		imgs := make([]byte, (n+2)*colors*h*w)
		rng.Read(imgs)
		var bias []float32
		for _, x := range ts {
			if x.Name == "final_conv.bias" {
				bias = x.Data
			}
		}
		nll := func(c, v int) float64 {
			m := math.Inf(-1)
			for k := 0; k < 256; k++ {
				m = math.Max(m, float64(bias[c*256+k]))
			}
			s := 0.0
			for k := 0; k < 256; k++ {
				s += math.Exp(float64(bias[c*256+k]) - m)
			}
			return m + math.Log(s) - float64(bias[c*256+v])
		}
		var total float64
		for i := 0; i < n*colors*h*w; i++ {
			c := (i / (h * w)) % colors // NCHW: planes of h*w per colour
			total += nll(c, int(imgs[i]))
		}
		images := filepath.Join(dir, "images")
		ds := "mnist"
		if colors == 3 {
			ds = "cifar10"
			writeCifar(t, images, imgs, n+2)
		} else {
			writeIdx(t, images, imgs, n+2, h, w)
		}
		r, stderr, err := runInterop(t, "--checkpoint", ckpt, "--dataset", ds, "--images", images, "--limit", fmt.Sprint(n), "--batch", "2")
		if err != nil {
			t.Fatalf("interop.py: %v\n%s", err, stderr)
		}
		wantBPD := total / (float64(n*colors*h*w) * math.Ln2)
		if r.Images != n || math.Abs(r.BitsPerDim-wantBPD) > 1e-9*wantBPD || math.Abs(r.NatsPerImage-total/float64(n)) > 1e-9*total {
			t.Fatalf("colors %d: interop %+v, want bits/dim %.12f nats/image %.9f", colors, r, wantBPD, total/float64(n))
		}
	}
}

func TestPythonInteropRandomModel(t *testing.T) {
	needTorch(t)
	rng := rand.New(rand.NewSource(7))
	ts, meta := randomCheckpoint(rng, 1, 28, 28, 6, 2, 12, false)
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "rand.safetensors")
	if err := Write(ckpt, ts, meta); err != nil {
		t.Fatal(err)
	}
	imgs := make([]byte, 4*28*28)
	rng.Read(imgs)
	images := filepath.Join(dir, "images-idx3-ubyte")
	writeIdx(t, images, imgs, 4, 28, 28)
	r, stderr, err := runInterop(t, "--checkpoint", ckpt, "--dataset", "fashion-mnist", "--images", images, "--limit", "4")
	if err != nil {
		t.Fatalf("interop.py: %v\n%s", err, stderr)
	}
	if r.Images != 4 || !(r.BitsPerDim > 4 && r.BitsPerDim < 30) {
		t.Fatalf("implausible result %+v", r)
	}

	// A nonzero masked entry must fail loudly.
	for i := range ts {
		if ts[i].Name == "blocks.1.conv_mid.weight" {
			// [o=0, i=5, y=2, x=2]: below the centre, masked.
			ts[i].Data[((0*6+5)*3+2)*3+2] = 0.5
		}
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := Write(bad, ts, meta); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = runInterop(t, "--checkpoint", bad, "--dataset", "mnist", "--images", images, "--limit", "4")
	if err == nil || !strings.Contains(stderr, "blocks.1.conv_mid.weight") || !strings.Contains(stderr, "masked") {
		t.Fatalf("interop.py on a checkpoint with a nonzero masked weight: err %v, stderr %q", err, stderr)
	}
}
