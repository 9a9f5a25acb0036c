package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
)

// TestSampleClass: --class draws a conditional model's classes (one grid row per class for
// a range) and every bad --class is refused naming the flag and the classes the model has.
func TestSampleClass(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, c pixelcnn.Config) string {
		m, err := pixelcnn.NewModel(cpu.New(), c, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := pixelcnn.Save(p, m, nil, ""); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gated := pixelcnn.Config{Arch: pixelcnn.ArchGated, Colors: 1, Height: 5, Width: 4, Hidden: 4, Blocks: 2, Dilations: []int{1, 2}}
	uncond := save("uncond.safetensors", gated)
	gated.Classes = 10
	cond := save("cond.safetensors", gated)

	out := filepath.Join(dir, "grid.png")
	if code, errs := runSample("--checkpoint", cond, "--class", "2-4", "--n", "2", "--out", out); code != 0 {
		t.Fatalf("--class 2-4: exit %d: %s", code, errs)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width >= cfg.Height { // 2 columns of 4-wide images, 3 rows of 5-high ones
		t.Errorf("grid %dx%d: want 3 rows (classes 2, 3, 4) of 2 images", cfg.Width, cfg.Height)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--checkpoint", cond, "--class", "10"}, 1, "--class 10: the model has classes 0..9"},
		{[]string{"--checkpoint", cond, "--class", "3-12"}, 1, "classes 0..9"},
		{[]string{"--checkpoint", cond, "--class", "5-2"}, 2, "A <= B"},
		{[]string{"--checkpoint", cond, "--class", "seven"}, 2, `--class "seven"`},
		{[]string{"--checkpoint", cond, "--class", "-1"}, 2, `--class "-1"`},
		{[]string{"--checkpoint", uncond, "--class", "1"}, 1, "unconditional model"},
		// Refused by the memory estimate before a label is allocated.
		{[]string{"--checkpoint", cond, "--class", "0-9", "--n", "1000000000"}, 1, "sample fewer images at a time"},
		{[]string{"--checkpoint", cond, "--n", "1000000000"}, 1, "sample fewer images at a time"},
		{[]string{"--checkpoint", cond, "--class", "0-9", "--n", "1000000000000000000"}, 1, "--n 1000000000000000000 images for each of 10 classes: too many"},
	} {
		code, errs := runSample(append(tc.args, "--out", filepath.Join(dir, "x.png"))...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("sample %v: exit %d, %q; want exit %d naming %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}
