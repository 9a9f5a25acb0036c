package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/imageio"
)

// evalBatch is the batch size of evaluations; an interrupt stops one within a batch.
const evalBatch = 64

// train runs steps until the stop condition, then checkpoints, evaluates and samples. Once
// ctx is done it writes the checkpoint and returns errInterrupted.
func (r *trainingRun) train(ctx context.Context) error {
	r.start = time.Now()
	r.startStep, r.imagesFromStep, r.lastLineStep = r.tr.Step, r.tr.Step, r.tr.Step
	deadline := r.deadline()
	for {
		reached, interrupted, err := r.stepAgreement(ctx, deadline)
		switch {
		case err != nil:
			return err
		case reached:
			return r.finish(ctx)
		case interrupted:
			return r.interrupt()
		}
		if err := r.trainStep(deadline); err != nil {
			return err
		}
		if err := r.afterStep(ctx); err != nil {
			if (ctx.Err() != nil && errors.Is(err, ctx.Err())) || errors.Is(err, errPeerStopped) {
				return r.interrupt()
			}
			return err
		}
	}
}

// deadline is when this invocation's share of the time budget ends (zero: no budget).
func (r *trainingRun) deadline() time.Time {
	if r.stop.budget == 0 {
		return time.Time{}
	}
	return r.start.Add(r.stop.budget - r.wallBefore)
}

// stopReached: a time budget always allows one step, so every run ends with a loss to report.
func (r *trainingRun) stopReached(deadline time.Time) bool {
	if r.stop.step > 0 && r.tr.Step >= r.stop.step {
		return true
	}
	return !deadline.IsZero() && r.tr.Step > r.startStep && time.Now().After(deadline)
}

func (r *trainingRun) trainStep(deadline time.Time) error {
	stepStart := time.Now()
	bpd, err := r.tr.TrainStep()
	r.trainTime += time.Since(stepStart)
	if err != nil {
		return err
	}
	if r.tr.Step == r.startStep+2 { // the step is recorded at the second step
		r.prog.Line("train step: %s", r.tr.StepMode())
	}
	if math.IsNaN(r.smooth) {
		r.smooth = bpd
	}
	r.smooth = 0.98*r.smooth + 0.02*bpd
	ips := float64((r.tr.Step-r.startStep)*r.tr.Opt.Batch) / r.trainTime.Seconds()
	r.prog.Update("step %d  epoch %.2f  train %.4f bits/dim  lr %.3g  %.1f img/s  ETA %s",
		r.tr.Step, r.tr.Epoch(), r.smooth, r.tr.LR, ips, r.eta(deadline))
	return nil
}

// eta is the time to the stop condition at this invocation's pace.
func (r *trainingRun) eta(deadline time.Time) string {
	var eta time.Duration = -1
	if done := r.tr.Step - r.startStep; r.stop.step > 0 && done > 0 {
		eta = time.Duration(float64(r.stop.step-r.tr.Step) / float64(done) * float64(time.Since(r.start)))
	}
	if !deadline.IsZero() && (eta < 0 || time.Until(deadline) < eta) {
		eta = time.Until(deadline)
	}
	if eta < 0 {
		return "?"
	}
	return eta.Round(time.Second).String()
}

// afterStep logs, evaluates, checkpoints and samples as the settings say.
func (r *trainingRun) afterStep(ctx context.Context) error {
	step := r.tr.Step
	m := r.metricNow()
	logNow := every(r.set.LogEvery, step)
	if every(r.set.EvalEvery, step) {
		test, err := r.evaluate(ctx, r.set.EvalLimit, "evaluating")
		if err != nil {
			return err
		}
		m.TestBPD, m.TestImages, logNow = &test, limitOr(r.set.EvalLimit, r.ds.Test.N), true
		r.prog.Line("step %d: test %.5f bits/dim (%d images)", step, test, m.TestImages)
	}
	if logNow {
		if err := r.writeMetric(m); err != nil {
			return err
		}
	}
	sampleNow := r.set.Samples > 0 && every(r.set.SampleEvery, step)
	// A sample step checkpoints first: sampling cannot stop midway, so Ctrl-C abandons it and
	// the checkpoint must already be there.
	if every(r.set.CheckpointEvery, step) || sampleNow {
		if err := r.save(); err != nil {
			return err
		}
	}
	if sampleNow {
		return r.sample(ctx)
	}
	return nil
}

func every(n, step int) bool { return n > 0 && step%n == 0 }

func (r *trainingRun) metricNow() metric {
	return metric{Step: r.tr.Step, Epoch: r.tr.Epoch(), TrainBPD: r.smooth, LR: r.tr.LR,
		WallSec: (r.wallBefore + time.Since(r.start)).Seconds(), Precision: string(r.precision)}
}

