#!/usr/bin/env bash
# gpu-session.sh — the one command a session runs on a lent GPU machine (the device tool's
# `run`, with carry: bin, kernels/ptx, .gpu): tools/gpucheck.sh, its logs packed into one
# tarball under $OUT (only a few files come back) and its summary beside it. Prepare here
# first with `make gpu-prep` (the cuda-tagged binaries, the PTX, MNIST's idx files in .gpu/).
# GPUCHECK_* variables pass through. By default it runs every step and then the 20-epoch
# MNIST run at tf32 (mnist20) in what is left of 560 s: a session is lent a GPU rarely and
# for 15 minutes, so one call (timeout_s 595) should measure everything it can; the first GPU
# run's steps took seconds each, and a cut-off mnist20 still leaves its evaluations so far.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must name the folder whose files come back}"
export GPUCHECK_DATA_DIR=${GPUCHECK_DATA_DIR:-.gpu/mnist}
export GPUCHECK_STEPS=${GPUCHECK_STEPS:-default,mnist20}
export GPUCHECK_TOTAL_S=${GPUCHECK_TOTAL_S:-560}
OUT="$OUT/g" bash tools/gpucheck.sh
rc=$?
tar czf "$OUT/gpucheck.tgz" -C "$OUT" g
cp "$OUT/g/summary.txt" "$OUT/summary.txt" 2>/dev/null
exit $rc
