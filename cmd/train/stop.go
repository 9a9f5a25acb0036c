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

// maxSteps is the largest step a run may stop at: 2^53, where float64 (the --epochs
// arithmetic, the metrics' JSON) still counts every step.
const maxSteps = 1 << 53

// maxMinutes is the largest --minutes: the longest time.Duration, in whole minutes.
const maxMinutes = math.MaxInt64 / int64(time.Minute)

// stopFromFlags resolves --steps/--epochs/--minutes; an epoch is batchesPerEpoch steps. An
// --epochs that comes to more than maxSteps steps is refused with the largest it accepts.
func stopFromFlags(f flags, batchesPerEpoch int) (stopCondition, error) {
	s := stopCondition{step: f.steps, budget: minutes(f.minutes)}
	if f.epochs > 0 {
		batchesPerEpoch = max(1, batchesPerEpoch)
		steps := math.Ceil(f.epochs * float64(batchesPerEpoch))
		if steps > maxSteps {
			return s, fmt.Errorf("--epochs %v: %.4g steps of %d per epoch, past the largest step %d (the largest --epochs is %d)",
				f.epochs, steps, batchesPerEpoch, maxSteps, maxSteps/batchesPerEpoch)
		}
		s.step = max(1, int(steps))
	}
	return s, nil
}

// minutes converts a budget of m minutes (0 <= m <= maxMinutes); a positive budget shorter
// than a nanosecond is a nanosecond, so it still stops the run after its one step.
func minutes(m float64) time.Duration {
	if m <= 0 {
		return 0
	}
	return max(time.Nanosecond, time.Duration(m*float64(time.Minute)))
}

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
