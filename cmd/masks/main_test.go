package main

import (
	"bytes"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunWritesPNG(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"mode A rgb", []string{"--k", "7", "--mode", "A", "--colors", "3"}},
		{"mode b grey", []string{"--k", "3", "--mode", "b", "--colors", "1"}},
		{"both", []string{"--k", "5", "--both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "masks.png")
			var stderr bytes.Buffer
			if rc := run(append(tt.args, "--out", out), io.Discard, &stderr); rc != 0 {
				t.Fatalf("exit %d, stderr: %s", rc, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), "wrote "+out+": mask ") {
				t.Errorf("stderr %q does not say what was written", stderr.String())
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() < 50 || b.Dy() < 50 {
				t.Errorf("image only %v", b)
			}
		})
	}
}

func TestRunBothIsWider(t *testing.T) {
	dir := t.TempDir()
	width := func(args ...string) int {
		out := filepath.Join(dir, "m.png")
		var stderr bytes.Buffer
		if rc := run(append(args, "--out", out), io.Discard, &stderr); rc != 0 {
			t.Fatalf("exit %d, stderr: %s", rc, stderr.String())
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cfg, err := png.DecodeConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Width
	}
	one, both := width("--k", "3"), width("--k", "3", "--both")
	if both <= 2*one {
		t.Errorf("--both width %d, want more than twice %d", both, one)
	}
}

func TestRunBadFlags(t *testing.T) {
	jpeg := filepath.Join(t.TempDir(), "masks.jpg")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"even k", []string{"--k", "4"}, "kernel size 4"},
		{"mode X", []string{"--mode", "X"}, `--mode "X"`},
		{"two colours", []string{"--colors", "2"}, "colour count 2"},
		{"unknown flag", []string{"--bogus"}, "unknown flag"},
		{"not a number", []string{"--k", "seven"}, "invalid argument"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
		{"jpeg name", []string{"--out", jpeg}, "give a name ending in .png"},
		{"no name", []string{"--out", ""}, `--out "": give a file name ending in .png`},
		{"mode with both", []string{"--both", "--mode", "B"}, "--mode is not read with --both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "masks.png")
			var stderr bytes.Buffer
			if rc := run(append([]string{"--out", out}, tt.args...), io.Discard, &stderr); rc != 2 {
				t.Errorf("exit %d, want 2", rc)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written despite bad flags (stat: %v)", err)
			}
			if _, err := os.Stat(jpeg); !os.IsNotExist(err) {
				t.Errorf("output written despite bad flags (stat: %v)", err)
			}
		})
	}
}

func TestRunWriteFailure(t *testing.T) {
	var stderr bytes.Buffer
	out := filepath.Join(t.TempDir(), "no-such-dir", "m.png")
	if rc := run([]string{"--out", out}, io.Discard, &stderr); rc != 1 {
		t.Errorf("exit %d, want 1", rc)
	}
	if !strings.Contains(stderr.String(), out) {
		t.Errorf("stderr %q does not name %s", stderr.String(), out)
	}
}

// TestHelp: -h and --help print the usage and every flag on stdout and exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"--k", "3", "--help"}} {
		var stdout, stderr bytes.Buffer
		if rc := run(args, &stdout, &stderr); rc != 0 || stderr.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, rc, stderr.String())
		}
		for _, want := range []string{"usage: masks", "--both", "--out string"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%q: stdout %q lacks %q", args, stdout.String(), want)
			}
		}
	}
}
