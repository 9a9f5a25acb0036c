package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func newSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	fs.Int("n", 1, "how many")
	fs.String("mode", "a", "which")
	return fs
}

func TestParse(t *testing.T) {
	const synopsis = "usage: demo [--n N]"
	for _, tc := range []struct {
		name       string
		args       []string
		positional bool
		help       bool
		want       string // in the error ("" : none)
	}{
		{"flags", []string{"--n", "2"}, false, false, ""},
		{"-h", []string{"-h"}, false, true, ""},
		{"--help", []string{"--n", "2", "--help"}, false, true, ""},
		{"extra", []string{"--n", "2", "x", "y"}, false, false, `unexpected arguments ["x" "y"]`},
		{"files allowed", []string{"a.png", "b.png"}, true, false, ""},
		{"unknown flag", []string{"--bogus"}, false, false, "unknown flag: --bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newSet()
			var err error
			if tc.positional {
				err = ParseArgs(fs, synopsis, tc.args)
			} else {
				err = Parse(fs, synopsis, tc.args)
			}
			var h Help
			if got := errors.As(err, &h); got != tc.help {
				t.Fatalf("err %v: help %v, want %v", err, got, tc.help)
			}
			if tc.help {
				if !strings.HasPrefix(h.Usage, synopsis+"\n") || !strings.Contains(h.Usage, "--n int") || !strings.Contains(h.Usage, "how many") {
					t.Errorf("usage %q lacks the synopsis or the flags", h.Usage)
				}
				return
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUnused(t *testing.T) {
	fs := newSet()
	if err := Parse(fs, "", []string{"--mode", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := Unused(fs, "is only read with --other", "n"); err != nil {
		t.Errorf("a flag left at its default: %v", err)
	}
	err := Unused(fs, "is only read with --other", "n", "mode")
	if err == nil || err.Error() != "--mode is only read with --other" {
		t.Errorf("err %v, want one naming --mode", err)
	}
}

func TestPNGOut(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"a.png", ""},
		{"dir/B.PNG", ""},
		{"a.jpg", "--out a.jpg: the image is written as PNG; give a name ending in .png"},
		{"png", "give a name ending in .png"},
		{"", `--out "": give a file name ending in .png`},
		{"dir/.png", "give a file name"},
	} {
		err := PNGOut("--out", tc.path)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.path, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.path, err, tc.want)
		}
	}
}
