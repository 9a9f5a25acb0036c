package main

import (
	"math"
	"strings"
	"testing"
)

// TestRunRejectsBadSettings: bad sizes, train settings and tolerances are errors before any
// device is opened or anything is timed.
func TestRunRejectsBadSettings(t *testing.T) {
	good := config{batch: 2, size: 4, colors: 1, hidden: 3, head: 3, runs: 1, cpuRuns: 1, tol: 1e-3, tolTF32: 1e-2}
	for _, tc := range []struct {
		name string
		edit func(*config)
		want string
	}{
		{"batch", func(c *config) { c.batch = 0 }, "bad sizes"},
		{"train", func(c *config) { c.train = true }, "bad train settings"},
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
