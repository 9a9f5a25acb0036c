package main

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/imageio"
)

func TestSampleCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := pixelcnn.Config{Colors: 1, Height: 6, Width: 5, Hidden: 6, Blocks: 1, OutDim: 12}
	m, err := pixelcnn.NewModel(cpu.New(), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck.safetensors")
	if err := pixelcnn.Save(ck, m, nil, ""); err != nil {
		t.Fatal(err)
	}
	// A completion source of the model's size, and one of the wrong size.
	good, wrong := filepath.Join(dir, "good.png"), filepath.Join(dir, "wrong.png")
	if err := imageio.WritePNG(good, image.NewGray(image.Rect(0, 0, 5, 6))); err != nil {
		t.Fatal(err)
	}
	// WriteGrid frames the image, so this PNG is (6+4)x(5+4): the wrong size.
	if err := imageio.WriteGrid(wrong, make([]uint8, 30), 1, 6, 5, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "grid.png")
	if err := run(ck, 3, 1, 1, out, "cached", "", 0, "cpu"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	if err := run(ck, 2, 1, 1, out, "cached", good, 3, "cpu"); err != nil {
		t.Fatalf("completion: %v", err)
	}
	tests := []struct {
		name             string
		temp             float32
		method, complete string
		keep             int
		want             string
	}{
		{"zero temperature", 0, "cached", "", 0, "temperature"},
		{"unknown method", 1, "magic", "", 0, `method "magic"`},
		{"keep without complete", 1, "cached", "", 2, "needs --complete"},
		{"keep out of range", 1, "cached", good, 7, "--keep-rows 7"},
		{"wrong image size", 1, "cached", wrong, 2, "want 5x6"},
		{"missing image", 1, "naive", filepath.Join(dir, "none.png"), 2, "none.png"},
	}
	for _, tc := range tests {
		err := run(ck, 2, 1, tc.temp, out, tc.method, tc.complete, tc.keep, "cpu")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