// writeMetric appends m with the training throughput since the previous line and any notes.
func (r *trainingRun) writeMetric(m metric) error {
	if !r.writer() {
		return nil
	}
	if steps, t := m.Step-r.imagesFromStep, r.trainTime-r.trainTimeAtLog; steps > 0 && t > 0 {
		m.ImagesSec = float64(steps*r.tr.Opt.Batch) / t.Seconds()
		r.imagesFromStep, r.trainTimeAtLog = m.Step, r.trainTime
	}
	if len(r.notes) > 0 {
		m.Note = strings.Join(r.notes, "; ") + ": not an exact continuation from there on"
	}
	if err := r.log.write(m); err != nil {
		return err
	}
	r.notes, r.lastLineStep = nil, m.Step
	return nil
}

// saveCheckpoint is pixelcnn.Save; tests make it fail.
var saveCheckpoint = pixelcnn.Save

func (r *trainingRun) save() error {
	if !r.writer() {
		r.savedStep = r.tr.Step // rank 0 saved it
		return nil
	}
	if err := saveCheckpoint(r.ckPath, r.model, r.tr, r.dataset); err != nil {
		return fmt.Errorf("checkpoint at step %d: %w (%s)", r.tr.Step, err, r.previousCheckpoint())
	}
	r.savedStep = r.tr.Step
	r.ckStat, _ = os.Stat(r.ckPath)
	return nil
}

// checkpointStep is the step of the run's checkpoint in its directory, -1 when there is none.
func (r *trainingRun) checkpointStep() int {
	switch {
	case r.savedStep >= 0:
		return r.savedStep
	case r.inPlace:
		return r.startStep
	}
	return -1
}

// previousCheckpoint says, after a failed write of the checkpoint, what is at its path.
func (r *trainingRun) previousCheckpoint() string {
	switch {
	case r.ckStat != nil && unchanged(r.ckPath, r.ckStat):
		return fmt.Sprintf("the previous checkpoint, at step %d, is intact", r.checkpointStep())
	case r.ckStat == nil && !exists(r.ckPath):
		return "no checkpoint was written"
	}
	return fmt.Sprintf("%s is not the checkpoint this run wrote last: it changed during the failed write", r.ckPath)
}

// evaluate returns the bits/dim of the first limit test images (all for 0); a run of many
// ranks splits them (world.go).
func (r *trainingRun) evaluate(ctx context.Context, limit int, what string) (float64, error) {
	if r.many() {
		return r.evaluateSplit(ctx, limit, what)
	}
	bpd, _, err := pixelcnn.EvaluateContext(ctx, r.tr.EvalModel(), r.ds.Test, limit, evalBatch, func(done, total int) {
		r.prog.Update("%s: %d/%d test images", what, done, total)
	})
	return bpd, err
}

// sample writes a grid of samples. Sampling cannot be stopped midway, so it runs aside and a
// done ctx abandons it; callers checkpoint first, and the process then exits.
func (r *trainingRun) sample(ctx context.Context) error {
	if r.set.Samples == 0 {
		return nil
	}
	return r.onRankZero(ctx, "sampling", func() error { return r.sampleGrid(ctx) })
}

