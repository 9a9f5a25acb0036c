#!/usr/bin/python3
"""Evaluates a Go PixelCNN checkpoint with the PyTorch twin (tools/peer/pixelcnn_torch.py).

  /usr/bin/python3 tools/interop.py --checkpoint CKPT --dataset mnist|fashion-mnist|cifar10 \
      --images PATH --limit N [--batch B]

Loads the safetensors checkpoint with a pure-Python reader, rebuilds the model from the
metadata's config, fails loudly unless every masked weight entry is exactly 0, reads the
first N images of PATH in file order (an idx images file, gzipped or raw, for mnist and
fashion-mnist; a CIFAR-10 binary batch file for cifar10), and for a class-conditional model
their labels (--labels: an idx1-ubyte label file; a CIFAR-10 batch carries its own), and
prints one JSON line
  {"bits_per_dim": ..., "nats_per_image": ..., "images": N}
computed in float64 (model and input cast to double).
"""

import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer"))
from pixelcnn_torch import bits_per_dim, model_from_checkpoint  # noqa: E402

CIFAR_RECORD = 1 + 3 * 32 * 32


def _open(path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx_images(path, limit):
    """First `limit` images of an idx3-ubyte file as uint8 [N, 1, rows, cols]."""
    with _open(path) as f:
        head = f.read(16)
        if len(head) < 16:
            raise ValueError(f"{path}: too short for an idx images header")
        magic, n, rows, cols = struct.unpack(">IIII", head)
        if magic != 0x00000803:
            raise ValueError(f"{path}: idx magic {magic:#010x}, want 0x00000803 (unsigned byte, 3 dims)")
        if limit > n:
            raise ValueError(f"{path}: asked for {limit} images but the file holds {n}")
        want = limit * rows * cols
        buf = f.read(want)
        if len(buf) != want:
            raise ValueError(f"{path}: truncated: {len(buf)} of {want} image bytes")
    return np.frombuffer(buf, dtype=np.uint8).reshape(limit, 1, rows, cols)


def read_idx_labels(path, limit):
    """First `limit` labels of an idx1-ubyte file as int64 [N]."""
    with _open(path) as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: too short for an idx labels header")
        magic, n = struct.unpack(">II", head)
        if magic != 0x00000801:
            raise ValueError(f"{path}: idx magic {magic:#010x}, want 0x00000801 (unsigned byte, 1 dim)")
        if limit > n:
            raise ValueError(f"{path}: asked for {limit} labels but the file holds {n}")
        buf = f.read(limit)
        if len(buf) != limit:
            raise ValueError(f"{path}: truncated: {len(buf)} of {limit} label bytes")
    return np.frombuffer(buf, dtype=np.uint8).astype(np.int64)


def read_cifar_labels(path, limit):
    """First `limit` labels of a CIFAR-10 binary batch as int64 [N]."""
    with open(path, "rb") as f:
        buf = f.read(limit * CIFAR_RECORD)
    return np.frombuffer(buf, dtype=np.uint8).reshape(limit, CIFAR_RECORD)[:, 0].astype(np.int64)


def read_cifar_images(path, limit):
    """First `limit` images of a CIFAR-10 binary batch as uint8 [N, 3, 32, 32] (RGB)."""
    size = os.path.getsize(path)
    if size % CIFAR_RECORD:
        raise ValueError(f"{path}: size {size} is not a multiple of the {CIFAR_RECORD}-byte CIFAR-10 record")
    n = size // CIFAR_RECORD
    if limit > n:
        raise ValueError(f"{path}: asked for {limit} images but the file holds {n}")
    with open(path, "rb") as f:
        buf = f.read(limit * CIFAR_RECORD)
    rec = np.frombuffer(buf, dtype=np.uint8).reshape(limit, CIFAR_RECORD)
    return rec[:, 1:].reshape(limit, 3, 32, 32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True, choices=["mnist", "fashion-mnist", "cifar10"])
    p.add_argument("--images", required=True, help="idx images file (.gz or raw) or CIFAR-10 binary batch")
    p.add_argument("--limit", type=int, required=True, help="number of images, from the start of the file")
    p.add_argument("--labels", help="idx1-ubyte label file (.gz or raw) for a class-conditional mnist/fashion-mnist model")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args(argv)
    if a.limit < 1 or a.batch < 1:
        p.error("--limit and --batch must be positive")
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    model, meta, cfg = model_from_checkpoint(a.checkpoint)
    if a.dataset == "cifar10":
        x = read_cifar_images(a.images, a.limit)
    else:
        x = read_idx_images(a.images, a.limit)
    want = (int(cfg["colors"]), int(cfg["height"]), int(cfg["width"]))
    if tuple(x.shape[1:]) != want:
        raise ValueError(f"{a.images}: images are {list(x.shape[1:])} (C, H, W) but the checkpoint's config is {list(want)}")

    labels = None
    if int(cfg.get("classes", 0)):
        if a.dataset == "cifar10":
            labels = read_cifar_labels(a.images, a.limit)
        elif a.labels:
            labels = read_idx_labels(a.labels, a.limit)
        else:
            raise ValueError("the checkpoint is class-conditional: give the images' labels with --labels")
    model = model.double().eval()
    bpd, nats = bits_per_dim(model, torch.from_numpy(x.copy()), batch=a.batch, labels=labels)
    print(json.dumps({"bits_per_dim": bpd, "nats_per_image": nats / a.limit, "images": a.limit}))


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        print(f"interop: {e}", file=sys.stderr)
        sys.exit(1)
