package main

import (
	"fmt"
	"math"
	"time"

	"github.com/spf13/pflag"
)

// stopCondition says when a run ends: at a step, after a wall-clock budget, or at whichever of
// the two comes first. Both count over the whole run, resumes included.
type stopCondition struct {
	step   int           // 0: no step target
	budget time.Duration // 0: no time budget
}

// stopFlagsGiven reports whether the command line names a stop condition (on --resume it then
// replaces the run's).
func stopFlagsGiven(fs *pflag.FlagSet) bool {
	return fs.Changed("steps") || fs.Changed("epochs") || fs.Changed("minutes")
}

// stopFromFlags resolves --steps/--epochs/--minutes; an epoch is batchesPerEpoch steps.
func stopFromFlags(f flags, batchesPerEpoch int) stopCondition {
	s := stopCondition{step: f.steps, budget: minutes(f.minutes)}
	if f.epochs > 0 {
		s.step = max(1, int(math.Ceil(f.epochs*float64(batchesPerEpoch))))
	}
	return s
}

func minutes(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }

func (s stopCondition) String() string {
	switch {
	case s.step > 0 && s.budget > 0:
		return fmt.Sprintf("stops at step %d or after %v of wall-clock time in all, whichever comes first", s.step, s.budget)
	case s.step > 0:
		return fmt.Sprintf("stops at step %d", s.step)
	default:
		return fmt.Sprintf("stops after %v of wall-clock time in all", s.budget)
	}
}

// checkNotReached returns an error when a run at step, having run for wall, has already met
// the condition: a resume would have nothing to do.
func (s stopCondition) checkNotReached(step int, wall time.Duration) error {
	if s.step > 0 && step >= s.step {
		return fmt.Errorf("the run is already at step %d, at or past the stop at step %d: nothing to do (give a larger --steps or --epochs to continue it)", step, s.step)
	}
	if s.budget > 0 && wall >= s.budget {
		return fmt.Errorf("the run has already run for %v, its budget is %v: nothing to do (give a larger --minutes, or --steps, to continue it)", wall.Round(time.Second), s.budget)
	}
	return nil
}