func (r *trainingRun) sampleGrid(ctx context.Context) error {
	path := filepath.Join(r.dir, fmt.Sprintf("samples-%07d.png", r.tr.Step))
	done := make(chan error, 1)
	go func() {
		imgs, err := pixelcnn.Sample(r.tr.EvalModel(), pixelcnn.SampleOptions{N: r.set.Samples, Seed: r.tr.Opt.Seed, Temperature: 1,
			Labels:   pixelcnn.CycleLabels(r.model, r.set.Samples),
			Progress: func(done, total int) { r.prog.Update("sampling: %d/%d subpixels", done, total) }})
		if err == nil {
			err = imageio.WriteGrid(path, imgs, r.set.Samples, r.ds.H, r.ds.W, r.ds.C, 0, 0)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// interrupt writes the metrics line and the checkpoint of the current step and says how to
// go on.
func (r *trainingRun) interrupt() error {
	step := r.tr.Step
	if !r.writer() {
		return errInterrupted // rank 0 writes the checkpoint of this step
	}
	r.prog.Line("interrupted at step %d: writing the checkpoint (Ctrl-C again quits at once)", step)
	if (step > r.lastLineStep || len(r.notes) > 0) && !math.IsNaN(r.smooth) {
		if err := r.writeMetric(r.metricNow()); err != nil {
			return err
		}
	}
	if r.savedStep != step {
		if err := r.save(); err != nil {
			return err
		}
	}
	r.prog.Line("checkpoint %s at step %d; resume with: %s%s --resume %s", r.ckPath, step, r.resumeLauncher(), resumeCommand(), shellQuote(r.dir))
	return errInterrupted
}

// finish checkpoints, runs the final evaluation and writes the last samples.
func (r *trainingRun) finish(ctx context.Context) error {
	if err := r.save(); err != nil {
		return err
	}
	n := limitOr(r.set.FinalEvalLimit, r.ds.Test.N)
	r.prog.Line("stopped at step %d; checkpoint written. Final evaluation on %d test images...", r.tr.Step, n)
	test, err := r.evaluate(ctx, r.set.FinalEvalLimit, "final evaluation")
	if ctx.Err() != nil || errors.Is(err, errPeerStopped) {
		r.prog.Line("interrupted during the final evaluation; the checkpoint %s at step %d is complete (bits/dim: %s)",
			r.ckPath, r.tr.Step, r.evalHint())
		return errInterrupted
	}
	if err != nil {
		return err
	}
	m := r.metricNow()
	m.TestBPD, m.TestImages = &test, n
	if err := r.writeMetric(m); err != nil {
		return err
	}
	if err := r.sample(ctx); err != nil {
		if ctx.Err() != nil || errors.Is(err, errPeerStopped) {
			r.prog.Line("interrupted while sampling; the checkpoint and metrics are complete")
			return errInterrupted
		}
		return err
	}
	r.prog.Line("done: step %d, test %.5f bits/dim on %d images, checkpoint %s", r.tr.Step, test, n, r.ckPath)
	if steps := r.tr.Step - r.startStep; r.tr.Shards() > 1 && steps > 0 {
		r.prog.Line("reduction: %.3f ms per step (%d steps; waiting for the other ranks included)",
			float64(r.tr.ReduceTime().Microseconds())/1000/float64(steps), steps)
	}
	return nil
}

func limitOr(limit, n int) int {
	if limit <= 0 || limit > n {
		return n
	}
	return limit
}

// evalHint is the command that runs the final evaluation of this run on its own.
func (r *trainingRun) evalHint() string {
	cmd := siblingCommand("eval") + " --checkpoint " + shellQuote(r.ckPath)
	if r.set.DataDir != "" {
		cmd += " --data-dir " + shellQuote(r.set.DataDir)
	}
	if r.set.FinalEvalLimit > 0 {
		cmd += " --limit " + strconv.Itoa(r.set.FinalEvalLimit)
	}
	return cmd + " --device " + shellQuote(r.deviceKind())
}

// deviceKind is the --device that opens this run's kind of backend.
func (r *trainingRun) deviceKind() string {
	kind, _, _ := strings.Cut(r.b.Name(), "/")
	kind, _, _ = strings.Cut(kind, "(")
	kind, _, _ = strings.Cut(kind, ":")
	return kind
}

// failed ends a run stopped by err. A run that has no checkpoint in its directory leaves
// nothing there, so that the same command, or the one suggested, can run again; a
// non-finite loss says where to go on from, with a lower lr.
func (r *trainingRun) failed(err error) error {
	if !r.writer() {
		return err // rank 0 keeps or removes the run and says how to go on
	}
	ckStep := r.checkpointStep()
	if ckStep < 0 {
		r.removeRun()
	}
	if !errors.Is(err, pixelcnn.ErrNonFinite) {
		if ckStep < 0 {
			return fmt.Errorf("%w (no checkpoint had been written: nothing is kept in %s)", err, r.dir)
		}
		return err
	}
	lower := strconv.FormatFloat(r.tr.LR/10, 'g', 3, 64)
	switch {
	case ckStep >= 0:
		return fmt.Errorf("%w; stopped. The last good checkpoint is %s, at step %d; resume it with a lower lr: %s --resume %s --lr %s",
			err, r.ckPath, ckStep, resumeCommand(), shellQuote(r.dir), lower)
	case r.resumedFrom != "":
		cmd := resumeCommand() + " --resume " + shellQuote(r.resumedFrom)
		if r.runDir != "" {
			cmd += " --run-dir " + shellQuote(r.runDir)
		}
		return fmt.Errorf("%w; stopped before this run's first checkpoint, so nothing is kept in %s. The last good checkpoint is %s, at step %d; resume it with a lower lr: %s --lr %s",
			err, r.dir, r.resumedFrom, r.startStep, cmd, lower)
	}
	return fmt.Errorf("%w; stopped before the first checkpoint, so nothing is kept in %s: run the command again with a lower --lr (this run's was %.3g, e.g. --lr %s) or a --clip",
		err, r.dir, r.tr.LR, lower)
}

// removeRun removes what this invocation wrote into its run directory, and the directory if
// it created it, after a failure before the first checkpoint.
func (r *trainingRun) removeRun() {
	r.log.close()
	written := []string{"config.json", "metrics.jsonl"}
	if !r.hadCurve {
		written = append(written, "curve.png")
	}
	for _, name := range written {
		os.Remove(filepath.Join(r.dir, name))
	}
	if r.createdDir {
		os.Remove(filepath.Join(r.dir, lockFile))
		os.Remove(r.dir) // only if empty: anything else there stays
	}
}

// release closes the metrics log and unlocks the run directory.
func (r *trainingRun) release() {
	if r.log != nil {
		r.log.close()
	}
	r.lock.release()
}
