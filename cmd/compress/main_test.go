package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
)

// tinyCheckpoint saves a randomly initialised model for h x w x c images.
func tinyCheckpoint(t *testing.T, c int, seed uint64) string {
	t.Helper()
	cfg := pixelcnn.Config{Colors: c, Height: 5, Width: 4, Hidden: 6, Blocks: 1, OutDim: 6}
	m, err := pixelcnn.NewModel(cpu.New(), cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := pixelcnn.Save(path, m, nil, ""); err != nil {
		t.Fatal(err)
	}
	return path
}

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func greyImage(w, h int, seed int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i*31 + seed*17)
	}
	return img
}

func TestEncodeDecodePNGs(t *testing.T) {
	dir := t.TempDir()
	ck := tinyCheckpoint(t, 1, 1)
	var paths []string
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, string(rune('a'+i))+".png")
		savePNG(t, p, greyImage(4, 5, i))
		paths = append(paths, p)
	}
	f := filepath.Join(dir, "x.pxz")
	if err := encodeCmd(append([]string{"--checkpoint", ck, "--out", f, "--quiet", "--batch", "2"}, paths...)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	// A run directory stands for its checkpoint.safetensors, as in eval and sample.
	runDir := filepath.Join(dir, "run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(ck, filepath.Join(runDir, "checkpoint.safetensors")); err != nil {
		t.Fatal(err)
	}
	ck = runDir
	if err := decodeCmd([]string{"--checkpoint", ck, "--in", f, "--out-dir", out, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(out, []string{"000000.png", "000001.png", "000002.png"}[i]))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := png.Decode(bytes.NewReader(want))
		b, _ := png.Decode(bytes.NewReader(got))
		if !bytes.Equal(a.(*image.Gray).Pix, b.(*image.Gray).Pix) {
			t.Errorf("image %d differs after the round trip", i)
		}
	}
	// Decoding into a directory that is not empty is refused before anything is written.
	if err := decodeCmd([]string{"--checkpoint", ck, "--in", f, "--out-dir", out, "--quiet"}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("decode into a full directory: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	ck := tinyCheckpoint(t, 1, 1)
	good := filepath.Join(dir, "good.png")
	savePNG(t, good, greyImage(4, 5, 0))
	f := filepath.Join(dir, "x.pxz")
	if err := encodeCmd([]string{"--checkpoint", ck, "--out", f, "--quiet", good}); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(f)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	png := func(name string, img image.Image) string {
		p := filepath.Join(dir, name)
		savePNG(t, p, img)
		return p
	}
	colour := image.NewNRGBA(image.Rect(0, 0, 4, 5))
	for i := range colour.Pix {
		colour.Pix[i] = 255
	}
	colour.Pix[0] = 3
	transparent := image.NewNRGBA(image.Rect(0, 0, 4, 5))
	deep := image.NewGray16(image.Rect(0, 0, 4, 5))
	deep.SetGray16(1, 1, color.Gray16{Y: 1000})
	cases := []struct {
		name string
		cmd  string
		args []string
		want string
	}{
		{"wrong size", "encode", []string{png("big.png", greyImage(5, 5, 0))}, "is 5x5"},
		{"colour for a grey model", "encode", []string{png("colour.png", colour)}, "greyscale"},
		{"transparent", "encode", []string{png("transparent.png", transparent)}, "not opaque"},
		{"16-bit", "encode", []string{png("deep.png", deep)}, "16-bit"},
		{"not a png", "encode", []string{write("text.png", []byte("hello"))}, "not a readable PNG"},
		{"truncated file", "decode", []string{"--in", write("trunc.pxz", file[:len(file)-5]), "--out-dir", filepath.Join(dir, "o1")}, "payload"},
		{"corrupt file", "decode", []string{"--in", write("corrupt.pxz", append(bytes.Clone(file[:40]), append([]byte{file[40] ^ 1}, file[41:]...)...)), "--out-dir", filepath.Join(dir, "o2")}, "CRC"},
		{"another checkpoint", "decode", []string{"--checkpoint", tinyCheckpoint(t, 1, 2), "--in", f, "--out-dir", filepath.Join(dir, "o3")}, "another checkpoint"},
		{"another shape", "decode", []string{"--checkpoint", tinyCheckpoint(t, 3, 1), "--in", f, "--out-dir", filepath.Join(dir, "o4")}, "5x4x1 images"},
		{"no checkpoint", "decode", []string{"--checkpoint", "", "--in", f, "--out-dir", filepath.Join(dir, "o5")}, "--checkpoint is required"},
	}
	for _, c := range cases {
		args := c.args
		if c.args[0] != "--checkpoint" {
			args = append([]string{"--checkpoint", ck}, args...)
		}
		run := decodeCmd
		if c.cmd == "encode" {
			run, args = encodeCmd, append([]string{"--out", filepath.Join(dir, "bad.pxz")}, args...)
		}
		err := run(append(args, "--quiet"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// Nothing was written by the failures.
	for _, p := range []string{"bad.pxz", "o1", "o2", "o3", "o4", "o5"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s exists after a failed command", p)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}

// TestCommandLine: help is output (stdout, exit 0) for the command and each subcommand;
// stray arguments and flags the subcommand never reads are usage errors (exit 2) naming
// them, found before the checkpoint is opened (the one named here does not exist).
func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "a.png")
	savePNG(t, img, greyImage(4, 5, 0))
	none := filepath.Join(dir, "none.safetensors")
	out := filepath.Join(dir, "x.pxz")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout for exit 0, in stderr otherwise
	}{
		{"help", []string{"help"}, 0, "compress decode --checkpoint CK"},
		{"-h", []string{"-h"}, 0, "compress encode --checkpoint CK"},
		{"--help", []string{"--help"}, 0, "compress bench  --checkpoint CK"},
		{"help encode", []string{"help", "encode"}, 0, "--out string"},
		{"encode -h", []string{"encode", "-h"}, 0, "--class int"},
		{"decode --help", []string{"decode", "--help"}, 0, "--out-dir string"},
		{"bench -h", []string{"bench", "-h"}, 0, "--jobs int"},
		{"no command", nil, 2, "usage:"},
		{"unknown command", []string{"squeeze"}, 2, `unknown command "squeeze"`},
		{"help for an unknown command", []string{"help", "squeeze"}, 2, `unknown command "squeeze"`},
		{"decode extra argument", []string{"decode", "--checkpoint", none, "--in", out, "--out-dir", dir + "/o", "extra"}, 2, `unexpected arguments ["extra"]`},
		{"bench extra argument", []string{"bench", "--checkpoint", none, "extra"}, 2, `unexpected arguments ["extra"]`},
		{"decode --batch", []string{"decode", "--checkpoint", none, "--in", out, "--out-dir", dir + "/o", "--batch", "2"}, 2, "unknown flag: --batch"},
		{"encode PNGs --split", []string{"encode", "--checkpoint", none, "--out", out, "--split", "train", img}, 2, "--split is only read with --dataset"},
		{"encode PNGs --limit", []string{"encode", "--checkpoint", none, "--out", out, "--limit", "3", img}, 2, "--limit is only read with --dataset"},
		{"encode PNGs --data-dir", []string{"encode", "--checkpoint", none, "--out", out, "--data-dir", dir, img}, 2, "--data-dir is only read with --dataset"},
		{"encode bad split", []string{"encode", "--checkpoint", none, "--out", out, "--dataset", "mnist", "--split", "valid"}, 2, `--split "valid"`},
		{"bench bad split", []string{"bench", "--checkpoint", none, "--split", "valid"}, 2, `--split "valid"`},
		{"bench negative batch", []string{"bench", "--checkpoint", none, "--batch", "-1"}, 2, "--batch -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			got := stdout.String()
			if tc.code != 0 {
				got = stderr.String()
			} else if stderr.Len() != 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout.String(), stderr.String(), tc.code, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s written by a refused command", out)
	}
}
