#!/usr/bin/env bash
# `make bench-peer`: our CPU kernels and train step against PyTorch (Debian's python3-torch,
# oneDNN) on the same shapes, same thread count. ROUNDS (default 3) alternates the two sides
# round by round (ours at every instruction set this CPU has, then PyTorch) so that a busy
# machine slows both alike; the table gives each case's median (min-max) and the ratio of
# medians ours/PyTorch (below 1 means we are faster). THREADS (default 2) sets both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
presets=${PRESETS:-mnist,cifar10,tiny,gated}
rounds=${ROUNDS:-3}
step_presets=${presets//,/|} # BenchmarkTrainStep runs cifar10 only when its pattern names it
torch_cifar=()
if [[ ,$presets, == *,cifar10,* ]]; then torch_cifar=(--with-cifar-train); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

GOMAXPROCS=$threads go test -c -o "$tmp/cpu.test" ./nn/cpu/
GOMAXPROCS=$threads go test -c -o "$tmp/pixelcnn.test" ./pixelcnn/
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  GOMAXPROCS=$threads "$tmp/cpu.test" -test.run '^$' -test.bench 'BenchmarkMaskedConv/fwdbwd' \
    -test.benchtime "${BENCHTIME:-10x}" | tee -a "$tmp/go.txt" >&2
  (cd pixelcnn && GOMAXPROCS=$threads "$tmp/pixelcnn.test" -test.run '^$' -test.bench "BenchmarkTrainStep/^($step_presets)\$" \
    -test.benchtime "${BENCHTIME:-10x}") | tee -a "$tmp/go.txt" >&2
  /usr/bin/python3 tools/peer/bench.py --threads "$threads" --presets "$presets" "${torch_cifar[@]}" | tee -a "$tmp/torch.jsonl" >&2
done

/usr/bin/python3 - "$tmp/go.txt" "$tmp/torch.jsonl" "$threads" "$rounds" <<'PYEOF'
import json, re, statistics, sys
go, torch = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"Benchmark(MaskedConv/fwdbwd|TrainStep)/(\S+?)(-\d+)?\s+\d+\s+(.*)", line)
    if not m:
        continue
    name = m.group(2)
    if m.group(1) == "TrainStep":
        name = name.replace("/b16", "/train_step")
    ms = re.search(r"([\d.]+) ms/op", m.group(4))
    if ms:
        go.setdefault(name, []).append(float(ms.group(1)))
ver = "?"
for line in open(sys.argv[2]):
    r = json.loads(line)
    torch.setdefault(r["name"], []).append(r["ms"])
    ver = r["torch"]
cpu = "?"
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass

def peer(name):
    # ours at another instruction set ("mnist/train_step/avx2") is compared with the same case
    base = re.sub(r"/(generic|avx2|avx512|amx)$", "", name)
    return torch.get(base)

def cell(v):
    return f"{statistics.median(v):.2f} ({min(v):.1f}-{max(v):.1f})"

print(f"\nbatch 16, {sys.argv[3]} threads, {sys.argv[4]} rounds, {cpu}, PyTorch {ver}")
print(f"{'case':<30} {'ours ms: median (min-max)':>28} {'torch ms':>24} {'ours/torch':>11}")
for name in sorted(go):
    t = peer(name)
    if not t:
        continue
    print(f"{name:<30} {cell(go[name]):>28} {cell(t):>24} {statistics.median(go[name])/statistics.median(t):>11.2f}")
PYEOF
