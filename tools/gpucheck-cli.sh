#!/usr/bin/env bash
# gpucheck-cli.sh BIN — what a user sees on a GPU machine when the input is bad: each command
# must exit with the expected status and print the expected words, and no Go stack trace
# ("goroutine " / "panic:"). Run by tools/gpucheck.sh's `cli` step; prints one line per check.
# The eval check needs MNIST's idx files in GPUCHECK_DATA_DIR (default .gpu/mnist) and is
# skipped without them. With GPUCHECK_DRY=1 (tools/gpucheck-dry.sh) BIN holds stand-ins that
# only parse the command line: each check then wants exit 0 and no particular words.
set -uo pipefail
BIN=${1:-bin}
CK=bench/results/2026-11-27-cpu-mnist-30min-run2
DATA=${GPUCHECK_DATA_DIR:-.gpu/mnist}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# expect NAME STATUS WORDS CMD...: runs CMD, checks its exit status and that its output holds WORDS.
expect() {
  local name=$1 want=$2 words=$3
  shift 3
  if [ "${GPUCHECK_DRY:-0}" = 1 ]; then
    want=0
    words=
  fi
  local got out
  out=$(timeout 50 "$@" 2>&1)
  got=$?
  if [ "$got" -ne "$want" ] || ! grep -qF -- "$words" <<<"$out" || grep -qE '^goroutine |^panic:' <<<"$out"; then
    echo "FAIL $name: exit $got (want $want), output:"
    tail -n 5 <<<"$out" | sed 's/^/    /'
    failed=1
  else
    echo "ok   $name: exit $got, \"$words\""
  fi
}

expect precision-bf16 1 "tf32" "$BIN/train" --preset tiny --steps 1 --precision bf16 --run-dir "$tmp/run"
for v in -3 0 abc 99999999999; do
  expect "dw-blocks=$v" 1 "PIXELCNN_CUDA_DW_BLOCKS" env PIXELCNN_CUDA_DW_BLOCKS=$v "$BIN/sample" --checkpoint "$CK" --n 1 --device cuda --out "$tmp/s.png"
done
expect sample-too-many 1 "sample fewer images" "$BIN/sample" --checkpoint "$CK" --n 1000000000 --device cuda --out "$tmp/s.png"
expect sample-temp-inf 2 "temperature" "$BIN/sample" --checkpoint "$CK" --temperature Inf --device cuda --out "$tmp/s.png"
expect sample-tf32 2 "fp32" "$BIN/sample" --checkpoint "$CK" --precision tf32 --device cuda --out "$tmp/s.png"
if [ -x "$BIN/train-cpu" ]; then
  expect missing-backend 0 "no CUDA backend: build with -tags cuda" "$BIN/train-cpu" --preset tiny --steps 1 \
    --eval-every 0 --samples 0 --final-eval-limit 8 --run-dir "$tmp/cpu" --data-dir "$DATA"
fi
if [ -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then
  expect eval-dataset-from-checkpoint 0 "mnist" "$BIN/eval" --checkpoint "$CK" --data-dir "$DATA" --limit 256 --device cuda
else
  echo "SKIP eval-dataset-from-checkpoint: no MNIST files in $DATA"
fi
exit $failed
