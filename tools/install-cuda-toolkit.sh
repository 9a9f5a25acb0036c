#!/usr/bin/env bash
# Installs Debian's nvidia-cuda-toolkit (11.8: nvcc, ptxas, cuda.h, libcuda stubs) from the
# non-free component, when nvcc is missing. Refuses on a machine with an NVIDIA driver: the
# package pulls Debian's libcuda1, which would fight the installed driver.
set -euo pipefail

if command -v nvcc >/dev/null 2>&1 && command -v ptxas >/dev/null 2>&1; then
  echo "install-cuda-toolkit: nvcc already present: $(command -v nvcc)"
  exit 0
fi
if [ -e /proc/driver/nvidia/version ] || command -v nvidia-smi >/dev/null 2>&1; then
  echo "install-cuda-toolkit: an NVIDIA driver is installed here; refusing to install Debian's" >&2
  echo "  nvidia-cuda-toolkit (it pulls libcuda1). Install the CUDA toolkit that matches the driver." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-cuda-toolkit: must run as root (apt-get)" >&2
  exit 1
fi

# Add non-free (and contrib) to apt's sources if they are not there yet.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  if ! grep -q 'non-free' /etc/apt/sources.list.d/debian.sources; then
    sed -i 's/^Components: main.*/Components: main contrib non-free non-free-firmware/' \
      /etc/apt/sources.list.d/debian.sources
  fi
elif [ -f /etc/apt/sources.list ] && ! grep -q 'non-free' /etc/apt/sources.list; then
  sed -i -E 's/^(deb .* main)$/\1 contrib non-free non-free-firmware/' /etc/apt/sources.list
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit nvidia-cuda-dev >/dev/null
echo "install-cuda-toolkit: installed $(nvcc --version | tail -n 1)"
