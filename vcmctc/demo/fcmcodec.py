"""The FCM demo's feature codecs: the anchor and the example submission (demo only).

Both code the feature maps of :mod:`vcmctc.demo.fcmnet` (``a``: 8 x H/4 x W/4, ``b``:
3 x H/8 x W/8 per frame) with VVC (ffmpeg libvvenc, :mod:`vcmctc.demo.vvc`), like FCTM's anchor
and the packed-feature VVC submissions:

- **anchor**: each frame's tensors quantised to 10 bits between the frame's minimum and maximum
  over both tensors, the channels packed as tiles into one monochrome picture (``a`` in 2 rows
  of 4 tiles, ``b`` in a row of 3 tiles below; 4:2:0 with neutral chroma: libvvenc codes no
  4:0:0), coded as a VVC sequence; the side information is each frame's minimum and maximum
  (float32);
- **submission**: only ``a`` is coded (the same tiles, 10 bits, but each channel between its own
  minimum and maximum over the sequence: a channel of small range keeps its precision); the
  decoder restores ``b`` from the decoded ``a`` with part 1's own ``b`` layer
  (:func:`vcmctc.demo.fcmnet.restore_b`), so the lower-resolution level costs no bits and
  carries no coding error of its own; the side information is the per-channel ranges.

``python -m vcmctc.demo.fcmcodec decode --codec anchor|submission --bitstream B --side-info S
--output OUT.npz --width W --height H --frames N`` is the decoder a manifest runs: it writes
the decoded features as vcmctc reads them (docs/features.md).
"""

from __future__ import annotations

import argparse
import os
import struct
from pathlib import Path

import numpy as np

from vcmctc.errors import UserError

CODECS = ("anchor", "submission")
BITS = 10
MAX_Q = (1 << BITS) - 1
MAGIC = b"VFCM1"
A_GRID, B_GRID = (2, 4), (1, 3)    # rows x columns of tiles


