package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"pixelcnn/pixelcnn"
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

// runConfig is config.json. Run is absent in files written before runs recorded their settings.
type runConfig struct {
	Model   pixelcnn.Config       `json:"model"`
	Train   pixelcnn.TrainOptions `json:"train"`
	Dataset string                `json:"dataset"`
	Device  string                `json:"device"`
	// Precision is the conv precision (nn.Precision); absent in runs from before it was recorded.
	Precision string       `json:"precision,omitempty"`
	Run       *runSettings `json:"run,omitempty"`
}

// readRunConfig reads dir/config.json; a missing file is an empty config.
func readRunConfig(dir string) (runConfig, error) {
	var c runConfig
	js, err := os.ReadFile(filepath.Join(dir, "config.json"))
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
