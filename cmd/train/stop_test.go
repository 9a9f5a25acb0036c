package main

import (
	"strings"
	"testing"
	"time"
)

// TestStopCondition: --epochs counts whole-run steps; with --minutes, the first reached wins
// and the run says so.
func TestStopCondition(t *testing.T) {
	tests := []struct {
		f    flags
		want stopCondition
		says string
	}{
		{flags{steps: 200}, stopCondition{step: 200}, "stops at step 200"},
		{flags{epochs: 1.5}, stopCondition{step: 15}, "stops at step 15"},
		{flags{epochs: 1e-9}, stopCondition{step: 1}, "stops at step 1"},
		{flags{minutes: 0.5}, stopCondition{budget: 30 * time.Second}, "stops after 30s of wall-clock time in all"},
		{flags{steps: 7, minutes: 2}, stopCondition{step: 7, budget: 2 * time.Minute}, "stops at step 7 or after 2m0s of wall-clock time in all, whichever comes first"},
	}
	for _, tc := range tests {
		got, err := stopFromFlags(tc.f, 10)
		if err != nil || got != tc.want || got.String() != tc.says {
			t.Errorf("flags %+v: %+v %q, want %+v %q", tc.f, got, got.String(), tc.want, tc.says)
		}
	}
	s := stopCondition{step: 7, budget: time.Minute}
	for _, c := range []struct {
		step int
		wall time.Duration
		want string
	}{{6, 59 * time.Second, ""}, {7, 0, "already at step 7"}, {3, time.Minute, "already run for 1m0s"}} {
		err := s.checkNotReached(c.step, c.wall)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("step %d after %v: %v, want %q", c.step, c.wall, err, c.want)
		}
	}
}
