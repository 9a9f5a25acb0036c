"""PyTorch twin of the Go PixelCNN (van den Oord et al. 2016), for interop checks and peer
benchmarks.

Layout and names match the Go checkpoint contract (safetensors, weights [out, in, kh, kw],
effective weights with masked entries exactly 0), so ``model.load_state_dict(weights)`` works
on the tensors of a checkpoint once the ``optim.`` entries are dropped.

Runs on Debian's python3-torch (1.13) with no other dependency than numpy; the safetensors
reader is pure Python (the ``safetensors`` package is not used).
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Presets (batch 16). "tiny" works at any image size; its colours/size default to MNIST's.
PRESETS = {
    "mnist": dict(colors=1, height=28, width=28, hidden=32, blocks=7, out_dim=32),
    "cifar10": dict(colors=3, height=32, width=32, hidden=192, blocks=15, out_dim=768),
    "tiny": dict(colors=1, height=28, width=28, hidden=6, blocks=2, out_dim=12),
}
CONFIG_KEYS = ("colors", "height", "width", "hidden", "blocks", "out_dim")


def make_mask(k, f_in, f_out, colors, mode):
    """The PixelCNN mask as a float32 tensor [f_out, f_in, k, k] of 0/1.

    Taps above the centre row, and left of the centre in the centre row, are 1; taps right of
    the centre and all rows below are 0. At the centre, input feature f (colour
    f // (f_in/colors)) feeds output feature g (colour g // (f_out/colors)) iff
    colour(f) < colour(g) (mode "A") or colour(f) <= colour(g) (mode "B").
    """
    if mode not in ("A", "B"):
        raise ValueError(f"mask mode {mode!r}, want 'A' or 'B'")
    if k < 1 or k % 2 == 0:
        raise ValueError(f"kernel size {k} must be odd and positive")
    if f_in % colors or f_out % colors:
        raise ValueError(f"features in={f_in} out={f_out} not divisible by {colors} colours")
    m = torch.zeros(f_out, f_in, k, k, dtype=torch.float32)
    c = k // 2
    m[:, :, :c, :] = 1
    m[:, :, c, :c] = 1
    cin = torch.arange(f_in) // (f_in // colors)
    cout = torch.arange(f_out) // (f_out // colors)
    if mode == "A":
        centre = cin[None, :] < cout[:, None]
    else:
        centre = cin[None, :] <= cout[:, None]
    m[:, :, c, c] = centre.to(torch.float32)
    return m


class MaskedConv2d(nn.Conv2d):
    """A k x k "same" convolution whose weight is multiplied by the mask on every call (as the
    seed does), so gradients of masked entries are 0 and the weight stays effective."""

    def __init__(self, f_in, f_out, k, colors, mode, classes=0):
        super().__init__(f_in, f_out, k, padding=k // 2)
        self.mode = mode
        self.register_buffer("mask", make_mask(k, f_in, f_out, colors, mode), persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)
        if classes:  # a class-conditional model's table, added to the pre-activation
            self.cond = nn.Parameter(torch.zeros(classes, f_out))

    def forward(self, x, y=None):
        out = F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)
        if y is not None and hasattr(self, "cond"):
            out = out + self.cond[y][:, :, None, None]
        return out


class ResidualBlock(nn.Module):
    def __init__(self, hidden, colors, classes=0):
        super().__init__()
        r = 2 * hidden
        self.conv_in = MaskedConv2d(r, hidden, 1, colors, "B", classes)
        self.conv_mid = MaskedConv2d(hidden, hidden, 3, colors, "B")
        self.conv_out = MaskedConv2d(hidden, r, 1, colors, "B")

    def forward(self, y, labels=None):
        h = F.relu(self.conv_in(y, labels))
        h = F.relu(self.conv_mid(h))
        h = F.relu(self.conv_out(h))
        return y + h


class PixelCNN(nn.Module):
    def __init__(self, colors, height, width, hidden, blocks, out_dim, classes=0, **_ignored):
        super().__init__()
        self.colors, self.height, self.width = colors, height, width
        self.hidden, self.n_blocks, self.out_dim, self.classes = hidden, blocks, out_dim, classes
        r = 2 * hidden
        self.input_conv = MaskedConv2d(colors, r, 7, colors, "A")
        self.blocks = nn.ModuleList([ResidualBlock(hidden, colors, classes) for _ in range(blocks)])
        self.output_conv1 = MaskedConv2d(r, out_dim, 1, colors, "B", classes)
        self.output_conv2 = MaskedConv2d(out_dim, out_dim, 1, colors, "B", classes)
        self.final_conv = MaskedConv2d(out_dim, 256 * colors, 1, colors, "B", classes)

    @classmethod
    def from_config(cls, cfg):
        missing = [k for k in CONFIG_KEYS if k not in cfg]
        if missing:
            raise ValueError(f"config lacks {missing}: {cfg}")
        return cls(**{k: int(cfg[k]) for k in CONFIG_KEYS}, classes=int(cfg.get("classes", 0)))

    def forward(self, x, labels=None):
        """x: [N, C, H, W] in [0, 1], labels [N] for a class-conditional model. Returns
        logits [N, C, 256, H, W]."""
        if self.classes and labels is None:
            raise ValueError("a class-conditional model needs labels")
        y = self.input_conv(x)
        for b in self.blocks:
            y = b(y, labels)
        o = self.output_conv1(F.relu(y), labels)
        o = self.output_conv2(F.relu(o), labels)
        logits = self.final_conv(o, labels)
        n, _, h, w = logits.shape
        return logits.view(n, self.colors, 256, h, w)

    def masked_convs(self):
        return [(name, m) for name, m in self.named_modules() if isinstance(m, MaskedConv2d)]


def nll_nats(model, x_uint8, dtype=torch.float32, labels=None):
    """Total cross-entropy in nats over every subpixel of the uint8 batch [N, C, H, W]
    (given labels [N] for a class-conditional model)."""
    x = x_uint8.to(dtype) / 255.0
    logits = model(x) if labels is None else model(x, labels)  # [N, C, 256, H, W]
    target = x_uint8.long()  # round(255 * x) == the uint8 value
    return F.cross_entropy(logits.transpose(1, 2), target, reduction="sum")


@torch.no_grad()
def bits_per_dim(model, x_uint8, batch=None, labels=None):
    """(bits/dim, total nats) of model on uint8 images [N, C, H, W], in the model's dtype
    (given labels [N] for a class-conditional model)."""
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    x_uint8 = torch.as_tensor(x_uint8)
    n = x_uint8.shape[0]
    batch = batch or n
    total = 0.0
    for i in range(0, n, batch):
        xb = x_uint8[i:i + batch].to(device)
        yb = None if labels is None else torch.as_tensor(labels[i:i + batch]).long().to(device)
        total += float(nll_nats(model, xb, dtype, yb))
    dims = x_uint8.numel()
    return total / (dims * math.log(2)), total


# --- safetensors, pure Python --------------------------------------------------------------

_DTYPES = {
    "F32": (np.dtype("<f4"), torch.float32),
    "F64": (np.dtype("<f8"), torch.float64),
    "F16": (np.dtype("<f2"), torch.float16),
    "I64": (np.dtype("<i8"), torch.int64),
    "I32": (np.dtype("<i4"), torch.int32),
    "U8": (np.dtype("u1"), torch.uint8),
}


def load_safetensors(path):
    """Reads a safetensors file: returns (dict name -> torch.Tensor, metadata dict).

    Validates the header length against the file size, offsets (in range, tiling the data
    section exactly) and shape-vs-byte-length, raising ValueError naming the file."""
    with open(path, "rb") as f:
        data = f.read()

    def bad(msg):
        return ValueError(f"safetensors: {path}: {msg}")

    if len(data) < 8:
        raise bad(f"file is {len(data)} bytes, too short")
    (hl,) = struct.unpack("<Q", data[:8])
    if hl > len(data) - 8:
        raise bad(f"header length {hl} exceeds the {len(data) - 8} bytes after it")
    try:
        header = json.loads(data[8:8 + hl].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    body = memoryview(data)[8 + hl:]
    meta = header.pop("__metadata__", None) or {}
    spans = []
    tensors = {}
    for name, e in header.items():
        try:
            dt = e["dtype"]
            shape = [int(s) for s in e["shape"]]
            b, end = (int(v) for v in e["data_offsets"])
        except (TypeError, KeyError, ValueError) as err:
            raise bad(f"tensor {name!r}: bad header entry {e!r}: {err}") from None
        if dt not in _DTYPES:
            raise bad(f"tensor {name!r} has unsupported dtype {dt!r}")
        npdt, _ = _DTYPES[dt]
        if any(s < 0 for s in shape):
            raise bad(f"tensor {name!r}: negative dimension in shape {shape}")
        if not 0 <= b <= end <= len(body):
            raise bad(f"tensor {name!r}: data_offsets [{b}, {end}] out of range")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * npdt.itemsize != end - b:
            raise bad(f"tensor {name!r}: shape {shape} does not match {end - b} bytes")
        arr = np.frombuffer(body[b:end], dtype=npdt).reshape(shape)
        tensors[name] = torch.from_numpy(arr.astype(npdt.newbyteorder("="), copy=True))
        spans.append((b, end, name))
    spans.sort()
    pos = 0
    for b, end, name in spans:
        if b != pos:
            raise bad(f"tensor {name!r}: data_offsets start at {b}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(body):
        raise bad(f"tensors cover {pos} bytes of a {len(body)}-byte data section")
    return tensors, meta


def save_safetensors(path, tensors, metadata=None):
    """Writes F32 tensors (dict name -> tensor, in iteration order) as safetensors, header
    padded with spaces to 8 bytes. For tests; the Go side's writer is the real one."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy(), dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-(8 + len(h))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def model_from_checkpoint(path):
    """Loads a Go checkpoint: returns (model in float32, metadata, config dict).

    Raises ValueError if the format is wrong, a weight is missing or unexpected, or a masked
    weight entry is not exactly 0."""
    tensors, meta = load_safetensors(path)
    fmt = meta.get("format")
    if fmt not in ("pixelcnn/v1", "pixelcnn/v2"):
        raise ValueError(f"{path}: metadata format {fmt!r}, want 'pixelcnn/v2' or 'pixelcnn/v1'")
    try:
        cfg = json.loads(meta["config"])
    except (KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: metadata has no valid 'config' JSON: {e}") from None
    arch = cfg.get("arch") or "pixelcnn"  # v1 files are the seed architecture
    if arch == "gated":
        from gated_torch import GatedPixelCNN
        model = GatedPixelCNN.from_config(cfg)
    elif arch == "pixelcnn":
        model = PixelCNN.from_config(cfg)
    else:
        raise ValueError(f"{path}: architecture {arch!r} (classes {cfg.get('classes', 0)}) is not one this tool rebuilds")
    weights = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
    check_masked_zero(model, weights, path)
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    extra = sorted(set(weights) - set(own))
    if missing or extra:
        raise ValueError(f"{path}: weights do not match the config {cfg}: missing {missing}, unexpected {extra}")
    for k, v in weights.items():
        if v.dtype != torch.float32:
            raise ValueError(f"{path}: {k} has dtype {v.dtype}, want F32")
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"{path}: {k} has shape {list(v.shape)}, want {list(own[k].shape)}")
    model.load_state_dict(weights, strict=True)
    return model, meta, cfg


def check_masked_zero(model, weights, path="checkpoint"):
    """Raises ValueError unless every masked entry of every conv weight is exactly 0."""
    bad = []
    for name, m in model.masked_convs():
        w = weights.get(name + ".weight")
        if w is None or tuple(w.shape) != tuple(m.mask.shape):
            continue  # reported by the shape/name check
        off = (m.mask == 0) & (w != 0)
        n = int(off.sum())
        if n:
            idx = off.nonzero()[0].tolist()
            bad.append(f"{name}.weight: {n} masked entries nonzero (first at {idx}: {float(w[tuple(idx)])!r})")
    if bad:
        raise ValueError(f"{path}: masked weight entries must be exactly 0:\n  " + "\n  ".join(bad))
