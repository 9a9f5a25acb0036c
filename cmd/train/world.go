package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/dist"
)

// Data-parallel training: every rank of the world runs this same command, trains its own copy
// of the model on its shards of every global batch (pixelcnn/shards.go) and takes part in
// every collective below, in the same order. Rank 0 alone writes the run directory; the others
// write nothing and print only their errors. Every decision that could differ between ranks
// (a signal, the wall-clock budget, a failure of rank 0's evaluation or of any rank's start) is
// agreed in a collective, so that all ranks stop at the same step and none waits for ever.

// runDirForHints is the run directory once claimed, for the message of the collective
// timeout (printed from a timer's goroutine while the main one waits in the collective).
var runDirForHints atomic.Pointer[string]

// collectiveExpired prints why a rank ends the world when a collective timed out
// (dist.WithTimeout) and how to go on.
func collectiveExpired(rank int) func(string, int64, time.Duration) {
	return func(collective string, seq int64, limit time.Duration) {
		dir := "RUN_DIR"
		if d := runDirForHints.Load(); d != nil {
			dir = shellQuote(*d)
		}
		fmt.Fprintf(os.Stderr, "\ntrain: rank %d: no answer from the other ranks for %v in collective %d (%s): a rank stopped taking part (stopped, deadlocked, or cut off from the others), so every rank stops now. "+
			"The last checkpoint is intact: start the same command again with --resume %s (or give a larger --collective-timeout if a step, evaluation or sample grid legitimately takes longer)\n",
			rank, limit, seq, collective, dir)
	}
}

// errPeerStopped ends a rank whose world agreed to stop because another rank was interrupted.
var errPeerStopped = fmt.Errorf("another rank was interrupted: %w", context.Canceled)

// agreed is an error every rank of the world returns (a bad flag, a failed start agreement):
// the ranks then leave together, without MPI_Abort.
type agreed struct{ error }

func (a agreed) Unwrap() error { return a.error }

// everyRankFails reports whether every rank of the world ends with err: agreed, or a
// non-finite loss (each rank computes the same sum of the shards' losses and gradients).
func everyRankFails(err error) bool {
	var a agreed
	return errors.As(err, &a) || errors.Is(err, pixelcnn.ErrNonFinite)
}

// writer reports whether this rank writes the run directory (rank 0).
func (r *trainingRun) writer() bool { return r.world.Rank() == 0 }

// many reports whether this run has more than one rank.
func (r *trainingRun) many() bool { return r.world.Size() > 1 }

// validateWorldFlags checks --shards and --reduce against --batch and the world.
func validateWorldFlags(f flags, world dist.Comm) error {
	if _, err := dist.ParseReduction(f.reduce); err != nil {
		return fmt.Errorf("--reduce: %w", err)
	}
	if f.shards < 0 {
		return fmt.Errorf("--shards %d: must be >= 0 (0: one per rank)", f.shards)
	}
	if f.resume != "" {
		return nil // the checkpoint's batch and shards; setup checks the world against them
	}
	shards := shardCount(f, world)
	if f.batch%shards != 0 {
		what := fmt.Sprintf("--shards %d", shards)
		if f.shards == 0 {
			what = fmt.Sprintf("the world's %d ranks (one shard each)", shards)
		}
		return fmt.Errorf("--batch %d is the global batch and is not divisible by %s: give a --batch that is a multiple of %d", f.batch, what, shards)
	}
	if shards%world.Size() != 0 {
		return fmt.Errorf("--shards %d cannot be split evenly over %d ranks: give a --shards that is a multiple of %d (or leave it out: one shard per rank)", shards, world.Size(), world.Size())
	}
	return nil
}

// shardCount is the number of shards a new run splits its batches into: --shards, else one
// per rank.
func shardCount(f flags, world dist.Comm) int {
	if f.shards > 0 {
		return f.shards
	}
	return world.Size()
}

// runDigest is a SHA-256 of what must be the same on every rank: the flags as parsed (a
// rank started with other flags would train another model), the bytes of the checkpoint it
// resumes from and the dataset it loaded (each rank reads its own copies, possibly on another
// machine, where --data-dir may hold other files under the same names).
func runDigest(fs *pflag.FlagSet, resumed string, ds *data.Dataset) ([]byte, error) {
	h := sha256.New()
	var lines []string
	fs.VisitAll(func(fl *pflag.Flag) { lines = append(lines, fl.Name+"="+fl.Value.String()) })
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintf(h, "%s\x00", l)
	}
	if resumed != "" {
		fh, err := os.Open(resumed)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		if _, err := io.Copy(h, fh); err != nil {
			return nil, fmt.Errorf("%s: %w", resumed, err)
		}
	}
	if ds != nil {
		for _, sp := range []data.Split{ds.Train, ds.Test} {
			fmt.Fprintf(h, "split %d %d %d\x00", sp.N, len(sp.Pixels), len(sp.Labels))
			h.Write(sp.Pixels)
			h.Write(sp.Labels)
		}
	}
	return h.Sum(nil), nil
}

