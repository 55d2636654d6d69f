"""Example submission codec: multi-task foreground coding (after the 2022 VCM multi-task idea).

Encoder: run the demo detector once on the original frames; keep the detected objects, each box
enlarged by a margin and aligned outwards to a grid of :data:`ALIGN` pixels; paint everything
outside those boxes black (Y 16, Cb Cr 128); VVC-encode that foreground video at the given QP
(:func:`vcmctc.demo.vvc.encode_vvc`); write the boxes and classes as side information, a separate
file so the rate breakdown shows it. Decoder: decode the VVC bitstream, read the side
information and paint everything outside the transmitted boxes black again, which removes the
coding noise the encoder left in the background. The same decoded video serves detection and
tracking. Output is deterministic.

Side information format (all integers little-endian)::

    magic  b"VCMFG"          5 bytes
    version                  u8  (1)
    width, height, frames    u16 x 3
    unit                     u8  box coordinates are in units of this many pixels
    compression              u8  (1 = zlib)
    payload                  zlib stream of: per frame a u8 box count, then per box a u8
                             reference r. r = 0: u8 class (COCO-80 contiguous index) and u16
                             x0, y0, x1, y1 in units (x1, y1 exclusive, may pass the frame
                             edge by less than a unit); r > 0: the class of box r (1-based) of
                             the previous frame and its coordinates plus four i8 deltas.
                             The encoder refers to the nearest same-class box.

CLI::

    python -m vcmctc.demo.fgcodec encode --yuv in.yuv --width W --height H --frames N --fps F
        --qp QP --bitstream out.266 --side-info out.side
    python -m vcmctc.demo.fgcodec decode --bitstream in.266 --side-info in.side
        --output out.yuv --width W --height H --frames N
"""

from __future__ import annotations

import argparse
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vcmctc.datasets.coco import CONTIGUOUS_TO_COCO_ID
from vcmctc.demo import vvc
from vcmctc.demo._cli import run_cli
from vcmctc.demo.detector import Detection, detect_frame
from vcmctc.demo.scene import COCO_TO_CONTIGUOUS
from vcmctc.errors import UserError

MAGIC = b"VCMFG"
VERSION = 1
ALIGN = 4  # box grid in pixels (even, so the chroma mask is exact)
MARGIN_PX = 4  # box enlargement per side: max(MARGIN_PX, MARGIN_FRACTION * box side)
MARGIN_FRACTION = 0.1
MIN_SCORE = 0.1  # detections kept by the encoder
BLACK = (16, 128, 128)  # limited-range black

_HEADER = struct.Struct("<5sBHHHBB")
_INTRA = struct.Struct("<BHHHH")

Box = tuple[int, int, int, int, int]  # category_id (COCO), x0, y0, x1, y1 in pixels


@dataclass(frozen=True)
class SideInfo:
    """Per frame, the transmitted boxes ``(category_id, x0, y0, x1, y1)`` in pixels."""

    width: int
    height: int
    unit: int
    boxes: tuple[tuple[Box, ...], ...]

    @property
    def frames(self) -> int:
        return len(self.boxes)


