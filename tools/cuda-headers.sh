#!/usr/bin/env bash
# cuda-headers.sh — which cuda.h the cuda-tagged build compiles against.
#
# gorgonia.org/cu v0.9.6 compiles against the CUDA 11.x and 12.x driver API headers, not
# CUDA 13's (CUDA 13 changed cuCtxCreate, cuMemAdvise and cuMemPrefetchAsync, which it calls).
# The driver API's ABI is stable, so a binary built against 11.8 or 12.4 headers runs on a
# CUDA 13 driver (the 2026-11-28 H200 run did exactly that). This script finds a usable cuda.h.
#
#   tools/cuda-headers.sh cflags     prints the CGO_CFLAGS the cuda build needs: empty when
#                                    the cuda.h cgo finds first is 11.x/12.x, else "-I DIR" of a
#                                    12.x header (PIXELCNN_CUDA_INCLUDE, or the one `fetch12`
#                                    cached); exits 1 with what to do when there is none.
#   tools/cuda-headers.sh fetch12    downloads Debian trixie's nvidia-cuda-dev 12.4 through apt
#                                    (its own apt lists; the system's sources are untouched),
#                                    keeps only cuda.h under $CACHE, prints that include dir.
#
# CACHE: ${PIXELCNN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pixelcnn}/cuda-12.4/include
set -euo pipefail

cache_root=${PIXELCNN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/pixelcnn}
cache12=$cache_root/cuda-12.4/include

# version_of FILE prints CUDA_VERSION from a cuda.h (e.g. 11080, 12040, 13000).
version_of() { sed -n 's/^#define CUDA_VERSION \([0-9]*\).*/\1/p' "$1" | head -n 1; }

# The cuda.h cgo reaches first: gorgonia.org/cu's #cgo CFLAGS list /usr/local/cuda/include
# before /usr/include (CGO_CFLAGS from the environment come before both).
default_header() {
  for d in /usr/local/cuda/include /usr/local/cuda-11.0/targets/x86_64-linux/include \
    /usr/local/cuda-10.2/include /usr/include /opt/cuda/include; do
    if [ -f "$d/cuda.h" ]; then
      echo "$d/cuda.h"
      return 0
    fi
  done
  return 1
}

usable() { # usable FILE: 11.x or 12.x
  local v
  v=$(version_of "$1")
  [ -n "$v" ] && [ "$v" -ge 11000 ] && [ "$v" -lt 13000 ]
}

cflags() {
  if [ -n "${PIXELCNN_CUDA_INCLUDE:-}" ]; then
    if [ -f "$PIXELCNN_CUDA_INCLUDE/cuda.h" ] && usable "$PIXELCNN_CUDA_INCLUDE/cuda.h"; then
      echo "-I$PIXELCNN_CUDA_INCLUDE"
      return 0
    fi
    echo "cuda-headers: PIXELCNN_CUDA_INCLUDE=$PIXELCNN_CUDA_INCLUDE has no CUDA 11.x/12.x cuda.h" >&2
    return 1
  fi
  local h
  if h=$(default_header) && usable "$h"; then
    return 0 # the default search finds a usable header: no flags needed
  fi
  if [ -f "$cache12/cuda.h" ]; then
    echo "-I$cache12"
    return 0
  fi
  {
    if [ -n "${h:-}" ]; then
      echo "cuda-headers: $h is CUDA $(version_of "$h"); gorgonia.org/cu v0.9.6 needs CUDA 11.x or 12.x headers."
    else
      echo "cuda-headers: no cuda.h found (looked in /usr/local/cuda/include and /usr/include)."
    fi
    echo "  The binary may still run on this driver: only the headers must be 11.x/12.x. Either"
    echo "  - run: tools/cuda-headers.sh fetch12   (Debian/Ubuntu with apt: caches CUDA 12.4's cuda.h), or"
    echo "  - set PIXELCNN_CUDA_INCLUDE to a CUDA 11.x/12.x include directory (any CUDA 12 toolkit's)."
  } >&2
  return 1
}

fetch12() {
  if [ -f "$cache12/cuda.h" ]; then
    echo "$cache12"
    return 0
  fi
  command -v apt-get >/dev/null || { echo "cuda-headers: fetch12 needs apt-get" >&2; return 1; }
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  echo "deb http://deb.debian.org/debian trixie non-free" >"$tmp/sources.list"
  local apt_opts=(-o "Dir::Etc::sourcelist=$tmp/sources.list" -o Dir::Etc::sourceparts=/dev/null -o APT::Sandbox::User=root
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o APT::Get::List-Cleanup=0)
  echo "cuda-headers: fetching Debian trixie's nvidia-cuda-dev (CUDA 12.4; ~930 MB, kept: cuda.h only)" >&2
  apt-get "${apt_opts[@]}" -qq update >&2
  (cd "$tmp" && apt-get "${apt_opts[@]}" -qq download nvidia-cuda-dev >&2)
  local deb
  deb=$(ls "$tmp"/nvidia-cuda-dev_*.deb)
  mkdir -p "$tmp/x"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" ./usr/include/cuda.h
  usable "$tmp/x/usr/include/cuda.h" || {
    echo "cuda-headers: the downloaded cuda.h is CUDA $(version_of "$tmp/x/usr/include/cuda.h"), not 12.x" >&2
    return 1
  }
  mkdir -p "$cache12"
  mv "$tmp/x/usr/include/cuda.h" "$cache12/cuda.h.tmp" && mv "$cache12/cuda.h.tmp" "$cache12/cuda.h"
  echo "$cache12"
}

case "${1:-}" in
cflags) cflags ;;
fetch12) fetch12 ;;
*)
  echo "usage: tools/cuda-headers.sh cflags|fetch12" >&2
  exit 2
  ;;
esac
