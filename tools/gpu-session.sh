#!/usr/bin/env bash
# gpu-session.sh — the one command a session runs on a lent GPU machine (the device tool's
# `run`, with carry: bin, kernels/ptx, .gpu): tools/gpucheck.sh, its logs packed into one
# tarball under $OUT (only a few files come back) and its summary beside it. Prepare here
# first with `make gpu-prep` (the cuda-tagged binaries, the PTX, MNIST's idx files in .gpu/).
# GPUCHECK_* variables pass through (GPUCHECK_STEPS=mnist20 for the opt-in 20-epoch run).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must name the folder whose files come back}"
export GPUCHECK_DATA_DIR=${GPUCHECK_DATA_DIR:-.gpu/mnist}
OUT="$OUT/g" bash tools/gpucheck.sh
rc=$?
tar czf "$OUT/gpucheck.tgz" -C "$OUT" g
cp "$OUT/g/summary.txt" "$OUT/summary.txt" 2>/dev/null
exit $rc
