package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestRunRejectsBadSettings: bad sizes, train settings and tolerances are errors before any
// device is opened or anything is timed.
func TestRunRejectsBadSettings(t *testing.T) {
	good := config{batch: 2, size: 4, colors: 1, hidden: 3, head: 3, runs: 1, cpuRuns: 1, tol: 1e-3, tolTF32: 1e-2, kernels: true}
	for _, tc := range []struct {
		name string
		edit func(*config)
		want string
	}{
		{"batch", func(c *config) { c.batch = 0 }, "--batch 0 must be >= 1"},
		{"colors", func(c *config) { c.colors = 0 }, "--colors 0 must be >= 1"},
		{"hidden not divisible", func(c *config) { c.colors, c.hidden = 3, 4 }, "divisible by 3 colours"},
		{"train", func(c *config) { c.train = true }, "--train-presets: no preset given"},
		{"train batches", func(c *config) { c.train, c.tc.presets = true, []string{"tiny"} }, "--train-batches: no batch size given"},
		{"tol negative", func(c *config) { c.tol = -1 }, "--tol -1"},
		{"tol NaN", func(c *config) { c.tol = math.NaN() }, "--tol NaN"},
		{"tol-tf32 zero", func(c *config) { c.tolTF32 = 0 }, "--tol-tf32 0"},
		{"tol-tf32 Inf", func(c *config) { c.tolTF32 = math.Inf(1) }, "--tol-tf32 +Inf"},
	} {
		c := good
		tc.edit(&c)
		err := run(c, false, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestCommandLine: help on stdout with exit 0; a bad command line (a stray argument, an
// --only that names no op, a flag the chosen mode never reads, a count out of range) exits 2
// naming it; a shape that cannot fit in memory exits 1 with the estimate and the machine's
// memory, before anything is allocated or timed. Never a Go stack trace.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in stdout for exit 0, in stderr otherwise
	}{
		{"-h", []string{"-h"}, 0, []string{"usage: bench", "--train-presets string", "--profile-json string"}},
		{"--help", []string{"--json", "--help"}, 0, []string{"usage: bench"}},
		{"extra argument", []string{"extra"}, 2, []string{`unexpected arguments ["extra"]`}},
		{"--only matching nothing", []string{"--train=false", "--only", "nomatch"}, 2, []string{`--only "nomatch" matches no op`, "conv_fwd input_conv", "softmax_xent", "adam"}},
		{"zero colours", []string{"--train=false", "--colors", "0"}, 2, []string{"--colors 0"}},
		{"negative warmup", []string{"--train=false", "--warmup", "-1"}, 2, []string{"--warmup -1"}},
		{"zero runs", []string{"--train=false", "--runs", "0"}, 2, []string{"--runs 0"}},
		{"zero size", []string{"--train=false", "--size", "0"}, 2, []string{"--size 0"}},
		{"unknown preset", []string{"--train-only", "--train-presets", "nope"}, 2, []string{`preset "nope"`}},
		{"no presets", []string{"--train-only", "--train-presets", ","}, 2, []string{"--train-presets"}},
		{"zero train steps", []string{"--train-only", "--train-steps", "0"}, 2, []string{"--train-steps 0"}},
		{"profile flag without --profile", []string{"--train=false", "--profile-steps", "3"}, 2, []string{"--profile-steps is only read with --profile"}},
		{"kernel flag with --train-only", []string{"--train-only", "--size", "8"}, 2, []string{"--size is not read with --train-only"}},
		{"train flag without training", []string{"--train=false", "--train-batches", "4"}, 2, []string{"--train-batches is not read with --train=false"}},
		{"train flag with --profile", []string{"--profile", "--train-presets", "mnist"}, 2, []string{"--train-presets is not read with --profile"}},
		{"--train=false --train-only", []string{"--train=false", "--train-only"}, 2, []string{"--train-only"}},
		{"--head with --arch gated", []string{"--train=false", "--arch", "gated", "--head", "6"}, 2, []string{"--head is not read with --arch gated"}},
		{"cpu steps without the cpu", []string{"--train-only", "--cpu-train=false", "--cpu-train-steps", "3"}, 2, []string{"--cpu-train-steps is not read with --cpu-train=false"}},
		{"kernel table too large", []string{"--train=false", "--batch", "100000", "--size", "1000"}, 1, []string{"the kernel table at --batch 100000 --size 1000", "needs", "available"}},
		{"absurd kernel shape", []string{"--train=false", "--batch", "1000000000", "--size", "1000000000"}, 1, []string{"needs", "available"}},
		{"train batch too large", []string{"--train-only", "--train-presets", "mnist", "--train-batches", "100000"}, 1, []string{"train step mnist at batch 100000", "needs", "available"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runCommand(tc.args, &stdout, &stderr)
			got := stdout.String()
			if tc.code != 0 {
				got = stderr.String()
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output %q lacks %q", got, w)
				}
			}
			if strings.Contains(stderr.String(), "goroutine") {
				t.Errorf("stack trace: %s", stderr.String())
			}
		})
	}
}
