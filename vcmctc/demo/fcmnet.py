"""The FCM demo's split task network: a small, real torch network with fixed weights.

Demo only, suited to the synthetic content of :mod:`vcmctc.demo.scene` (objects of six
palette colours on a low-saturation background). Its weights are not learnt: they are written
down (dyadic numbers), so the network is the same everywhere without any download.

Part 1 (on the encoder side) sees the frame as a ``3 x H x W`` tensor (Y, Cb, Cr; chroma
repeated to luma resolution; 8-bit values) and gives two feature maps:

- ``a`` (stride 4, 8 channels): per palette colour, how much of each 4x4 block is of that
  colour (a 1x1 convolution projecting the chroma vector on the colour's direction, ReLU,
  4x4 average pooling), plus two luma channels (bright, dark);
- ``b`` (stride 8, 3 channels): per class (person, car, sports ball), the class's colour mass
  in a smoothed neighbourhood (a 3x3 stride-2 convolution of ``a``, ReLU).

Part 1 runs in float64 on integer input with dyadic weights: every product and sum is exact,
so the features are bit-identical on every machine (then stored as float32).

Part 2 (:class:`Part2`, the ``torch`` adapter's entry point :func:`build_part2`) smooths the
colour maps (3x3 depthwise convolution), gates each colour by its class's evidence in ``b``
(nearest upsampling, 1x1 convolution), then finds the connected regions of each colour and
turns them into boxes: the box edges are refined inside the border cells from how much of the
cell the colour covers, and the score combines the colour strength, the class evidence and how
well the region's shape fits the class. Coding errors in the features blur the maps, move the
edges and weaken the evidence, so detection degrades with the rate.
"""

from __future__ import annotations

import numpy as np

from vcmctc.demo.scene import BALL, CAR, PALETTE, PERSON, SHAPE_PRIORS

STRIDE_A, STRIDE_B = 4, 8
CLASSES = (PERSON, CAR, BALL)
COLOUR_CLASS = tuple(CLASSES.index(c.category_id) for c in PALETTE)   # colour -> class index
CHROMA_THRESHOLD = 24.0      # chroma projection (8-bit units) below which a colour is absent
FRAC = 64                    # weights are multiples of 1/FRAC (dyadic: exact arithmetic)

# Part 2
SEED_LEVEL, EXTENT_LEVEL = 14.0, 5.0     # colour response (a units): region seed, extent
EVIDENCE_LEVEL = 6.0                     # class evidence (b units) a region needs
MIN_CELLS = 2


def _colour_weights() -> tuple[np.ndarray, np.ndarray]:
    """1x1 convolution 3 -> 8: weights (8, 3) and bias (8,), multiples of 1/FRAC."""
    w = np.zeros((8, 3))
    b = np.zeros(8)
    for k, colour in enumerate(PALETTE):
        _, cb, cr = colour.ycbcr
        norm = np.hypot(cb - 128, cr - 128)
        uc = np.round((cb - 128) / norm * FRAC) / FRAC
        ur = np.round((cr - 128) / norm * FRAC) / FRAC
        w[k] = (0.0, uc, ur)
        b[k] = -128.0 * (uc + ur) - CHROMA_THRESHOLD     # dot(chroma - 128, u) - threshold
    w[6], b[6] = (0.25, 0, 0), -32.0          # bright: (Y - 128) / 4
    w[7], b[7] = (-0.25, 0, 0), 32.0          # dark: (128 - Y) / 4
    return w, b


def _evidence_weights() -> np.ndarray:
    """3x3 stride-2 convolution 8 -> 3: a class's colours summed with a [1 2 1]^2 / 16 blur."""
    blur = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    w = np.zeros((3, 8, 3, 3))
    for k, cls in enumerate(COLOUR_CLASS):
        w[cls, k] = blur
    return w


