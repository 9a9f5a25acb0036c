"""PyTorch twin of the Go gated PixelCNN (arch "gated"; van den Oord et al. 2016b), rebuilt
from a checkpoint's config: names, layouts and masks as pixelcnn/gated.go defines them.

  v = v_in(x)                 3x3, rows above only              C -> p
  h = h_in(x)                 1x3, left + centre mask A         C -> p
  layer i: v_feat = v_conv(v) [+ cond_v[y]]                     3x3 dilated, rows above + centre row
           h_feat = h_conv(h) + v_to_h(v_feat) [+ cond_h[y]]    1x3 dilated mask B; 1x1 unmasked
           v = gate(v_feat); h = h + h_1x1(gate(h_feat))        h_1x1: 1x1 mask B
  logits = out(elu(h))        1x1 mask B, p -> 256 C

gate: C colour groups of 2p/C features, each the value a then the gate g: tanh(a)*sigmoid(g).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def region_mask(kh, kw, f_in, f_out, colors, region, mode):
    """The mask [f_out, f_in, kh, kw] of a tap region (nn.Region in Go): 'causal', 'row'
    (1 x kw), 'above', 'above+row', 'full'; the centre of 'causal' and 'row' under mask mode
    'A' (input colour < output colour) or 'B' (<=)."""
    m = torch.zeros(f_out, f_in, kh, kw, dtype=torch.float32)
    cy, cx = kh // 2, kw // 2
    if region in ("causal", "row"):
        m[:, :, :cy, :] = 1
        m[:, :, cy, :cx] = 1
        cin = torch.arange(f_in) // (f_in // colors)
        cout = torch.arange(f_out) // (f_out // colors)
        centre = cin[None, :] < cout[:, None] if mode == "A" else cin[None, :] <= cout[:, None]
        m[:, :, cy, cx] = centre.to(torch.float32)
    elif region == "above":
        m[:, :, :cy, :] = 1
    elif region == "above+row":
        m[:, :, :cy + 1, :] = 1
    elif region == "full":
        m[:] = 1
    else:
        raise ValueError(f"unknown tap region {region!r}")
    return m


class RegionConv2d(nn.Conv2d):
    """A "same" convolution whose weight is multiplied by its region's mask on every call."""

    def __init__(self, f_in, f_out, kh, kw, colors, region, mode="B", dilation=1):
        super().__init__(f_in, f_out, (kh, kw), padding=(dilation * (kh // 2), dilation * (kw // 2)), dilation=dilation)
        self.register_buffer("mask", region_mask(kh, kw, f_in, f_out, colors, region, mode), persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding, dilation=self.dilation)


def gate(x, colors):
    n, f2, h, w = x.shape
    g = x.view(n, colors, 2, f2 // (2 * colors), h, w)
    return (torch.tanh(g[:, :, 0]) * torch.sigmoid(g[:, :, 1])).reshape(n, f2 // 2, h, w)


class GatedLayer(nn.Module):
    def __init__(self, p, colors, dilation, classes):
        super().__init__()
        self.v_conv = RegionConv2d(p, 2 * p, 3, 3, colors, "above+row", dilation=dilation)
        self.h_conv = RegionConv2d(p, 2 * p, 1, 3, colors, "row", "B", dilation=dilation)
        self.v_to_h = RegionConv2d(2 * p, 2 * p, 1, 1, colors, "full")
        self.h_1x1 = RegionConv2d(p, p, 1, 1, colors, "causal", "B")
        if classes:
            self.cond_v = nn.Parameter(torch.zeros(classes, 2 * p))
            self.cond_h = nn.Parameter(torch.zeros(classes, 2 * p))
        self.classes, self.colors = classes, colors

    def forward(self, v, h, y):
        vf = self.v_conv(v)
        if self.classes:
            vf = vf + self.cond_v[y][:, :, None, None]
        hf = self.h_conv(h) + self.v_to_h(vf)
        if self.classes:
            hf = hf + self.cond_h[y][:, :, None, None]
        return gate(vf, self.colors), h + self.h_1x1(gate(hf, self.colors))


class GatedPixelCNN(nn.Module):
    def __init__(self, colors, height, width, hidden, blocks, dilations, classes=0, **_ignored):
        super().__init__()
        if len(dilations) != blocks:
            raise ValueError(f"{len(dilations)} dilations for {blocks} gated layers")
        self.colors, self.height, self.width, self.classes = colors, height, width, classes
        p = hidden
        self.v_in = RegionConv2d(colors, p, 3, 3, colors, "above")
        self.h_in = RegionConv2d(colors, p, 1, 3, colors, "row", "A")
        self.layers = nn.ModuleList([GatedLayer(p, colors, d, classes) for d in dilations])
        self.out = RegionConv2d(p, 256 * colors, 1, 1, colors, "causal", "B")

    @classmethod
    def from_config(cls, cfg):
        keys = ("colors", "height", "width", "hidden", "blocks", "dilations")
        missing = [k for k in keys if k not in cfg]
        if missing:
            raise ValueError(f"gated config lacks {missing}: {cfg}")
        return cls(int(cfg["colors"]), int(cfg["height"]), int(cfg["width"]), int(cfg["hidden"]),
                   int(cfg["blocks"]), [int(d) for d in cfg["dilations"]], int(cfg.get("classes", 0)))

    def forward(self, x, y=None):
        """x: [N, C, H, W] in [0, 1], y: [N] labels (conditional models). Returns logits
        [N, C, 256, H, W]."""
        if self.classes and y is None:
            raise ValueError("a class-conditional model needs labels")
        v, h = self.v_in(x), self.h_in(x)
        for layer in self.layers:
            v, h = layer(v, h, y)
        logits = self.out(F.elu(h))
        n, _, hh, ww = logits.shape
        return logits.view(n, self.colors, 256, hh, ww)

    def masked_convs(self):
        return [(name, m) for name, m in self.named_modules() if isinstance(m, RegionConv2d)]
