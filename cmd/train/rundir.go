package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/fileio"
)

// lockFile is the file in a run directory that a training process holds an exclusive flock
// on (lock.go), with its PID inside. The kernel drops the lock when the process exits,
// however it exits, so a killed run never leaves its directory locked.
const lockFile = ".train.lock"

// runFiles are the files a run directory's run consists of; --overwrite removes them.
var runFiles = []string{"checkpoint.safetensors", "metrics.jsonl", "config.json", "curve.png", "samples-*.png"}

// chooseDir decides where the run writes. A directory holding another run is never reused
// unless --overwrite says so, nor one another process trains in; a resume goes on in its run
// directory, and a checkpoint from outside one starts a new run directory (the file itself is
// never written over).
func (r *trainingRun) chooseDir(runDir string) error {
	r.runDir = runDir
	if r.inRunDir {
		ckDir := filepath.Dir(r.resumedFrom)
		if runDir == "" || sameDir(runDir, ckDir) {
			r.dir, r.ckPath, r.inPlace, r.ckStat = ckDir, r.resumedFrom, true, r.resumedStat
			if r.runID == "" { // a run from before runs were named
				r.runID = newRunID()
			}
			return nil
		}
	}
	r.runID = newRunID() // a new run directory is a new run
	if runDir == "" {
		return nil // prepareDir claims r.defaultDir
	}
	r.dir = runDir
	r.ckPath = filepath.Join(runDir, pixelcnn.CheckpointFile)
	if r.resumedFrom != "" && sameFile(r.ckPath, r.resumedFrom) {
		return fmt.Errorf("--run-dir %s: the run would write its checkpoint over --resume %s, which is not a run directory's (no config.json beside it): choose another --run-dir",
			runDir, r.resumedFrom)
	}
	if err := r.checkDirFree(runDir); err != nil {
		return err
	}
	if held := heldRunFiles(runDir); len(held) > 0 && !r.overwrite {
		if !slices.Contains(held, pixelcnn.CheckpointFile) {
			return fmt.Errorf("run dir %s already holds a run (%s) that has no checkpoint to resume: replace it with --overwrite, or choose another --run-dir",
				runDir, strings.Join(held, ", "))
		}
		return fmt.Errorf("run dir %s already holds a run (%s): continue it with --resume %s, replace it with --overwrite, or choose another --run-dir",
			runDir, strings.Join(held, ", "), shellQuote(runDir))
	}
	return nil
}

// newRunID returns a random name for a new run.
func newRunID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// unchanged reports whether the file at path is still the one st describes.
func unchanged(path string, st os.FileInfo) bool {
	now, err := os.Stat(path)
	return err == nil && st != nil && os.SameFile(now, st) && now.Size() == st.Size() && now.ModTime().Equal(st.ModTime())
}

// heldRunFiles lists the files in dir that mean it holds a run.
func heldRunFiles(dir string) []string {
	var held []string
	for _, name := range []string{"checkpoint.safetensors", "metrics.jsonl"} {
		if exists(filepath.Join(dir, name)) {
			held = append(held, name)
		}
	}
	return held
}