// agreeStart is the first collective: every rank says whether its setup succeeded and what it
// is about to run (runDigest). A rank that failed, or one that differs from rank 0, stops
// every rank with an error naming it. It is also the point before which no rank writes:
// rank 0 claims the run directory only after every rank has checked it.
func agreeStart(world dist.Comm, setupErr error, fs *pflag.FlagSet, resumed string, ds *data.Dataset) error {
	digest := make([]byte, sha256.Size)
	status := byte(0)
	if setupErr == nil {
		d, err := runDigest(fs, resumed, ds)
		if err != nil {
			setupErr = err
		}
		copy(digest, d)
	}
	if setupErr != nil {
		status = 1
	}
	all := make([]byte, (1+sha256.Size)*world.Size())
	if err := world.AllgatherBytes(append([]byte{status}, digest...), all); err != nil {
		return err
	}
	if setupErr != nil {
		return setupErr
	}
	var failed, differs []int
	for rank := range world.Size() {
		msg := all[rank*(1+sha256.Size):][:1+sha256.Size]
		switch {
		case msg[0] != 0:
			failed = append(failed, rank)
		case string(msg[1:]) != string(all[1:1+sha256.Size]):
			differs = append(differs, rank)
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("rank %v failed to start (its error is printed above); every rank stops", failed)
	case len(differs) > 0:
		return fmt.Errorf("ranks %v were started with other flags or another checkpoint than rank 0 (the SHA-256 of the flags, of the --resume file and of the loaded dataset differ): start every rank with the same command, the same checkpoint and the same dataset files", differs)
	}
	return nil
}

// agree is a collective after a step of rank 0 alone (preparing the run directory): every
// rank learns whether it failed.
func (r *trainingRun) agree(what string, err error) error {
	failed, aerr := dist.AnyTrue(r.world, err != nil)
	switch {
	case err != nil:
		return err
	case aerr != nil:
		return aerr
	case failed:
		return fmt.Errorf("rank 0 failed %s (its error is printed above); every rank stops", what)
	}
	return nil
}

// stepAgreement decides, on every rank alike, whether the loop stops before the next step:
// reached (the step target, or rank 0's clock past the time budget) or interrupted (a signal
// on any rank).
func (r *trainingRun) stepAgreement(ctx context.Context, deadline time.Time) (reached, interrupted bool, err error) {
	reached, interrupted = r.stopReached(deadline), ctx.Err() != nil
	if !r.many() {
		return reached, interrupted, nil
	}
	var flags byte
	if reached && r.writer() {
		flags |= 1 // the step target is the same everywhere; the clock is rank 0's
	}
	if interrupted {
		flags |= 2
	}
	all := make([]byte, r.world.Size())
	if err := r.world.AllgatherBytes([]byte{flags}, all); err != nil {
		return false, false, err
	}
	reached, interrupted = all[0]&1 != 0, false
	for _, b := range all {
		interrupted = interrupted || b&2 != 0
	}
	return reached, interrupted, nil
}

// onRankZero runs fn (a sample grid) on rank 0 while the others wait, then agrees: a ctx
// error on rank 0 or a signal on any rank stops every rank (errPeerStopped on those whose own
// ctx is not done), and another error of rank 0 stops every rank too.
func (r *trainingRun) onRankZero(ctx context.Context, what string, fn func() error) error {
	if !r.many() {
		return fn()
	}
	var err error
	if r.writer() {
		err = fn()
	}
	var flags byte
	if ctx.Err() != nil || (err != nil && errors.Is(err, ctx.Err())) {
		flags |= 2
	}
	if err != nil && flags == 0 {
		flags |= 1
	}
	all := make([]byte, r.world.Size())
	if aerr := r.world.AllgatherBytes([]byte{flags}, all); aerr != nil {
		return aerr
	}
	stop := false
	for _, b := range all {
		stop = stop || b&2 != 0
	}
	switch {
	case err != nil:
		return err
	case stop && ctx.Err() != nil:
		return ctx.Err()
	case stop:
		return errPeerStopped
	case all[0]&1 != 0:
		return fmt.Errorf("rank 0 failed %s (its error is printed above); every rank stops", what)
	}
	return nil
}

// resumeLauncher is the launcher prefix of the resume hint: a run of many ranks resumes on
// any rank count that divides its shards.
func (r *trainingRun) resumeLauncher() string {
	if !r.many() {
		return ""
	}
	return launcherPrefix(os.Getenv, r.world.Size())
}

// launcherPrefix is how the launcher that started this process (read from the variables it
// sets) starts n ranks again: mpirun (Open MPI, MPICH's hydra), srun (SLURM), or torchrun
// (its --no-python runs this binary itself).
func launcherPrefix(getenv func(string) string, n int) string {
	switch {
	case getenv("OMPI_COMM_WORLD_SIZE") != "" || getenv("PMI_RANK") != "":
		return fmt.Sprintf("mpirun -np %d ", n)
	case getenv("SLURM_PROCID") != "":
		return fmt.Sprintf("srun --ntasks %d ", n)
	case getenv("TORCHELASTIC_RUN_ID") != "" || (getenv("RANK") != "" && getenv("WORLD_SIZE") != ""):
		return fmt.Sprintf("torchrun --nproc-per-node %d --no-python ", n)
	}
	return fmt.Sprintf("mpirun -np %d ", n)
}

// joinWorld makes the trainer step in r.world. A resumed run keeps its checkpoint's shards
// (they fix the float32 sums): it goes on exactly on any rank count that divides them, and
// another rank count is refused.
func (r *trainingRun) joinWorld(f flags) error {
	err := r.tr.SetWorld(r.world)
	if err == nil || f.resume == "" {
		return err
	}
	shards := r.tr.Shards()
	var fit []string
	for n := 1; n <= shards; n++ {
		if shards%n == 0 {
			fit = append(fit, strconv.Itoa(n))
		}
	}
	return fmt.Errorf("--resume %s: the run splits every batch into %d shard(s), which %d ranks cannot share evenly (each rank computes the same number of shards, so that the run goes on exactly as before): resume it on %s rank(s)",
		r.resumedFrom, shards, r.world.Size(), strings.Join(fit, ", "))
}

// evaluateSplit evaluates the first limit test images (all for 0) over the world: rank k takes
// the k-th of R contiguous parts, and the parts' sums are gathered and added in rank order,
// each with its rank's status, so that every rank agrees on the value and on whether to stop.
// The float64 sum is taken in another order than one process's: the last digits may differ.
func (r *trainingRun) evaluateSplit(ctx context.Context, limit int, what string) (float64, error) {
	n, size, rank := limitOr(limit, r.ds.Test.N), r.world.Size(), r.world.Rank()
	from, to := rank*n/size, (rank+1)*n/size
	nats, err := pixelcnn.EvaluateRange(ctx, r.tr.EvalModel(), r.ds.Test, from, to, evalBatch, func(done, total int) {
		r.prog.Update("%s: %d/%d of rank 0's %d of %d test images", what, done, total, total, n)
	})
	const ok, failed, stopped = 0, 1, 2
	status := float64(ok)
	switch {
	case ctx.Err() != nil:
		status = stopped
	case err != nil:
		status = failed
	}
	all, gerr := dist.GatherFloat64(r.world, []float64{nats, status})
	if err != nil {
		return 0, err
	}
	if gerr != nil {
		return 0, gerr
	}
	var total float64
	var stop bool
	var failedRanks []int
	for k := range size {
		total += all[2*k]
		switch all[2*k+1] {
		case stopped:
			stop = true
		case failed:
			failedRanks = append(failedRanks, k)
		}
	}
	switch {
	case stop:
		return 0, errPeerStopped
	case len(failedRanks) > 0:
		return 0, fmt.Errorf("rank %v failed %s (its error is printed above); every rank stops", failedRanks, what)
	}
	return pixelcnn.BitsPerDim(total, n*r.model.Config.Subpixels()), nil
}

// checkDirFree is checkRunDirFree on rank 0, which alone takes the lock: its probe takes the
// lock for a moment, and probes of several ranks at once on a shared directory would see each
// other's as a run in progress.
func (r *trainingRun) checkDirFree(dir string) error {
	if !r.writer() {
		return nil
	}
	return checkRunDirFree(dir)
}
