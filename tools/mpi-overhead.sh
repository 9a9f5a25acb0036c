#!/usr/bin/env bash
# What data parallelism over MPI costs per step on this machine (issue 18's target: 2 ranks
# with global batch 32 at most 1.15x the step time of one process with batch 16: the same work
# per process, one thread each). Three cases, interleaved round by round (ROUNDS, STEPS steps
# each): one process at batch 16; two independent processes at once at batch 16 each (what
# the machine itself charges for running two: shared caches, memory bandwidth, clocks; no
# communication); mpirun -np 2 at global batch 32. Each case's per-step time is the median
# over its rounds of the median step time in metrics.jsonl (a line every 10 steps, the first
# dropped as warm-up); the time rank 0 spent in the reduction (waiting for the other rank
# included) is printed per round. Needs a quiet machine.
#   ROUNDS=3 STEPS=150 PRESET=mnist tools/mpi-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-150}
PRESET=${PRESET:-mnist}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -tags mpi -o "$tmp/train" ./cmd/train
common=(--dataset mnist --preset "$PRESET" --device cpu --steps "$STEPS" --eval-every 0 --samples 0
  --final-eval-limit 16 --log-every 10 --checkpoint-every 0)
export GOMAXPROCS=1
for r in $(seq "$ROUNDS"); do
  "$tmp/train" "${common[@]}" --batch 16 --run-dir "$tmp/one-$r" >"$tmp/one-$r.out" 2>&1
  "$tmp/train" "${common[@]}" --batch 16 --run-dir "$tmp/pairA-$r" >"$tmp/pairA-$r.out" 2>&1 &
  "$tmp/train" "${common[@]}" --batch 16 --run-dir "$tmp/pairB-$r" >"$tmp/pairB-$r.out" 2>&1
  wait
  mpirun --allow-run-as-root --oversubscribe -np 2 -x GOMAXPROCS "$tmp/train" "${common[@]}" \
    --batch 32 --run-dir "$tmp/two-$r" >"$tmp/two-$r.out" 2>&1
  echo "round $r: $(grep -h '^reduction:' "$tmp/two-$r.out" || echo 'no reduction line')"
done
/usr/bin/python3 - "$tmp" "$PRESET" "$ROUNDS" <<'PY'
import json, statistics, sys
tmp, preset, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def step_ms(run, batch):
    lines = [json.loads(l) for l in open(f"{tmp}/{run}/metrics.jsonl")]
    per = [1000 * batch / l["images_per_sec"] for l in lines if l.get("images_per_sec")]
    return statistics.median(per[1:] or per)
def case(fn):
    vals = [fn(r) for r in range(1, rounds + 1)]
    return statistics.median(vals), min(vals), max(vals)
one = case(lambda r: step_ms(f"one-{r}", 16))
pair = case(lambda r: (step_ms(f"pairA-{r}", 16) + step_ms(f"pairB-{r}", 16)) / 2)
two = case(lambda r: step_ms(f"two-{r}", 32))
print(f"preset {preset}, one thread per process, {rounds} rounds interleaved; ms/step median (min-max of the rounds)")
for name, (m, lo, hi) in [("1 process, batch 16", one), ("2 independent processes at once, batch 16 each", pair),
                          ("mpirun -np 2, global batch 32", two)]:
    print(f"  {name:48s} {m:8.2f}  ({lo:.2f}-{hi:.2f})")
print(f"ratio 2 ranks / 1 process:                {two[0] / one[0]:.3f} (target <= 1.15)")
print(f"ratio 2 ranks / 2 independent processes:  {two[0] / pair[0]:.3f} (what the communication costs)")
PY