func sameDir(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// prepareDir creates (or, for the default name, claims) the run directory, removes what
// --overwrite replaces and what interrupted writes left behind, writes config.json, and opens
// metrics.jsonl holding the run's lines up to the checkpoint's step.
func (r *trainingRun) prepareDir() error {
	if err := r.makeDir(); err != nil {
		return err
	}
	var err error
	if r.lock, err = lockRunDir(r.dir); err != nil {
		return err
	}
	if r.inPlace && !unchanged(r.resumedFrom, r.resumedStat) {
		return fmt.Errorf("--resume %s: the checkpoint changed while it was loaded (another process wrote it): run the command again", r.resumedFrom)
	}
	r.tr.RunID = r.runID
	r.hadCurve = exists(filepath.Join(r.dir, "curve.png"))
	if r.overwrite {
		if err := r.removePreviousRun(); err != nil {
			return err
		}
	}
	if err := r.removeStaleTemps(); err != nil {
		return err
	}
	if err := r.writeConfig(); err != nil {
		return err
	}
	metricsPath := filepath.Join(r.dir, "metrics.jsonl")
	if r.resumedFrom != "" && (r.dropped > 0 || !sameDir(r.dir, filepath.Dir(r.resumedFrom))) {
		// Lines past the checkpoint's step would repeat once training gets there again.
		if err := fileio.WriteFile(metricsPath, slices.Concat(r.history...)); err != nil {
			return err
		}
		if r.dropped > 0 {
			fmt.Fprintf(r.out, "metrics.jsonl: cut back to the checkpoint's step %d (%d later or broken lines dropped)\n", r.tr.Step, r.dropped)
		}
	}
	r.log, err = openLog(metricsPath, r.history, r.ds.Test.N)
	if err != nil {
		return err
	}
	r.printStart()
	return nil
}

// makeDir creates r.dir, or claims r.defaultDir with the first free suffix (-2, -3, ...).
func (r *trainingRun) makeDir() error {
	if r.dir != "" {
		r.createdDir = !exists(r.dir)
		return os.MkdirAll(r.dir, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(r.defaultDir), 0o755); err != nil {
		return err
	}
	for i := 1; ; i++ {
		dir := r.defaultDir
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", r.defaultDir, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			r.dir, r.ckPath, r.createdDir = dir, filepath.Join(dir, pixelcnn.CheckpointFile), true
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
}

func (r *trainingRun) removePreviousRun() error {
	removed := 0
	for _, pattern := range runFiles {
		names, _ := filepath.Glob(filepath.Join(r.dir, pattern))
		for _, name := range names {
			if err := os.Remove(name); err != nil {
				return fmt.Errorf("--overwrite: %w", err)
			}
			removed++
		}
	}
	if removed > 0 {
		fmt.Fprintf(r.out, "--overwrite: removed the previous run's %d files from %s\n", removed, r.dir)
	}
	return nil
}

// removeStaleTemps deletes the temporary files of atomic writes that a killed run left.
func (r *trainingRun) removeStaleTemps() error {
	for _, pattern := range []string{".checkpoint.safetensors.tmp-*", ".config.json.tmp-*", ".metrics.jsonl.tmp-*", ".curve.png.tmp*", ".samples-*.png.tmp*"} {
		names, _ := filepath.Glob(filepath.Join(r.dir, pattern))
		for _, name := range names {
			if err := os.Remove(name); err != nil {
				return err
			}
			fmt.Fprintf(r.out, "removed %s (left by an interrupted write)\n", name)
		}
	}
	return nil
}

func (r *trainingRun) writeConfig() error {
	set := r.set
	cfg := runConfig{RunID: r.runID, Model: r.model.Config, Train: r.tr.Opt, Dataset: r.dataset,
		Device: r.b.Name(), Precision: string(r.precision), Run: &set}
	if r.many() {
		cfg.World = r.world.Size()
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return fileio.WriteFile(filepath.Join(r.dir, "config.json"), append(js, '\n'))
}

func (r *trainingRun) printStart() {
	cfg := r.model.Config
	cfg.Arch = cfg.ArchName()
	fmt.Fprintf(r.out, "run dir %s\ndevice %s, precision %s, dataset %s (%d train / %d test, %dx%dx%d), model %+v\n",
		r.dir, r.b.Name(), r.precision, r.dataset, r.ds.Train.N, r.ds.Test.N, r.ds.H, r.ds.W, r.ds.C, cfg)
	if r.resumedFrom != "" {
		fmt.Fprintf(r.out, "resuming from step %d (%s)\n", r.tr.Step, r.resumedFrom)
	}
	fmt.Fprintf(r.out, "optimizer %s, lr %g, batch %d, %s\n", r.tr.Opt.Optimizer, r.tr.LR, r.tr.Opt.Batch, r.tr.AverageSummary())
	if s := r.tr.Shards(); s > 1 {
		reduce := r.tr.Opt.Reduce
		if reduce == "" {
			reduce = "exact"
		}
		fmt.Fprintf(r.out, "data parallel: %d ranks (%s), the global batch of %d in %d shards of %d, reduction %s\n",
			r.world.Size(), r.world.Name(), r.tr.Opt.Batch, s, r.tr.Opt.Batch/s, reduce)
	}
	for _, n := range r.notes {
		fmt.Fprintf(r.out, "%s: from here on the run is not an exact continuation\n", n)
	}
	fmt.Fprintln(r.out, r.stop)
}
