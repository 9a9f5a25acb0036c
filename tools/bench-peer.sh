#!/usr/bin/env bash
# `make bench-peer`: our CPU kernels and train step against PyTorch (Debian's python3-torch,
# oneDNN) on the same shapes, same thread count, in one run. Prints a table with the ratio
# ours/PyTorch (below 1 means we are faster). THREADS (default 2) sets both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
presets=${PRESETS:-mnist,cifar10,tiny}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

GOMAXPROCS=$threads go test -run '^$' -bench 'BenchmarkMaskedConv/fwdbwd|BenchmarkTrainStep' \
  -benchtime ${BENCHTIME:-10x} ./nn/cpu/ ./pixelcnn/ | tee "$tmp/go.txt" >&2
/usr/bin/python3 tools/peer/bench.py --threads "$threads" --presets "$presets" | tee "$tmp/torch.jsonl" >&2

/usr/bin/python3 - "$tmp/go.txt" "$tmp/torch.jsonl" "$threads" <<'PYEOF'
import json, re, sys, platform, subprocess
go = {}
for line in open(sys.argv[1]):
    m = re.match(r"Benchmark(MaskedConv/fwdbwd|TrainStep)/(\S+?)(-\d+)?\s+\d+\s+(.*)", line)
    if not m:
        continue
    name = m.group(2)
    if m.group(1) == "TrainStep":
        name = name.replace("/b16", "/train_step")
    ms = re.search(r"([\d.]+) ms/op", m.group(4))
    if ms:
        go[name] = float(ms.group(1))
torch = {}
ver = "?"
for line in open(sys.argv[2]):
    r = json.loads(line)
    torch[r["name"]] = r["ms"]
    ver = r["torch"]
cpu = "?"
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass
print(f"\nbatch 16, {sys.argv[3]} threads, {cpu}, PyTorch {ver}")
print(f"{'case':<24} {'ours ms':>10} {'torch ms':>10} {'ours/torch':>11}")
for name in sorted(set(go) & set(torch)):
    print(f"{name:<24} {go[name]:>10.2f} {torch[name]:>10.2f} {go[name]/torch[name]:>11.2f}")
PYEOF