def foreground_boxes(dets: Sequence[Detection], width: int, height: int, *,
                     unit: int = ALIGN, margin: int = MARGIN_PX,
                     fraction: float = MARGIN_FRACTION,
                     min_score: float = MIN_SCORE) -> tuple[Box, ...]:
    """The boxes to keep for one frame: enlarged, aligned outwards to ``unit``, clipped."""
    out = []
    for d in dets:
        if d.score < min_score:
            continue
        mx = max(margin, int(np.ceil(fraction * d.w)))
        my = max(margin, int(np.ceil(fraction * d.h)))
        x0 = max(0, (d.x - mx) // unit * unit)
        y0 = max(0, (d.y - my) // unit * unit)
        x1 = min(width, -(-(d.x + d.w + mx) // unit) * unit)
        y1 = min(height, -(-(d.y + d.h + my) // unit) * unit)
        if x1 > x0 and y1 > y0:
            out.append((d.category_id, x0, y0, x1, y1))
    return tuple(sorted(out, key=lambda b: (b[2], b[1], b[0], b[3], b[4])))


def _units(box: Box, info: "SideInfo") -> tuple[int, int, int, int]:
    u = info.unit
    _, x0, y0, x1, y1 = box
    if x0 % u or y0 % u or (x1 % u and x1 != info.width) or (y1 % u and y1 != info.height):
        raise ValueError(f"box {box[1:]} is not on the {u}-pixel grid")
    return x0 // u, y0 // u, -(-x1 // u), -(-y1 // u)


def pack_side_info(info: SideInfo) -> bytes:
    """Serialise side information (see the module docstring)."""
    if info.frames > 0xFFFF or max(info.width, info.height) > 0xFFFF:
        raise UserError("side information: frame count or size too large for u16")
    raw = bytearray()
    prev: list[tuple[int, tuple[int, int, int, int]]] = []
    for frame, boxes in enumerate(info.boxes):
        if len(boxes) > 255:
            raise UserError(f"side information: {len(boxes)} boxes in frame {frame} (max 255)")
        raw.append(len(boxes))
        current = []
        for box in boxes:
            cls, coords = COCO_TO_CONTIGUOUS[box[0]], _units(box, info)
            # predict from the nearest box of the same class in the previous frame
            best, best_cost = 0, None
            for k, (pcls, pc) in enumerate(prev[:254]):
                deltas = [a - b for a, b in zip(coords, pc)]
                if pcls == cls and max(map(abs, deltas)) <= 127:
                    cost = sum(map(abs, deltas))
                    if best_cost is None or cost < best_cost:
                        best, best_cost = k + 1, cost
            raw.append(best)
            if best:
                raw += struct.pack("<4b", *(a - b for a, b in zip(coords, prev[best - 1][1])))
            else:
                raw += _INTRA.pack(cls, *coords)
            current.append((cls, coords))
        prev = current
    header = _HEADER.pack(MAGIC, VERSION, info.width, info.height, info.frames, info.unit, 1)
    return header + zlib.compress(bytes(raw), 9)


def unpack_side_info(data: bytes, source: object = "<side info>") -> SideInfo:
    """Parse side information; a malformed file raises a UserError naming ``source``."""
    if len(data) < _HEADER.size:
        raise UserError(f"side information too short ({len(data)} bytes)", file=source)
    magic, version, width, height, frames, unit, comp = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise UserError(f"not fgcodec side information (magic {magic!r})", file=source)
    if version != VERSION or comp != 1:
        raise UserError(f"unsupported side information version {version} / compression {comp}",
                        file=source)
    if unit < 1:
        raise UserError("side information: unit must be >= 1", file=source)
    try:
        raw = zlib.decompress(data[_HEADER.size:])
    except zlib.error as exc:
        raise UserError(f"side information payload is corrupt: {exc}", file=source) from None

    def take(n: int, frame: int) -> int:
        nonlocal pos
        if pos + n > len(raw):
            raise UserError(f"side information truncated in frame {frame}", file=source)
        pos += n
        return pos - n

    pos, boxes = 0, []
    prev: list[tuple[int, tuple[int, ...]]] = []
    for frame in range(frames):
        if pos >= len(raw):
            raise UserError(f"side information ends before frame {frame} of {frames}",
                            file=source)
        n = raw[take(1, frame)]
        current, frame_boxes = [], []
        for _ in range(n):
            ref = raw[take(1, frame)]
            if ref:
                if ref > len(prev):
                    raise UserError(f"frame {frame}: reference to box {ref} of the previous "
                                    f"frame, which has {len(prev)}", file=source)
                cls, base = prev[ref - 1]
                deltas = struct.unpack_from("<4b", raw, take(4, frame))
                coords = tuple(b + d for b, d in zip(base, deltas))
            else:
                cls, *coords = _INTRA.unpack_from(raw, take(_INTRA.size, frame))
                coords = tuple(coords)
            if cls not in CONTIGUOUS_TO_COCO_ID:
                raise UserError(f"frame {frame}: class index {cls} is not COCO-80", file=source)
            x0, y0, x1, y1 = (c * unit for c in coords)
            box = (CONTIGUOUS_TO_COCO_ID[cls], x0, y0, min(x1, width), min(y1, height))
            if not (0 <= x0 < box[3] and 0 <= y0 < box[4]):
                raise UserError(f"frame {frame}: empty or out-of-frame box {box[1:]}",
                                file=source)
            current.append((cls, coords))
            frame_boxes.append(box)
        prev = current
        boxes.append(tuple(frame_boxes))
    if pos != len(raw):
        raise UserError(f"side information has {len(raw) - pos} bytes after the last frame",
                        file=source)
    return SideInfo(width, height, unit, tuple(boxes))


def keep_boxes(y: np.ndarray, u: np.ndarray, v: np.ndarray, boxes: Sequence[Box]) -> None:
    """Paint everything outside ``boxes`` black, in place (boxes have even coordinates)."""
    keep = np.zeros(y.shape, bool)
    for _, x0, y0, x1, y1 in boxes:
        keep[y0:y1, x0:x1] = True
    y[~keep] = BLACK[0]
    ck = keep[0::2, 0::2]
    u[~ck] = BLACK[1]
    v[~ck] = BLACK[2]


def _planes(frame: np.ndarray, width: int, height: int):
    n = width * height
    c = n // 4
    return (frame[:n].reshape(height, width), frame[n:n + c].reshape(height // 2, width // 2),
            frame[n + c:].reshape(height // 2, width // 2))


def _check_video(width: int, height: int, frames: int) -> int:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise UserError(f"fgcodec needs an even frame size, got {width}x{height}")
    if frames <= 0:
        raise UserError(f"frames must be positive, got {frames}")
    return width * height * 3 // 2


def encode(yuv: str | os.PathLike, width: int, height: int, frames: int, fps: float, qp: int,
           bitstream: str | os.PathLike, side_info: str | os.PathLike, *,
           preset: str = vvc.DEFAULT_PRESET, intra_period: int = vvc.DEFAULT_INTRA_PERIOD,
           unit: int = ALIGN, margin: int = MARGIN_PX) -> dict:
    """Encode; returns sizes (bytes) and timings (seconds) of the parts.

    ``unit`` (even) is the box grid and ``margin`` the minimum box enlargement, in pixels.
    """
    if unit < 2 or unit % 2 or unit > 255:
        raise UserError(f"box grid unit must be even and 2..254, got {unit}")
    import time

    fb = _check_video(width, height, frames)
    src = Path(yuv)
    try:
        size = src.stat().st_size
    except FileNotFoundError:
        raise UserError("YUV file not found", file=src) from None
    if size % fb or size // fb < frames:
        raise UserError(f"size {size} bytes is not at least {frames} frames of {width}x{height} "
                        f"4:2:0 8-bit ({fb} bytes each)", file=src)
    start = time.perf_counter()
    data = np.fromfile(src, dtype=np.uint8, count=frames * fb).reshape(frames, fb)
    all_boxes = []
    for i in range(frames):
        y, u, v = _planes(data[i], width, height)
        all_boxes.append(foreground_boxes(detect_frame(y, u, v), width, height, unit=unit,
                                          margin=margin))
    info = SideInfo(width, height, unit, tuple(all_boxes))
    blob = pack_side_info(info)
    side_path = Path(side_info)
    side_path.parent.mkdir(parents=True, exist_ok=True)
    side_path.write_bytes(blob)
    analysis_s = time.perf_counter() - start
    out = Path(bitstream)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        fg = Path(tmp) / "foreground.yuv"
        with open(fg, "wb") as fh:
            for i in range(frames):
                frame = data[i].copy()
                keep_boxes(*_planes(frame, width, height), all_boxes[i])
                fh.write(frame.tobytes())
        run = vvc.encode_vvc(fg, width, height, frames, fps, qp, out, preset=preset,
                             intra_period=intra_period)
    return {"bitstream_bytes": run.size_bytes, "side_info_bytes": len(blob),
            "boxes": sum(len(b) for b in all_boxes), "analysis_s": analysis_s,
            "vvc_wall_s": run.wall_s, "vvc_cpu_s": run.cpu_s}


def decode(bitstream: str | os.PathLike, side_info: str | os.PathLike,
           output: str | os.PathLike, width: int, height: int, frames: int) -> dict:
    """Decode the VVC bitstream and clean the background with the side information."""
    fb = _check_video(width, height, frames)
    side_path = Path(side_info)
    try:
        blob = side_path.read_bytes()
    except FileNotFoundError:
        raise UserError("side information not found", file=side_path) from None
    info = unpack_side_info(blob, side_path)
    if (info.width, info.height, info.frames) != (width, height, frames):
        raise UserError(f"side information is for {info.frames} frames of "
                        f"{info.width}x{info.height}, expected {frames} of {width}x{height}",
                        file=side_path)
    out = Path(output)
    run = vvc.decode_vvc(bitstream, out, width=width, height=height, frames=frames)
    data = np.fromfile(out, dtype=np.uint8).reshape(frames, fb)
    for i in range(frames):
        keep_boxes(*_planes(data[i], width, height), info.boxes[i])
    data.tofile(out)
    return {"frames": frames, "vvc_wall_s": run.wall_s, "vvc_cpu_s": run.cpu_s}


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vcmctc.demo.fgcodec",
                                     description="Demo foreground codec (VVC + side info).")
    sub = parser.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="encode a YUV file")
    enc.add_argument("--yuv", required=True)
    enc.add_argument("--fps", type=float, required=True)
    enc.add_argument("--qp", type=int, required=True)
    enc.add_argument("--preset", default=vvc.DEFAULT_PRESET, choices=vvc.PRESETS)
    enc.add_argument("--intra-period", type=int, default=vvc.DEFAULT_INTRA_PERIOD)
    dec = sub.add_parser("decode", help="decode to a YUV file")
    dec.add_argument("--output", required=True)
    for p in (enc, dec):
        p.add_argument("--width", type=int, required=True)
        p.add_argument("--height", type=int, required=True)
        p.add_argument("--frames", type=int, required=True)
        p.add_argument("--bitstream", required=True)
        p.add_argument("--side-info", required=True)
    args = parser.parse_args(argv)
    if args.command == "encode":
        r = encode(args.yuv, args.width, args.height, args.frames, args.fps, args.qp,
                   args.bitstream, args.side_info, preset=args.preset,
                   intra_period=args.intra_period)
        print(f"bitstream {r['bitstream_bytes']} bytes, side info {r['side_info_bytes']} bytes "
              f"({r['boxes']} boxes)")
    else:
        decode(args.bitstream, args.side_info, args.output, args.width, args.height,
               args.frames)


def main(argv: list[str] | None = None) -> int:
    return run_cli("vcmctc.demo.fgcodec", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