def _sizes(width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
    from vcmctc.demo.fcmnet import STRIDE_A, STRIDE_B

    return ((-(-height // STRIDE_A), -(-width // STRIDE_A)),
            (-(-height // STRIDE_B), -(-width // STRIDE_B)))


def picture_size(codec: str, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the packed picture: tiles of ``a`` (and ``b`` for the anchor),
    padded to multiples of 8."""
    (ha, wa), (hb, wb) = _sizes(width, height)
    w = max(A_GRID[1] * wa, B_GRID[1] * wb if codec == "anchor" else 0)
    h = A_GRID[0] * ha + (B_GRID[0] * hb if codec == "anchor" else 0)
    return -(-w // 8) * 8, -(-h // 8) * 8


def _tile(picture: np.ndarray, planes: np.ndarray, grid: tuple[int, int], top: int) -> int:
    c, h, w = planes.shape
    for k in range(c):
        r, col = divmod(k, grid[1])
        picture[top + r * h: top + (r + 1) * h, col * w:(col + 1) * w] = planes[k]
    return top + grid[0] * h


def _untile(picture: np.ndarray, shape: tuple[int, int, int], grid: tuple[int, int],
            top: int) -> tuple[np.ndarray, int]:
    c, h, w = shape
    out = np.empty(shape, picture.dtype)
    for k in range(c):
        r, col = divmod(k, grid[1])
        out[k] = picture[top + r * h: top + (r + 1) * h, col * w:(col + 1) * w]
    return out, top + grid[0] * h


def quantise(x: np.ndarray, lo, hi) -> np.ndarray:
    """10-bit min-max quantisation: ``round((x - lo) / (hi - lo) * 1023)`` (0 if hi == lo);
    ``lo``/``hi`` broadcast (per frame or per channel)."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip(np.rint((x.astype(np.float64) - lo) / span * MAX_Q), 0, MAX_Q).astype(np.uint16)


def dequantise(q: np.ndarray, lo, hi) -> np.ndarray:
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return (q.astype(np.float64) / MAX_Q * (hi - lo) + lo).astype(np.float32)


def _picture_to_frame(picture: np.ndarray) -> np.ndarray:
    """A 10-bit luma picture as a 4:2:0 frame's samples (neutral chroma)."""
    h, w = picture.shape
    chroma = np.full(2 * (h // 2) * (w // 2), 1 << (BITS - 1), np.uint16)
    return np.concatenate([picture.ravel(), chroma])


def encode(a: np.ndarray, b: np.ndarray, codec: str, qp: int, fps: float, width: int,
           height: int, bitstream: str | os.PathLike, side_info: str | os.PathLike):
    """Code the features of a sequence (``a``: frames x 8 x h x w, ``b``: frames x 3 x h' x w')
    with ``codec``; writes the VVC bitstream and the side information."""
    from vcmctc.demo import vvc

    if codec not in CODECS:
        raise UserError(f"unknown demo feature codec {codec!r} (known: {', '.join(CODECS)})")
    n = a.shape[0]
    pw, ph = picture_size(codec, width, height)
    frames = np.empty((n, pw * ph + 2 * (pw // 2) * (ph // 2)), np.uint16)
    if codec == "anchor":
        lo = np.minimum(a.reshape(n, -1).min(1), b.reshape(n, -1).min(1)).astype(np.float32)
        hi = np.maximum(a.reshape(n, -1).max(1), b.reshape(n, -1).max(1)).astype(np.float32)
        side = struct.pack(f"<5sBHH{2 * n}f", MAGIC, 0, n, 1, *np.stack([lo, hi], 1).ravel())
    else:
        lo = a.reshape(n, -1).min(1).astype(np.float32)
        hi = a.reshape(n, -1).max(1).astype(np.float32)
        side = struct.pack(f"<5sBHH{2 * n}f", MAGIC, 1, n, 1, *np.stack([lo, hi], 1).ravel())
    for i in range(n):
        picture = np.zeros((ph, pw), np.uint16)
        if codec == "anchor":
            top = _tile(picture, quantise(a[i], lo[i], hi[i]), A_GRID, 0)
            top = _tile(picture, quantise(b[i], lo[i], hi[i]), B_GRID, top)
        else:
            top = _tile(picture, quantise(a[i], lo[i], hi[i]), A_GRID, 0)
        picture[top:] = picture[top - 1]     # padding rows repeat the last row
        frames[i] = _picture_to_frame(picture)
    Path(side_info).write_bytes(side)
    return vvc.encode_vvc10(frames, pw, ph, fps, qp, bitstream)


def decode(bitstream: str | os.PathLike, side_info: str | os.PathLike, output: str | os.PathLike,
           *, width: int, height: int, frames: int) -> Path:
    """Decode the features of a sequence to ``output`` (a feature file: tensors ``a``, ``b``)."""
    from vcmctc.demo import vvc
    from vcmctc.demo.fcmnet import restore_b
    from vcmctc.features.store import write_features

    raw = Path(side_info).read_bytes()
    try:
        magic, kind, n, c = struct.unpack_from("<5sBHH", raw)
    except struct.error:
        raise UserError("side information too short", file=side_info) from None
    count = 2 * n
    if magic != MAGIC or kind not in (0, 1) or len(raw) != 10 + 4 * count:
        raise UserError("not the side information of the demo feature codecs", file=side_info)
    if n != frames:
        raise UserError(f"the side information is for {n} frames, expected {frames}",
                        file=side_info)
    ranges = np.array(struct.unpack_from(f"<{count}f", raw, 10), np.float32).reshape(-1, 2)
    codec = CODECS[kind]
    pw, ph = picture_size(codec, width, height)
    samples, _ = vvc.decode_vvc10(bitstream, width=pw, height=ph, frames=frames)
    (ha, wa), (hb, wb) = _sizes(width, height)
    a = np.empty((frames, 8, ha, wa), np.float32)
    b = np.empty((frames, 3, hb, wb), np.float32)
    for i in range(frames):
        picture = samples[i, :pw * ph].reshape(ph, pw)
        qa, top = _untile(picture, (8, ha, wa), A_GRID, 0)
        if codec == "anchor":
            lo, hi = ranges[i]
            qb, _ = _untile(picture, (3, hb, wb), B_GRID, top)
            a[i], b[i] = dequantise(qa, lo, hi), dequantise(qb, lo, hi)
        else:
            a[i] = dequantise(qa, *ranges[i])
            b[i] = restore_b(a[i].astype(np.float64)).astype(np.float32)
    return write_features(output, {"a": a, "b": b})


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vcmctc.demo.fcmcodec")
    sub = parser.add_subparsers(dest="command", required=True)
    dec = sub.add_parser("decode", help="decode coded features to a feature file (.npz)")
    dec.add_argument("--bitstream", required=True)
    dec.add_argument("--side-info", required=True)
    dec.add_argument("--output", required=True)
    dec.add_argument("--width", type=int, required=True)
    dec.add_argument("--height", type=int, required=True)
    dec.add_argument("--frames", type=int, required=True)
    args = parser.parse_args(argv)
    decode(args.bitstream, args.side_info, args.output, width=args.width, height=args.height,
           frames=args.frames)


def main(argv: list[str] | None = None) -> int:
    from vcmctc.demo._cli import run_cli

    return run_cli("vcmctc.demo.fcmcodec", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
