#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine that has Go: Go modules (through
# the module proxy), the MNIST module, Debian's python3-torch and python3-numpy (the PyTorch
# interop check and peer benchmarks), dataset-fashion-mnist and Open MPI. The CUDA toolkit has
# its own script (tools/install-cuda-toolkit.sh), called by the cuda compile checks.
set -euo pipefail
cd "$(dirname "$0")/.."

go mod download
need=()
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
# Fashion-MNIST's idx files, read by TestSlowFashionMNIST and --dataset fashion-mnist.
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
# Open MPI (make test-mpi: the -tags mpi build links it through pkg-config ompi-c; mpirun).
{ pkg-config --exists ompi-c 2>/dev/null && command -v mpirun >/dev/null; } || need+=(libopenmpi-dev openmpi-bin)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need ${need[*]} and not root; install them with apt-get" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  echo "install-deps: installed ${need[*]}"
fi
