#!/usr/bin/env bash
# gpucheck.sh — the GPU check, run on the lent GPU machine (which has no Go): the cuda tests
# (conformance of conv versions 1-3, TF32 bounds, the sampler's exact per-position kernels and
# device draw, graphs, the profiler), GPU-vs-CPU training at fp32 and tf32 (the seed's mnist
# preset; the gated preset, unconditional and class-conditional, at fp32), the train step in
# both precisions, the per-op profile with rooflines, the sampler, the PyTorch peer on the same
# GPU (eager at batch 16 and 64, channels_last, TF32 off, torch.compile), the kernel table,
# compute-sanitizer memcheck and racecheck, and the CLI's answers to bad input on a GPU. Logs go
# under $OUT; a summary table is written last ($OUT/summary.txt, also printed), with our GPU
# train step next to PyTorch's. One call fits in about 8 minutes (GPUCHECK_TOTAL_S).
#
# Build here first (binaries link libcuda.so.1 dynamically and run on the newer driver):
#   make gpu-prep        # = make gpu-bins (the PTX; bin/cuda.test, the cuda-tagged commands in
#                        #   bin/, bin/train-cpu for the missing-backend notice) and MNIST's
#                        #   idx files in .gpu/mnist; 50 MiB in all
# then run it there with bin, kernels/ptx and .gpu carried:   tools/gpu-session.sh
# (which runs this script with OUT=$OUT/g and packs the logs into $OUT/gpucheck.tgz).
#
# Steps, in order (GPUCHECK_STEPS, a comma list, runs a subset, where "default" stands for every
# step but the opt-in mnist20; GPUCHECK_SKIP, a comma list, leaves steps out; default: all but
# mnist20). tools/gpucheck-dry.sh runs this script here, with no GPU, against stand-ins that
# check each step's command line (flags, test names) instead of running it (make test does).
#   tests        every cuda test but the training comparisons             GPUCHECK_TEST_S (180)
#   trainmatch   TestTrainMatchesCPU{,TF32}: 200 mnist steps, GPU vs CPU  GPUCHECK_TRAINMATCH_S (150)
#   traingated   TestGatedTrainMatchesCPU: 20 gated-preset steps, unconditional and 10-class,
#                GPU (fp32) vs CPU                                       GPUCHECK_TRAINGATED_S (90)
#   trainfp32    bench --train-only --precision fp32 (mnist, cifar10; 16, 64)  GPUCHECK_TRAINBENCH_S (90)
#   traintf32    the same at tf32                                         GPUCHECK_TRAINBENCH_S (90)
#   trainnograph the same at tf32 with CUDA graphs off (tolerated)       GPUCHECK_TRAINNOGRAPH_S (60)
#   profile      bench --profile: mnist and cifar10, batch 16, fp32 and tf32  GPUCHECK_PROFILE_S (120)
#   profiledw    cifar10 tf32 again with PIXELCNN_CUDA_DW_BLOCKS=400 (tolerated)  GPUCHECK_PROFILEDW_S (45)
#   sampleat     per-position kernel v1 vs v2 (cifar10 1x1 768->768, 16 images)  GPUCHECK_SAMPLE_S (90)
#   sample       the sampler: mnist/cifar10 x 16/64 images x graphs/plain  GPUCHECK_SAMPLE_S (90)
#   samplev1     16 cifar10 images through the old path (PIXELCNN_CUDA_AT=1), same run  (90)
#   peer         tools/peer/bench.py --device cuda, batch 16 and 64 (PyTorch's TF32 default)  GPUCHECK_PEER_S (120)
#   peercl       the same, channels_last                                  GPUCHECK_PEER_S (120)
#   peerfp32     the same, TF32 off (the fair partner of our fp32)        GPUCHECK_PEER_S (120)
#   bench        bin/bench --train=false (kernels, CPU vs GPU, versions 1-3)  GPUCHECK_BENCH_S (90)
#   memcheck     compute-sanitizer memcheck on the conformance, v3, position and sampler tests  (150)
#   racecheck    compute-sanitizer racecheck on the v2 tiled and step kernels  GPUCHECK_RACECHECK_S (75)
#   racecheck3   the same on the v3 cp.async/mma kernels                  GPUCHECK_RACECHECK_S (75)
#   racecheckpos the same on the per-position kernels and warp draws      GPUCHECK_RACECHECK_S (75)
#   cli          bad input on the GPU: --precision bf16, 10^9 samples, temperature Inf, eval's
#                dataset from the checkpoint, the untagged binary's missing-backend notice  (60)
#   nccl         TestNCCLOneRank: a 1-rank NCCL communicator's collectives on the GPU (libnccl
#                from PIXELCNN_NCCL_LIB, ldconfig or PyTorch's nvidia-nccl wheel; skips without)  (60)
#   peercompile  the peer with --compile (failure tolerated)              GPUCHECK_PEERCOMPILE_S (150)
#   mnist20      opt-in (name it in GPUCHECK_STEPS): make train's GPU job at tf32, 20 epochs on
#                MNIST from GPUCHECK_DATA_DIR; its full-test bits/dim against fp32's  (300)
# Each step runs under its own limit and under what is left of GPUCHECK_TOTAL_S (480) for
# the whole script; a step with under 20 s left is skipped. BENCH_ARGS adds flags to the
# kernel bench, TRAIN_BENCH_ARGS to the train-step benches, PEER_ARGS to every peer run.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-$PWD/.gpu/out}
mkdir -p "$OUT"
BIN=${BIN:-bin}
DEFAULT_STEPS=tests,trainmatch,traingated,trainfp32,traintf32,trainnograph,profile,profiledw,sampleat,sample,samplev1,peer,peercl,peerfp32,bench,memcheck,racecheck,racecheck3,racecheckpos,cli,nccl,peercompile
STEPS=",${GPUCHECK_STEPS:-default},"
STEPS=${STEPS//,default,/,$DEFAULT_STEPS,}
SKIP=",${GPUCHECK_SKIP:-},"
# A misspelt step would run nothing and report that all steps passed: refuse it.
for name in ${STEPS//,/ } ${SKIP//,/ }; do
  if [[ ",$DEFAULT_STEPS,mnist20," != *",$name,"* ]]; then
    echo "gpucheck: unknown step \"$name\" in GPUCHECK_STEPS or GPUCHECK_SKIP (steps: default $DEFAULT_STEPS,mnist20)" >&2
    exit 2
  fi
done
if [ -z "${STEPS//,/}" ]; then
  echo "gpucheck: GPUCHECK_STEPS names no step" >&2
  exit 2
fi
TOTAL=${GPUCHECK_TOTAL_S:-480}
summary=()
failed=0
skipped=0 # steps left out for lack of time (GPUCHECK_TOTAL_S)

wanted() { [[ $STEPS == *",$1,"* && $SKIP != *",$1,"* ]]; }

# step NAME LIMIT CMD...: runs CMD with a time limit (at most what is left of TOTAL), logs to
# $OUT/NAME.log, records the result. With SOFT=1 a failure is reported but not counted.
step() {
  local name=$1 limit=$2
  shift 2
  wanted "$name" || return 0
  local left=$((TOTAL - SECONDS - 5))
  if [ $left -lt 20 ]; then
    summary+=("$(printf '%-12s %-22s' "$name" "SKIPPED(time)")")
    skipped=$((skipped + 1))
    echo "== $name: skipped, ${left}s left of GPUCHECK_TOTAL_S=$TOTAL" | tee -a "$OUT/steps.log"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS rc
  echo "== $name (limit ${limit}s): $*" | tee -a "$OUT/steps.log"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  local dt=$((SECONDS - t0)) verdict=ok
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    verdict="TIMEOUT(${limit}s)"
  elif [ $rc -ne 0 ]; then
    verdict="FAIL(rc=$rc)"
  fi
  if [ "$verdict" != ok ]; then
    if [ "${SOFT:-0}" = 1 ]; then verdict="$verdict,tolerated"; else failed=1; fi
  fi
  summary+=("$(printf '%-12s %-22s %5ss  %s' "$name" "$verdict" "$dt" "$OUT/$name.log")")
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
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -n 1
} >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

lim() { echo "${!1:-$2}"; }

# 1. Every cuda test: conformance (conv versions 1 and 2 at fp32, version 3 at the TF32 bounds
#    of nn/backendtest/tf32.go), kernel loading, pool, the sampler's exact per-position kernels,
#    device draw and graph replay, the profiler, the codec round trip. Training comparisons are
#    their own step.
t=$(lim GPUCHECK_TEST_S 180)
step tests "$t" "$BIN/cuda.test" -test.v -test.count=1 -test.timeout=$((t - 10))s -test.skip 'TestTrainMatchesCPU|TestGatedTrainMatchesCPU'

# 2. 200 training steps of the mnist preset on the GPU and the CPU backend, same weights and
#    data order, at fp32 (v2) and at tf32 (v3 against the CPU's TF32 emulation): the loss
#    curves must agree (tolerances in cuda/train_test.go).
t=$(lim GPUCHECK_TRAINMATCH_S 150)
step trainmatch "$t" "$BIN/cuda.test" -test.run 'TrainMatchesCPU' -test.v -test.count=1 -test.timeout=$((t - 10))s

# 2b. The gated preset (every tap region, dilations 1-4, the gate, ELU; the 10-class run adds the
#    class bias and its backward) trained 20 steps on the GPU at fp32 and on the CPU backend from
#    the same weights and data: the losses must agree (tolerances in cuda/gated_test.go).
t=$(lim GPUCHECK_TRAINGATED_S 90)
step traingated "$t" "$BIN/cuda.test" -test.run 'TestGatedTrainMatchesCPU' -test.v -test.count=1 -test.timeout=$((t - 10))s

# 3. Full train steps (mnist 28x28x1, cifar10 32x32x3; batch 16 and 64) on the GPU, each precision,
#    recorded as one CUDA graph per step (the default); then at tf32 with graphs off (the same
#    ops launched one by one) for what the graph saves.
for prec in fp32 tf32; do
  # shellcheck disable=SC2086
  step "train$prec" "$(lim GPUCHECK_TRAINBENCH_S 90)" "$BIN/bench" --train-only --cpu-train=false \
    --precision "$prec" --json-out "$OUT/train$prec.json" ${TRAIN_BENCH_ARGS:-}
done
# (A measurement for the ratio, not a check: a failure or timeout is tolerated.)
# shellcheck disable=SC2086
SOFT=1 step trainnograph "$(lim GPUCHECK_TRAINNOGRAPH_S 60)" env PIXELCNN_CUDA_GRAPHS=0 "$BIN/bench" --train-only --cpu-train=false \
  --precision tf32 --json-out "$OUT/trainnograph.json" ${TRAIN_BENCH_ARGS:-}

# 4. The per-op profile of one train step (CUDA events, no nsys): table, JSON and a roofline PNG
#    per preset and precision.
step profile "$(lim GPUCHECK_PROFILE_S 120)" bash -c '
  for preset in mnist cifar10; do for prec in fp32 tf32; do
    echo "=== $preset $prec"
    "$0" --profile --preset $preset --batch 16 --precision $prec \
      --profile-json "$1/profile-$preset-$prec.json" --roofline "$1/roofline-$preset-$prec.png" || exit 1
  done; done' "$BIN/bench" "$OUT"
# The cifar10 tf32 profile again with dW split for ~400 blocks (one wave of v3's 3 blocks per
# SM on 132 SMs) instead of ~1024: fewer partial sums written and re-read (~2.3 GB per step at
# 1024, counted by hand) against a less full GPU. Tuning data; a failure is tolerated.
SOFT=1 step profiledw "$(lim GPUCHECK_PROFILEDW_S 45)" env PIXELCNN_CUDA_DW_BLOCKS=400 "$BIN/bench" --profile \
  --preset cifar10 --batch 16 --precision tf32 --profile-json "$OUT/profile-cifar10-tf32-dw400.json"

# 5. The sampler. The per-position kernel v1 vs v2 at the cifar10 preset's 1x1 shape (target
#    >= 20x); whole sampling runs in every mode (target: 16 cifar10 images <= 1 s, 16 mnist
#    <= 0.1 s); and the old path (v1 kernels, host draw) in the same run for the ratio.
step sampleat "$(lim GPUCHECK_SAMPLE_S 90)" "$BIN/cuda.test" -test.run '^$' -test.bench 'MaskedConvAt' -test.benchtime 1x -test.v
step sample "$(lim GPUCHECK_SAMPLE_S 90)" "$BIN/cuda.test" -test.run '^$' -test.bench 'SampleGPU|SampleCIFAR$' -test.benchtime 1x -test.v
step samplev1 "$(lim GPUCHECK_SAMPLE_S 90)" env PIXELCNN_CUDA_AT=1 PIXELCNN_CUDA_GRAPHS=0 PIXELCNN_CUDA_DEVICE_DRAW=0 \
  "$BIN/cuda.test" -test.run '^$' -test.bench 'SampleCIFAR$' -test.benchtime 1x -test.v

# 6. The PyTorch twin on the same GPU: train steps (batch 16 and 64) and masked conv fwd+bwd,
#    with PyTorch's defaults (TF32 convolutions), in channels_last, and with TF32 off.
peer=(python3 tools/peer/bench.py --device cuda --kinds train_step,conv_fwd_bwd --presets mnist,cifar10 --with-cifar-train --batches 16,64)
# shellcheck disable=SC2086
step peer "$(lim GPUCHECK_PEER_S 120)" "${peer[@]}" ${PEER_ARGS:-}
# shellcheck disable=SC2086
SOFT=1 step peercl "$(lim GPUCHECK_PEER_S 120)" "${peer[@]}" --channels-last ${PEER_ARGS:-}
# shellcheck disable=SC2086
SOFT=1 step peerfp32 "$(lim GPUCHECK_PEER_S 120)" "${peer[@]}" --tf32 off ${PEER_ARGS:-}

# 7. Kernel benchmark: CPU reference vs GPU, every conv version; table in the log, JSON beside.
# shellcheck disable=SC2086
step bench "$(lim GPUCHECK_BENCH_S 90)" "$BIN/bench" --train=false --json-out "$OUT/bench.json" ${BENCH_ARGS:-}

if command -v compute-sanitizer >/dev/null; then
  # 8. Out-of-bounds and misaligned accesses, uninitialized reads of device memory, leaks.
  #    The debug mode synchronizes after each launch so a report names its kernel. -short keeps
  #    TestConvTF32 to the conformance shapes (the cifar10 ones are slow under the sanitizer).
  step memcheck "$(lim GPUCHECK_MEMCHECK_S 150)" env PIXELCNN_CUDA_DEBUG=1 compute-sanitizer --tool memcheck \
    --error-exitcode 1 --print-limit 20 "$BIN/cuda.test" -test.count=1 -test.short \
    -test.run 'TestConformance|TestConvTF32|TestFusedOpsV3|TestGatedConvTF32|TestGatedConvAt|TestKernelsLoad|TestPoolNoAllocAfterFirstStep|TestDeferredError|PositionKernelsBitwise|DrawAtCursor|VectorConvAtCursor|SamplersOnGPU'
  # 9. Shared-memory races: the tiled kernels (v2) and the step kernels' ordered sums, the
  #    cp.async pipelines (v3), the per-position kernels and warp draws. One run each: go
  #    test's -run cannot OR patterns across subtest levels.
  step racecheck "$(lim GPUCHECK_RACECHECK_S 75)" compute-sanitizer --tool racecheck \
    --error-exitcode 1 --print-limit 20 "$BIN/cuda.test" -test.count=1 \
    -test.run 'TestConformance/conv-v2/(MaskedConv|SoftmaxXent|Elementwise|StepRecorder)$'
  step racecheck3 "$(lim GPUCHECK_RACECHECK_S 75)" compute-sanitizer --tool racecheck \
    --error-exitcode 1 --print-limit 20 "$BIN/cuda.test" -test.count=1 -test.short \
    -test.run 'TestConvTF32/(k3|k7|wide|many)'
  step racecheckpos "$(lim GPUCHECK_RACECHECK_S 75)" compute-sanitizer --tool racecheck \
    --error-exitcode 1 --print-limit 20 "$BIN/cuda.test" -test.count=1 -test.run 'PositionKernelsBitwise|DrawAtCursor'
else
  summary+=("memcheck     SKIPPED (no compute-sanitizer)")
fi

# 10. What a user sees on a GPU machine when the input is bad (each must fail cleanly, no trace).
step cli 60 bash tools/gpucheck-cli.sh "$BIN"

# 10b. NCCL (pixelcnn/dist/nccl, dlopen'd): a communicator of one rank on this GPU, next to the
#    Backend, runs allgather, allreduce, broadcast and a barrier on real data. The library:
#    PIXELCNN_NCCL_LIB, else the loader's libnccl.so.2, else the one in PyTorch's nvidia-nccl
#    wheel. Without any the test skips (the summary says so).
nccl_lib() {
  if [ -n "${PIXELCNN_NCCL_LIB:-}" ]; then echo "$PIXELCNN_NCCL_LIB"; return; fi
  if ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2 '; then echo libnccl.so.2; return; fi
  python3 -c 'import os, nvidia.nccl as n
for d in n.__path__:
    p = os.path.join(d, "lib", "libnccl.so.2")
    if os.path.exists(p):
        print(p)
        break' 2>/dev/null || true
}
step nccl 60 env PIXELCNN_NCCL_LIB="$(nccl_lib)" "$BIN/cuda.test" -test.run 'TestNCCLOneRank' -test.v -test.count=1
if grep -q -- '--- SKIP: TestNCCLOneRank' "$OUT/nccl.log" 2>/dev/null; then
  summary+=("nccl         (the test skipped: $(grep -m1 -o 'no NCCL on this machine.*' "$OUT/nccl.log" | cut -c1-120))")
fi

# 11. The peer again with torch.compile (compile time is not timed: it happens in warm-up).
#    Its failure (an old torch, no compiler) is reported but does not fail the check.
# shellcheck disable=SC2086
SOFT=1 step peercompile "$(lim GPUCHECK_PEERCOMPILE_S 150)" "${peer[@]}" --compile ${PEER_ARGS:-}

# 12. Opt-in: make train's GPU job (the mnist preset, 20 epochs) at tf32. The target: its final
#    full-test bits/dim within 0.01 of the fp32 run's (1.0106 on the H200, 2026-11-28), so that
#    TF32 costs no likelihood.
step mnist20 "$(lim GPUCHECK_MNIST20_S 300)" "$BIN/train" --dataset mnist --preset mnist --device cuda \
  --epochs 20 --precision tf32 --data-dir "${GPUCHECK_DATA_DIR:-.gpu/mnist}" --run-dir "$OUT/mnist20-tf32"

# The train-step comparison: our GPU step at fp32 and tf32 (bench --train-only) next to
# PyTorch's (eager with its TF32 default, channels_last, TF32 off, torch.compile), batch 16 and 64.
compare() {
  python3 - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]

def peer(name):
    rows = {}
    try:
        for line in open(os.path.join(out, name + ".log")):
            if line.startswith("{"):
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                rows[(r["name"], r.get("batch", 16))] = r
    except OSError:
        pass
    return rows

def ours(name):
    rows = {}
    try:
        rep = json.load(open(os.path.join(out, "train%s.json" % name)))
    except (OSError, ValueError):
        return rows, "?"
    for r in rep.get("train_steps") or []:
        rows[(r["preset"], r["batch"])] = r
    return rows, rep.get("device", "?")

fp32, dev = ours("fp32")
tf32, dev2 = ours("tf32")
nograph, _ = ours("nograph")
eager, cl, off, comp = peer("peer"), peer("peercl"), peer("peerfp32"), peer("peercompile")
tf = next(iter(eager.values()), {})

def ms(rows, key):
    r = rows.get(key) or {}
    return r.get("ms") or r.get("gpu_ms")

def f(v):
    return "%.3f" % v if v else "-"

def ratio(a, b):
    return "%.2fx" % (a / b) if a and b else "-"

print("train step, GPU (%s): median ms/step; ratio = ours / torch (< 1: we are faster)" % (dev if dev != "?" else dev2))
print("torch: cudnn.allow_tf32=%s matmul.allow_tf32=%s in the eager run; peerfp32 has both off" %
      (tf.get("cudnn_tf32", "?"), tf.get("matmul_tf32", "?")))
print("ours: fp32 and tf32 with the step recorded as a CUDA graph; tf32-nog with graphs off")
hdr = ("preset", "batch", "fp32", "tf32", "tf32-nog", "eager", "eagerCL", "eagerFP32", "compile",
       "tf32/eager", "tf32/best", "tf32/compile", "fp32/eagerFP32", "graph/nog")
print("%-8s %5s %8s %8s %8s %8s %8s %9s %8s %10s %9s %12s %14s %9s" % hdr)
for preset in ("mnist", "cifar10"):
    for batch in (16, 64):
        o32, o19, ng = ms(fp32, (preset, batch)), ms(tf32, (preset, batch)), ms(nograph, (preset, batch))
        k = (preset + "/train_step", batch)
        e, c, x, cp = ms(eager, k), ms(cl, k), ms(off, k), ms(comp, k)
        best = min([v for v in (e, c) if v] or [0])
        print("%-8s %5d %8s %8s %8s %8s %8s %9s %8s %10s %9s %12s %14s %9s" % (preset, batch, f(o32), f(o19), f(ng), f(e), f(c), f(x), f(cp),
              ratio(o19, e), ratio(o19, best), ratio(o19, cp), ratio(o32, x), ratio(o19, ng)))
modes = sorted({r.get("gpu_step_mode", "?") for rows in (fp32, tf32, nograph) for r in rows.values()})
print("step modes seen: " + ", ".join(modes))
conv = sorted(k for k in eager if not k[0].endswith("/train_step") and k[1] == 16)
if conv:
    print("torch masked conv fwd+bwd, batch 16 (ms, eager/channels_last/TF32 off): " + ", ".join(
        "%s %s/%s/%s" % (k[0], f(ms(eager, k)), f(ms(cl, k)), f(ms(off, k))) for k in conv))
EOF
}

# The dW split at ~1024 blocks (default) against ~400 (profiledw), cifar10 tf32: the dW and
# dW-reduce rows of both profiles and their steps, to choose the default from.
dwsplit() {
  python3 - "$OUT/profile-cifar10-tf32.json" "$OUT/profile-cifar10-tf32-dw400.json" <<'EOF'
import json, sys
try:
    a, b = (json.load(open(p)) for p in sys.argv[1:3])
except (OSError, ValueError):
    sys.exit(0)  # a profile is missing: nothing to compare
print("dW split, cifar10 tf32 batch 16 (ms): default (~1024 blocks) vs PIXELCNN_CUDA_DW_BLOCKS=400")
for k in ("step_ms", "unprofiled_step_ms", "graph_step_ms"):
    print("  %-28s %9.3f %9.3f" % (k, a.get(k) or 0, b.get(k) or 0))
def rows(r):
    return {(g["op"], g["layer"]): g for g in r.get("groups") or [] if g["op"] in ("conv dW", "conv dW-reduce")}
ra, rb = rows(a), rows(b)
for key in sorted(set(ra) | set(rb)):
    ga, gb = ra.get(key, {}), rb.get(key, {})
    print("  %-14s %-18s %9.3f %9.3f" % (key[0], key[1], ga.get("ms", 0), gb.get("ms", 0)))
EOF
}

{
  echo "gpucheck summary ($(head -n 1 "$OUT/device.txt"))"
  sed -n 2,4p "$OUT/device.txt"
  printf '%s\n' "${summary[@]}"
  grep -E '^(--- FAIL|FAIL|ok|PASS)' "$OUT/tests.log" 2>/dev/null | head -n 20
  grep -E '^(--- FAIL|--- PASS|--- SKIP)|max rel diff|steps in' "$OUT/trainmatch.log" 2>/dev/null | head -n 20
  grep -E -- '--- (FAIL|PASS|SKIP)|step 1:' "$OUT/traingated.log" 2>/dev/null | head -n 20
  if [ -s "$OUT/bench.log" ]; then echo; cat "$OUT/bench.log"; fi
  for prec in fp32 tf32 nograph; do
    if [ -s "$OUT/train$prec.log" ]; then echo; echo "train steps, $prec:"; grep -v '^bench: train ' "$OUT/train$prec.log"; fi
  done
  if [ -s "$OUT/profile.log" ]; then echo; cat "$OUT/profile.log"; fi
  if [ -s "$OUT/profiledw.log" ]; then echo; echo "profile, dW at ~400 blocks:"; cat "$OUT/profiledw.log"; echo; dwsplit 2>&1; fi
  for s in sampleat sample samplev1; do
    if [ -s "$OUT/$s.log" ]; then echo; echo "$s:"; grep -E '^(Benchmark|---|ok|FAIL|PASS)|/s|speedup|images' "$OUT/$s.log" | head -n 30; fi
  done
  if [ -s "$OUT/cli.log" ]; then echo; echo "cli:"; cat "$OUT/cli.log"; fi
  if [ -s "$OUT/mnist20-tf32/metrics.jsonl" ]; then
    echo; echo "mnist20 (tf32): the last evaluation; fp32's was 1.0106 bits/dim on the full test set (H200):"
    grep test_bpd "$OUT/mnist20-tf32/metrics.jsonl" | tail -n 1
  fi
  echo
  compare 2>&1 || echo "(no comparison table: python3 failed)"
  if [ $failed -ne 0 ]; then
    echo "RESULT: some steps failed (see logs)"
  elif [ $skipped -ne 0 ]; then
    echo "RESULT: no step failed, but $skipped did not run (out of time: GPUCHECK_TOTAL_S=$TOTAL)"
  else
    echo "RESULT: all steps passed"
  fi
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $failed
