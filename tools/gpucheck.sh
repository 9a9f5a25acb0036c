#!/usr/bin/env bash
# gpucheck.sh — the GPU check, run on the lent GPU machine (which has no Go): the cuda
# conformance tests, compute-sanitizer memcheck and racecheck on them, and the kernel
# benchmark. Logs go under $OUT; a summary table is written last ($OUT/summary.txt, also
# printed).
#
# Build here first (binaries link libcuda.so.1 dynamically and run on the newer driver):
#   make ptx
#   mkdir -p bin && go test -tags cuda -c -o bin/cuda.test ./cuda/
#   go build -tags cuda -o bin/bench ./cmd/bench
# then run it there with bin/ carried:   tools/gpucheck.sh
#
# Per-step limits in seconds (env): GPUCHECK_TEST_S (180), GPUCHECK_MEMCHECK_S (150),
# GPUCHECK_RACECHECK_S (90), GPUCHECK_BENCH_S (120). BENCH_ARGS adds flags to bin/bench.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-$PWD/.gpu/out}
mkdir -p "$OUT"
BIN=${BIN:-bin}
summary=()
failed=0

# step NAME LIMIT CMD...: runs CMD with a time limit, logs to $OUT/NAME.log, records the result.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS rc
  echo "== $name: $*" | tee -a "$OUT/steps.log"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  local dt=$((SECONDS - t0)) verdict=ok
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    verdict="TIMEOUT(${limit}s)"
  elif [ $rc -ne 0 ]; then
    verdict="FAIL(rc=$rc)"
  fi
  [ "$verdict" = ok ] || failed=1
  summary+=("$(printf '%-12s %-16s %5ss  %s' "$name" "$verdict" "$dt" "$OUT/$name.log")")
  tail -n 5 "$OUT/$name.log" | sed 's/^/   /'
}

for f in "$BIN/cuda.test" "$BIN/bench"; do
  if [ ! -x "$f" ]; then
    echo "gpucheck: $f missing: build it here first (see the top of this script)" | tee "$OUT/summary.txt" >&2
    exit 2
  fi
done

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  command -v compute-sanitizer || echo "compute-sanitizer: not found"
} >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# 1. Every cuda test: conformance (both conv versions), kernel loading, pool, CPU comparison.
step tests "${GPUCHECK_TEST_S:-180}" "$BIN/cuda.test" -test.v -test.count=1 -test.timeout=170s

# 2. Out-of-bounds and misaligned accesses, uninitialized reads of device memory, leaks.
#    The debug mode synchronizes after each launch so a report names its kernel.
if command -v compute-sanitizer >/dev/null; then
  step memcheck "${GPUCHECK_MEMCHECK_S:-150}" env PIXELCNN_CUDA_DEBUG=1 compute-sanitizer --tool memcheck \
    --error-exitcode 1 --print-limit 20 "$BIN/cuda.test" -test.count=1 \
    -test.run 'TestConformance|TestKernelsLoad|TestPoolNoAllocAfterFirstStep|TestDeferredError'
  # 3. Shared-memory races in the tiled kernels (the conv tests exercise all of them).
  step racecheck "${GPUCHECK_RACECHECK_S:-90}" compute-sanitizer --tool racecheck \
    --error-exitcode 1 --print-limit 20 "$BIN/cuda.test" -test.count=1 \
    -test.run 'TestConformance/conv-v2/(MaskedConv|SoftmaxXent|Elementwise)$'
else
  summary+=("memcheck     SKIPPED (no compute-sanitizer)")
fi

# 4. Kernel benchmark: CPU reference vs GPU, both conv versions; table in the log, JSON beside.
# shellcheck disable=SC2086
step bench "${GPUCHECK_BENCH_S:-120}" "$BIN/bench" --json-out "$OUT/bench.json" ${BENCH_ARGS:-}

{
  echo "gpucheck summary ($(head -n 1 "$OUT/device.txt"))"
  sed -n 2,3p "$OUT/device.txt"
  printf '%s\n' "${summary[@]}"
  grep -E '^(--- FAIL|FAIL|ok|PASS)' "$OUT/tests.log" 2>/dev/null | head -n 20
  if [ -s "$OUT/bench.log" ]; then echo; cat "$OUT/bench.log"; fi
  [ $failed -eq 0 ] && echo "RESULT: all steps passed" || echo "RESULT: some steps failed (see logs)"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $failed