def frame_input(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The network input of one 8-bit 4:2:0 frame: ``3 x H x W`` float64 (chroma repeated)."""
    h, w = y.shape
    up = lambda p: np.repeat(np.repeat(p, 2, axis=0), 2, axis=1)[:h, :w]   # noqa: E731
    return np.stack([y, up(u), up(v)]).astype(np.float64)


def _torch():
    import torch

    return torch


class Part1:
    """Part 1 (a torch module built on demand): ``x`` (``N x 3 x H x W`` float64) -> ``a, b``."""

    def __init__(self):
        torch = _torch()
        nn = torch.nn
        w, b = _colour_weights()
        self.colour = nn.Conv2d(3, 8, 1).double()
        self.evidence = nn.Conv2d(8, 3, 3, stride=2, padding=1, bias=False).double()
        with torch.no_grad():
            self.colour.weight.copy_(torch.from_numpy(w).view(8, 3, 1, 1))
            self.colour.bias.copy_(torch.from_numpy(b))
            self.evidence.weight.copy_(torch.from_numpy(_evidence_weights()))
        self.pool = nn.AvgPool2d(STRIDE_A)

    def level_a(self, x):
        torch = _torch()
        return self.pool(torch.relu(self.colour(x)))

    def level_b(self, a):
        torch = _torch()
        return torch.relu(self.evidence(a))

    def __call__(self, x):
        a = self.level_a(x)
        return a, self.level_b(a)


def restore_b(a: np.ndarray) -> np.ndarray:
    """Level ``b`` from level ``a`` (``8 x h x w``) with part 1's own layer, in numpy: the
    submission's decoder restores ``b`` this way instead of coding it. Sums run in a fixed
    order (float64), so the result is the same on every machine."""
    w = _evidence_weights()
    c, h, wd = a.shape
    pad = np.zeros((c, h + 2, wd + 2))
    pad[:, 1:-1, 1:-1] = a
    oh, ow = (h + 1) // 2, (wd + 1) // 2
    out = np.zeros((3, oh, ow))
    for cls in range(3):
        for k in range(c):
            for dy in range(3):
                for dx in range(3):
                    if w[cls, k, dy, dx]:
                        out[cls] += w[cls, k, dy, dx] * pad[k, dy:dy + 2 * oh:2, dx:dx + 2 * ow:2]
    return np.maximum(out, 0.0)


def restoration_macs(a_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of :func:`restore_b` as a convolution (what torch's counter counts
    for part 1's ``b`` layer)."""
    c, h, w = a_shape
    return 3 * ((h + 1) // 2) * ((w + 1) // 2) * c * 9


# ---------------------------------------------------------------------------------- part 2

def _match(observed: float, expected: float) -> float:
    r = min(observed / expected, expected / observed) if observed > 0 else 0.0
    return max(0.0, (r - 0.25) / 0.75)


class Part2:
    """Part 2 of the demo network (see the module docstring); ``part2(features, frame)``
    returns COCO results of the frame."""

    def __init__(self, device: str = "cpu"):
        torch = _torch()
        nn = torch.nn
        self.device = device
        self.smooth = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
        self.gate = nn.Conv2d(3, 6, 1, bias=False)
        with torch.no_grad():
            k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
            self.smooth.weight.copy_(k.expand(6, 1, 3, 3))
            g = torch.zeros(6, 3, 1, 1)
            for colour, cls in enumerate(COLOUR_CLASS):
                g[colour, cls] = 1.0
            self.gate.weight.copy_(g)
        self.smooth.to(device)
        self.gate.to(device)

    def maps(self, a, b):
        """(colour responses, their class evidence), ``6 x h x w`` each, as numpy arrays."""
        torch = _torch()
        colours = self.smooth(a[:, :6])
        up = torch.nn.functional.interpolate(b, scale_factor=2, mode="nearest")
        evidence = self.gate(up[:, :, :a.shape[2], :a.shape[3]])
        return colours[0].cpu().numpy(), evidence[0].cpu().numpy(), a[0, :6].cpu().numpy()

    def __call__(self, features, frame) -> list[dict]:
        smooth, evidence, raw = self.maps(features["a"], features["b"])
        return boxes(smooth, evidence, raw, frame.width, frame.height)


def build_part2(weights: str | None = None, device: str = "cpu") -> Part2:
    """The ``torch`` adapter's entry point (``vcmctc.demo.fcmnet:build_part2``): part 2 has no
    weights file, its fixed weights are in the code."""
    return Part2(device)


def boxes(smooth: np.ndarray, evidence: np.ndarray, raw: np.ndarray, width: int, height: int
          ) -> list[dict]:
    """COCO results (pixels of the ``width`` x ``height`` frame) from the colour maps."""
    from scipy import ndimage

    best = np.argmax(smooth, axis=0)
    peak = np.max(smooth, axis=0)
    out = []
    for k, colour in enumerate(PALETTE):
        extent = (best == k) & (peak > EXTENT_LEVEL)
        labels, n = ndimage.label(extent, structure=np.ones((3, 3), bool))
        for i, sl in enumerate(ndimage.find_objects(labels)):
            region = labels[sl] == i + 1
            vals = smooth[k][sl][region]
            cells = int(region.sum())
            if cells < MIN_CELLS or vals.max() < SEED_LEVEL:
                continue
            ev = float(evidence[k][sl][region].max())
            if ev < EVIDENCE_LEVEL:
                continue
            # sub-cell edges: the raw coverage of the border cells over the region's full level
            full = float(np.percentile(raw[k][sl][region], 90))
            r0, r1, c0, c1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            cov = np.clip(raw[k][sl] * region / max(full, 1e-6), 0.0, 1.0)
            x0 = STRIDE_A * (c0 + 1 - float(cov[:, 0].max()))
            x1 = STRIDE_A * (c1 - 1 + float(cov[:, -1].max()))
            y0 = STRIDE_A * (r0 + 1 - float(cov[0, :].max()))
            y1 = STRIDE_A * (r1 - 1 + float(cov[-1, :].max()))
            x0, y0 = max(0.0, x0), max(0.0, y0)
            x1, y1 = min(float(width), x1), min(float(height), y1)
            bw, bh = x1 - x0, y1 - y0
            if bw <= 1 or bh <= 1:
                continue
            aspect_prior, fill_prior = SHAPE_PRIORS[colour.category_id]
            cut = x0 <= 0 or y0 <= 0 or x1 >= width or y1 >= height
            aspect_term = 1.0 if cut else _match(bh / bw, aspect_prior)
            score = (min(1.0, full / 40.0) ** 0.5 * min(1.0, ev / 30.0) ** 0.5
                     * max(aspect_term, 0.05) * min(1.0, cells / 8.0))
            out.append({"category_id": colour.category_id, "bbox": [x0, y0, bw, bh],
                        "score": round(min(score, 1.0), 6)})
    return out
