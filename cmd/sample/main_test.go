package main

import (
	"bytes"
	"image"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data/datatest"
	"pixelcnn/pixelcnn/imageio"
)

// smallData is a dataset of 4 train and 3 test random 28x28 images.
func smallData(t *testing.T) string { return datatest.NoiseIDX(t, 4, 3) }

func runSample(args ...string) (int, string) {
	var errs bytes.Buffer
	code := run(append(args, "--device", "cpu"), io.Discard, &errs)
	return code, errs.String()
}

func TestSampleCommand(t *testing.T) {
	dir := t.TempDir()
	small := pixelcnn.Config{Colors: 1, Height: 6, Width: 5, Hidden: 6, Blocks: 1, OutDim: 12}
	m, err := pixelcnn.NewModel(cpu.New(), small, 1)
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck.safetensors")
	if err := pixelcnn.Save(ck, m, nil, ""); err != nil {
		t.Fatal(err)
	}
	run28 := t.TempDir() // a run directory of a 28x28 model
	m28, _ := pixelcnn.NewModel(cpu.New(), pixelcnn.Config{Colors: 1, Height: 28, Width: 28, Hidden: 2, Blocks: 0, OutDim: 2}, 1)
	if err := pixelcnn.Save(filepath.Join(run28, pixelcnn.CheckpointFile), m28, nil, "mnist"); err != nil {
		t.Fatal(err)
	}
	data := smallData(t)
	// A completion source of the model's size, and one of the wrong size.
	good, wrong := filepath.Join(dir, "good.png"), filepath.Join(dir, "wrong.png")
	if err := imageio.WritePNG(good, image.NewGray(image.Rect(0, 0, 5, 6))); err != nil {
		t.Fatal(err)
	}
	if err := imageio.WritePNG(wrong, image.NewGray(image.Rect(0, 0, 9, 10))); err != nil {
		t.Fatal(err)
	}
	// Sources a grey model cannot take without changing them, refused as compress refuses them.
	colour := image.NewNRGBA(image.Rect(0, 0, 5, 6))
	for i := range colour.Pix {
		colour.Pix[i] = 255
	}
	colour.Pix[0] = 3
	transparent := image.NewNRGBA(image.Rect(0, 0, 5, 6))
	deep := image.NewGray16(image.Rect(0, 0, 5, 6))
	deep.SetGray16(1, 1, color.Gray16{Y: 1000})
	odd := map[string]string{}
	for name, img := range map[string]image.Image{"colour": colour, "transparent": transparent, "deep": deep} {
		odd[name] = filepath.Join(dir, name+".png")
		if err := imageio.WritePNG(odd[name], img); err != nil {
			t.Fatal(err)
		}
	}
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("these are notes, not a checkpoint\n"), 0o644)
	out := filepath.Join(dir, "grid.png")
	for _, tc := range []struct {
		name string
		args []string
		size image.Point // of the PNG written
	}{
		{"samples", []string{"--checkpoint", ck, "--n", "3", "--out", out}, image.Pt(2+2*(5*16+2), 2+2*(6*16+2))},
		{"naive", []string{"--checkpoint", ck, "--n", "1", "--method", "naive", "--out", out}, image.Pt(2+5*16+2, 2+6*16+2)},
		{"fp32 named", []string{"--checkpoint", ck, "--n", "1", "--precision", "fp32", "--out", out}, image.Pt(2+5*16+2, 2+6*16+2)},
		{"completion", []string{"--checkpoint", ck, "--n", "2", "--complete", good, "--keep-rows", "3", "--out", out}, image.Pt(2+2*(5*16+2), 2+2*(6*16+2))},
		{"complete from a dataset, run directory", []string{"--checkpoint", run28, "--n", "1", "--complete-from", "mnist:test:2", "--data-dir", data, "--keep-rows", "27", "--out", out}, image.Pt(2+2*(28*4+2), 2+28*4+2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			if code, errs := runSample(tc.args...); code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cfg, _, err := image.DecodeConfig(f)
			if err != nil || cfg.Width != tc.size.X || cfg.Height != tc.size.Y {
				t.Fatalf("grid %dx%d (%v), want %v", cfg.Width, cfg.Height, err, tc.size)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"zero temperature", []string{"--temperature", "0"}, 2, "temperature"},
		{"infinite temperature", []string{"--temperature", "Inf"}, 2, "temperature +Inf must be finite"},
		{"NaN temperature", []string{"--temperature", "NaN"}, 2, "temperature"},
		{"jpeg out", []string{"--out", filepath.Join(dir, "x.jpg")}, 2, "give a name ending in .png"},
		{"extra argument", []string{"extra"}, 2, `unexpected arguments ["extra"]`},
		{"no images", []string{"--n", "0"}, 2, "--n 0"},
		{"unknown method", []string{"--method", "magic"}, 2, `method "magic"`},
		{"tf32", []string{"--precision", "tf32"}, 2, "sampling computes in fp32 only"},
		{"unknown precision", []string{"--precision", "fp16"}, 2, `"fp16": unknown (choose one of [tf32 fp32 bf16])`},
		{"keep without complete", []string{"--keep-rows", "2"}, 2, "needs --complete"},
		{"complete without keep", []string{"--complete", good}, 2, "--keep-rows 0"},
		{"both sources", []string{"--complete", good, "--complete-from", "mnist:test:1", "--keep-rows", "1"}, 2, "not both"},
		{"bad source", []string{"--complete-from", "mnist:7", "--keep-rows", "1"}, 2, "DATASET:SPLIT:INDEX"},
		{"bad source dataset", []string{"--complete-from", "svhn:test:1", "--keep-rows", "1"}, 2, `unknown dataset "svhn"`},
		{"bad source split", []string{"--complete-from", "mnist:val:1", "--keep-rows", "1"}, 2, `split "val"`},
		{"bad source index", []string{"--complete-from", "mnist:test:-1", "--keep-rows", "1"}, 2, "index"},
		{"keep out of range", []string{"--complete", good, "--keep-rows", "7"}, 1, "--keep-rows 7"},
		{"wrong image size", []string{"--complete", wrong, "--keep-rows", "2"}, 1, "want 5x6"},
		{"missing image", []string{"--complete", filepath.Join(dir, "none.png"), "--keep-rows", "2"}, 1, "none.png"},
		{"colour image, grey model", []string{"--complete", odd["colour"], "--keep-rows", "2"}, 1, "the model is for greyscale images"},
		{"transparent image", []string{"--complete", odd["transparent"], "--keep-rows", "2"}, 1, "not opaque"},
		{"16-bit image", []string{"--complete", odd["deep"], "--keep-rows", "2"}, 1, "16-bit"},
		{"data dir without a dataset", []string{"--data-dir", data}, 2, "--data-dir is only read with --complete-from"},
		{"data dir with an image", []string{"--complete", good, "--keep-rows", "2", "--data-dir", data}, 2, "--data-dir is only read with --complete-from"},
		{"no output name", []string{"--out", ""}, 2, `--out "": give a file name ending in .png`},
		{"source image size", []string{"--complete-from", "mnist:test:1", "--data-dir", data, "--keep-rows", "2"}, 1, "--complete-from mnist:test:1"},
		{"text as checkpoint", []string{"--checkpoint", text}, 1, "not a safetensors file"},
		{"png as checkpoint", []string{"--checkpoint", good}, 1, "not a safetensors file"},
		{"a billion images", []string{"--n", "1000000000"}, 1, "sample fewer images at a time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--checkpoint", ck, "--out", out}, tc.args...)
			code, errs := runSample(args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errs, tc.code, tc.want)
			}
			if strings.Contains(errs, "goroutine") {
				t.Fatalf("stack trace: %s", errs)
			}
		})
	}
	// Past the end of the split.
	code, errs := runSample("--checkpoint", run28, "--complete-from", "mnist:train:4", "--data-dir", data, "--keep-rows", "2", "--out", out)
	if code != 1 || !strings.Contains(errs, "index 4 outside the 4 images of mnist train") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// TestHelp: -h and --help print the usage and the flags on stdout and exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"--n", "3", "--help"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, code, stderr.String())
		}
		for _, want := range []string{"usage: sample", "--checkpoint string", "--complete-from"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%q: stdout %q lacks %q", args, stdout.String(), want)
			}
		}
	}
}
