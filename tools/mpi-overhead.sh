#!/usr/bin/env bash
# What data parallelism over MPI costs per step on this machine (issue 18's target: 2 ranks
# with global batch 32 at most 1.15x the step time of one process with batch 16: the same work
# per process, one thread each). Prints the median per-step time of each (from metrics.jsonl,
# a line every 10 steps, the first dropped as warm-up), their ratio, and the time rank 0 spent
# in the reduction (waiting for the other rank included). Needs a quiet machine: anything else
# running on its cores shows in the ratio.
#   STEPS=200 PRESET=mnist tools/mpi-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-200}
PRESET=${PRESET:-mnist}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -tags mpi -o "$tmp/train" ./cmd/train
common=(--dataset mnist --preset "$PRESET" --device cpu --steps "$STEPS" --eval-every 0 --samples 0
  --final-eval-limit 16 --log-every 10 --checkpoint-every 0)
GOMAXPROCS=1 "$tmp/train" "${common[@]}" --batch 16 --run-dir "$tmp/one" >"$tmp/one.out"
GOMAXPROCS=1 mpirun --allow-run-as-root --oversubscribe -np 2 -x GOMAXPROCS "$tmp/train" "${common[@]}" \
  --batch 32 --run-dir "$tmp/two" >"$tmp/two.out"
/usr/bin/python3 - "$tmp" "$PRESET" <<'PY'
import json, statistics, sys
tmp, preset = sys.argv[1], sys.argv[2]
def step_ms(run, batch):
    lines = [json.loads(l) for l in open(f"{tmp}/{run}/metrics.jsonl")]
    per = [1000 * batch / l["images_per_sec"] for l in lines if l.get("images_per_sec")]
    return statistics.median(per[1:] or per), len(per)
one, n1 = step_ms("one", 16)
two, n2 = step_ms("two", 32)
print(f"preset {preset}, one thread per process")
print(f"1 process, batch 16:          median {one:8.2f} ms/step ({n1} intervals of 10 steps)")
print(f"mpirun -np 2, global batch 32: median {two:8.2f} ms/step ({n2} intervals)")
print(f"ratio {two / one:.3f} (target <= 1.15)")
PY
grep -h "^reduction:" "$tmp/two.out" | sed 's/^/mpirun -np 2 /' || echo "no reduction line in the 2-rank run's output" >&2
