#!/usr/bin/python3
"""Peer benchmarks: the PyTorch twin of the Go PixelCNN, for comparing kernel and train-step
speed against the same math.

  /usr/bin/python3 tools/peer/bench.py [--threads 2] [--runs 20] [--device cpu|cuda]
      [--compile] [--presets mnist,cifar10,tiny,gated] [--kinds conv_fwd_bwd,train_step]
      [--with-cifar-train] [--batches 16,64] [--channels-last] [--tf32 default|on|off]

Cases (batch 16 unless --batches; NCHW, or channels_last memory format with --channels-last):
  conv_fwd_bwd  masked conv (weight * mask each call) + bias + ReLU, forward and backward
                (input requires grad, weight and bias grads):
                mnist/input7x7A (1->64, k7, 28x28)    cifar10/input7x7A (3->384, k7, 32x32)
                mnist/mid3x3B   (32->32, k3)          cifar10/mid3x3B   (192->192, k3)
                mnist/in1x1     (64->32)              cifar10/in1x1     (384->192)
                mnist/final1x1  (32->256)             cifar10/final1x1  (768->768)
  train_step    forward, cross-entropy loss, backward, Adam step of the whole model:
                mnist/train_step, tiny/train_step (tiny at 28x28, C=1), gated/train_step (the
                gated preset, tools/peer/gated_torch.py)
                (cifar10/train_step with --with-cifar-train)

--tf32 sets torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32 (default:
leave PyTorch's defaults, which are TF32 convolutions and FP32 matmuls); every record says what
was in force.

Each case is warmed up, then timed --runs times (fewer when one run is slow, so a case takes
about --max-seconds); the median is printed as one JSON line per case:
  {"name": ..., "kind": ..., "ms": median, "threads": T, "torch": version,
   "device": ..., "runs": n, "min_ms": fastest run, "batch": B, "cudnn_tf32": bool,
   "matmul_tf32": bool, "channels_last": bool}
On a shared machine min_ms is the less noisy number; ms (the median) is the headline.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pixelcnn_torch import PRESETS, PixelCNN, make_mask, nll_nats  # noqa: E402
from gated_torch import GatedPixelCNN  # noqa: E402

# The gated preset (pixelcnn/config.go's "gated": p 32, 7 layers, default dilations), 28x28x1.
GATED = dict(colors=1, height=28, width=28, hidden=32, blocks=7, dilations=[1, 2, 1, 4, 1, 2, 1])

# name -> (colors, size, f_in, f_out, k, mode)
CONV_CASES = [
    ("mnist/input7x7A", 1, 28, 1, 64, 7, "A"),
    ("mnist/mid3x3B", 1, 28, 32, 32, 3, "B"),
    ("mnist/in1x1", 1, 28, 64, 32, 1, "B"),
    ("mnist/final1x1", 1, 28, 32, 256, 1, "B"),
    ("cifar10/input7x7A", 3, 32, 3, 384, 7, "A"),
    ("cifar10/mid3x3B", 3, 32, 192, 192, 3, "B"),
    ("cifar10/in1x1", 3, 32, 384, 192, 1, "B"),
    ("cifar10/final1x1", 3, 32, 768, 768, 1, "B"),
]


class Timer:
    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def time(self, fn):
        """Milliseconds of one call of fn."""
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3


def measure(fn, timer, runs, warmup, max_seconds):
    first = [timer.time(fn) for _ in range(max(1, warmup))]
    est = min(first)
    n = runs
    if est * runs > max_seconds * 1e3:
        n = max(3, min(runs, int(max_seconds * 1e3 / max(est, 1e-3))))
    times = [timer.time(fn) for _ in range(n)]
    return statistics.median(times), min(times), n


def maybe_compile(fn, enabled):
    if not enabled:
        return fn
    if not hasattr(torch, "compile"):
        raise SystemExit(f"bench: --compile needs torch >= 2.0 (this is {torch.__version__})")
    return torch.compile(fn)


def to_format(t, channels_last):
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t


def conv_case(colors, size, f_in, f_out, k, mode, device, compile_, batch, channels_last):
    g = torch.Generator().manual_seed(0)
    x = to_format(torch.rand(batch, f_in, size, size, generator=g).to(device), channels_last).requires_grad_(True)
    w = to_format((torch.randn(f_out, f_in, k, k, generator=g) / (f_in * k * k) ** 0.5).to(device),
                  channels_last).requires_grad_(True)
    b = torch.zeros(f_out).to(device).requires_grad_(True)
    mask = to_format(make_mask(k, f_in, f_out, colors, mode).to(device), channels_last)
    gout = to_format(torch.randn(batch, f_out, size, size, generator=g).to(device), channels_last)

    def fwd(x, w, b):
        return F.relu(F.conv2d(x, w * mask, b, padding=k // 2))

    fwd = maybe_compile(fwd, compile_)

    def step():
        x.grad = w.grad = b.grad = None
        y = fwd(x, w, b)
        y.backward(gout)

    return step


def train_case(preset, device, compile_, batch, channels_last):
    cfg = dict(GATED if preset == "gated" else PRESETS[preset])
    torch.manual_seed(0)
    model = (GatedPixelCNN(**cfg) if preset == "gated" else PixelCNN(**cfg)).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (batch, cfg["colors"], cfg["height"], cfg["width"]), generator=g, dtype=torch.uint8).to(device)
    x = to_format(x, channels_last)
    dims = x.numel()
    loss_fn = maybe_compile(lambda xb: nll_nats(model, xb) / dims, compile_)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        loss.backward()
        opt.step()

    return step


def parse_args(argv=None):
    """The command line, parsed (tools/gpucheck_dry.py checks gpucheck's peer commands with it)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=30.0, help="rough time budget per case")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--compile", action="store_true", help="torch.compile the forward (torch >= 2)")
    p.add_argument("--presets", default="mnist,cifar10,tiny,gated", help="comma list of case prefixes")
    p.add_argument("--kinds", default="conv_fwd_bwd,train_step")
    p.add_argument("--with-cifar-train", action="store_true", help="also time cifar10/train_step")
    p.add_argument("--batches", default="16", help="comma list of batch sizes")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format (cuDNN's native layout)")
    p.add_argument("--tf32", default="default", choices=["default", "on", "off"],
                   help="TF32 for cuDNN convolutions and matmuls (default: PyTorch's own defaults)")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("bench: --device cuda but torch.cuda.is_available() is false")
        torch.backends.cudnn.benchmark = True
    if a.tf32 != "default":
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
    try:
        batches = [int(s) for s in a.batches.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"bench: --batches {a.batches!r}: want a comma list of positive integers")
    if not batches or min(batches) < 1:
        raise SystemExit(f"bench: --batches {a.batches!r}: want a comma list of positive integers")
    presets = {s.strip() for s in a.presets.split(",") if s.strip()}
    kinds = {s.strip() for s in a.kinds.split(",") if s.strip()}
    timer = Timer(device)

    cl = a.channels_last
    cases = []
    for batch in batches:
        if "conv_fwd_bwd" in kinds:
            for name, *spec in CONV_CASES:
                if name.split("/")[0] in presets:
                    cases.append((name, "conv_fwd_bwd", batch,
                                  lambda spec=spec, batch=batch: conv_case(*spec, device, a.compile, batch, cl)))
        if "train_step" in kinds:
            train = ["mnist", "tiny", "gated"] + (["cifar10"] if a.with_cifar_train else [])
            for preset in train:
                if preset in presets:
                    cases.append((f"{preset}/train_step", "train_step", batch,
                                  lambda preset=preset, batch=batch: train_case(preset, device, a.compile, batch, cl)))
    if not cases:
        raise SystemExit("bench: no case selected")

    for name, kind, batch, build in cases:
        fn = build()
        ms, min_ms, n = measure(fn, timer, a.runs, a.warmup, a.max_seconds)
        rec = {"name": name, "kind": kind, "ms": round(ms, 4), "threads": a.threads, "torch": torch.__version__,
               "device": a.device if device.type == "cpu" else torch.cuda.get_device_name(), "runs": n,
               "min_ms": round(min_ms, 4), "batch": batch, "cudnn_tf32": torch.backends.cudnn.allow_tf32,
               "matmul_tf32": torch.backends.cuda.matmul.allow_tf32, "channels_last": cl}
        if a.compile:
            rec["compile"] = True
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
