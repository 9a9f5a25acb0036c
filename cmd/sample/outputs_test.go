package main

import (
	"bytes"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
)

// TestOutputs: `sample --out LINK` writes the link's target and keeps the link (it used to
// replace the link with a file); `--out` naming the checkpoint itself is refused and the
// checkpoint left intact; `--out DEVICE` is refused.
func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	m, err := pixelcnn.NewModel(cpu.New(), pixelcnn.Config{Colors: 1, Height: 6, Width: 5, Hidden: 6, Blocks: 1, OutDim: 12}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck.png") // named like an output, to be passed as one
	if err := pixelcnn.Save(ck, m, nil, ""); err != nil {
		t.Fatal(err)
	}
	ckBytes, _ := os.ReadFile(ck)

	target, link := filepath.Join(dir, "real.png"), filepath.Join(dir, "link.png")
	os.WriteFile(target, []byte("old"), 0o644)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if code, errs := runSample("--checkpoint", ck, "--n", "1", "--out", link); code != 0 {
		t.Fatalf("--out LINK: exit %d: %s", code, errs)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("--out LINK: the link was replaced (%v, %v)", st.Mode(), err)
	}
	f, err := os.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := image.DecodeConfig(f); err != nil {
		t.Errorf("--out LINK: the target is not a PNG: %v", err)
	}

	for _, out := range []string{ck, filepath.Join(dir, "..", filepath.Base(dir), "ck.png")} {
		code, errs := runSample("--checkpoint", ck, "--n", "1", "--out", out)
		if code == 0 || !strings.Contains(errs, "same file as the input "+ck) {
			t.Errorf("--out %s (the checkpoint): exit %d, %q; want a refusal naming both", out, code, errs)
		}
	}
	if b, _ := os.ReadFile(ck); !bytes.Equal(b, ckBytes) {
		t.Fatal("the checkpoint was overwritten")
	}
}
