package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/pflag"

	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/fileio"
)

// runSettings are the flags a run records in config.json so that `train --resume DIR` goes on
// with them unless the command line overrides them.
type runSettings struct {
	DataDir         string  `json:"data_dir"`
	Steps           int     `json:"steps"`   // the step to stop at (--epochs resolved); 0: none
	Minutes         float64 `json:"minutes"` // wall-clock budget of the whole run; 0: none
	EvalEvery       int     `json:"eval_every"`
	EvalLimit       int     `json:"eval_limit"`
	FinalEvalLimit  int     `json:"final_eval_limit"`
	SampleEvery     int     `json:"sample_every"`
	Samples         int     `json:"samples"`
	CheckpointEvery int     `json:"checkpoint_every"`
	LogEvery        int     `json:"log_every"`
}

func settingsFromFlags(f flags) runSettings {
	return runSettings{DataDir: f.dataDir, Minutes: f.minutes, EvalEvery: f.evalEvery, EvalLimit: f.evalLimit,
		FinalEvalLimit: f.finalEvalLimit, SampleEvery: f.sampleEvery, Samples: f.samples,
		CheckpointEvery: f.checkpointEvery, LogEvery: f.logEvery}
}

// inherit takes every setting whose flag the command line did not give from saved.
func (s *runSettings) inherit(saved runSettings, fs *pflag.FlagSet) {
	if !fs.Changed("data-dir") {
		s.DataDir = saved.DataDir
	}
	for _, p := range []struct {
		flag string
		dst  *int
		src  int
	}{
		{"eval-every", &s.EvalEvery, saved.EvalEvery}, {"eval-limit", &s.EvalLimit, saved.EvalLimit},
		{"final-eval-limit", &s.FinalEvalLimit, saved.FinalEvalLimit}, {"sample-every", &s.SampleEvery, saved.SampleEvery},
		{"samples", &s.Samples, saved.Samples}, {"checkpoint-every", &s.CheckpointEvery, saved.CheckpointEvery},
		{"log-every", &s.LogEvery, saved.LogEvery},
	} {
		if !fs.Changed(p.flag) {
			*p.dst = p.src
		}
	}
}

// checkSaved checks the settings a resume takes from config.json (at path): those whose flag
// the command line does not give pass the flags' checks, and an error names the file and key.
func (s runSettings) checkSaved(path string, fs *pflag.FlagSet) error {
	bad := func(key string, v any, want, flag string) error {
		return fmt.Errorf("%s: run.%s %v: must be %s (edit it, or give --%s)", path, key, v, want, flag)
	}
	if !stopFlagsGiven(fs) {
		if s.Steps < 0 || s.Steps > maxSteps {
			return bad("steps", s.Steps, fmt.Sprintf("in [0, %d]", maxSteps), "steps")
		}
		if !(s.Minutes >= 0 && s.Minutes <= float64(maxMinutes)) {
			return bad("minutes", s.Minutes, fmt.Sprintf("in [0, %d]", maxMinutes), "minutes")
		}
	}
	for _, c := range []struct {
		key, flag string
		v         int
	}{
		{"eval_every", "eval-every", s.EvalEvery}, {"eval_limit", "eval-limit", s.EvalLimit},
		{"final_eval_limit", "final-eval-limit", s.FinalEvalLimit}, {"sample_every", "sample-every", s.SampleEvery},
		{"samples", "samples", s.Samples}, {"checkpoint_every", "checkpoint-every", s.CheckpointEvery},
		{"log_every", "log-every", s.LogEvery},
	} {
		if !fs.Changed(c.flag) && c.v < 0 {
			return bad(c.key, c.v, ">= 0", c.flag)
		}
	}
	return nil
}

// runConfig is config.json. Run is absent in files written before runs recorded their settings.
type runConfig struct {
	// RunID names the run; its checkpoints record it (absent in runs from before they did).
	RunID   string                `json:"run_id,omitempty"`
	Model   pixelcnn.Config       `json:"model"`
	Train   pixelcnn.TrainOptions `json:"train"`
	Dataset string                `json:"dataset"`
	Device  string                `json:"device"`
	// Precision is the conv precision (nn.Precision); absent in runs from before it was recorded.
	Precision string       `json:"precision,omitempty"`
	Run       *runSettings `json:"run,omitempty"`
	// World is the number of ranks of the invocation that wrote the file; absent: one.
	World int `json:"world,omitempty"`
}

// maxConfigBytes bounds the config.json read: the file holds a few hundred bytes of settings.
const maxConfigBytes = 1 << 20

// readRunConfig reads dir/config.json; a missing file is an empty config.
func readRunConfig(dir string) (runConfig, error) {
	var c runConfig
	js, err := fileio.ReadFile(filepath.Join(dir, "config.json"), maxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(js, &c); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	return c, nil
}
