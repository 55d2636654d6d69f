"""A simple, real object detector for the synthetic demo content (demo only, not a CTC network).

It knows the demo's object colours (:data:`vcmctc.demo.scene.PALETTE`) and shapes and nothing
else; it sees only decoded frames. Per frame, at chroma resolution:

1. a chroma sample is *object-coloured* when its chroma vector (Cb-128, Cr-128) is long enough
   (:data:`MIN_CHROMA`) and points within :data:`MAX_HUE_ANGLE` of a palette colour; the
   background, grey, and black (foreground-only video) are not;
2. the samples of each palette colour form 8-connected components (scipy.ndimage); each
   component of at least :data:`MIN_AREA` samples is a box of that colour's class, scaled to luma
   resolution;
3. the score multiplies how saturated and on-hue the component is, how well its fill ratio and
   aspect ratio match the class (a box cut by the frame edge is not penalised for its cut side),
   and its size. Compression washes out colours and blurs shapes, so scores and boxes degrade
   with the QP, which is what makes mAP meaningful here.

Only arithmetic and sqrt are used (no trigonometry), so results are identical on every machine.

CLI: ``python -m vcmctc.demo.detector --yuv F --width W --height H --frames N
[--first-frame 0] --output out.json`` writes COCO results (``image_id`` = frame index counted
from ``--first-frame``, real COCO ``category_id``, XYWH ``bbox``, ``score``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcmctc.demo.scene import PALETTE, SHAPE_PRIORS
from vcmctc.demo._cli import run_cli
from vcmctc.errors import UserError

MIN_CHROMA = 20.0  # minimum chroma vector length (8-bit code values) of an object sample
MAX_HUE_ANGLE = 24.0  # degrees between a sample's chroma direction and its palette colour
MIN_AREA = 4  # chroma samples
MIN_SCORE = 0.02

_COS_MAX = math.cos(math.radians(MAX_HUE_ANGLE))
_PAL = np.array([[c.ycbcr[1] - 128.0, c.ycbcr[2] - 128.0] for c in PALETTE])
_PAL_LEN = np.sqrt((_PAL ** 2).sum(axis=1))
_PAL_UNIT = _PAL / _PAL_LEN[:, None]
_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class Detection:
    """One detected object: luma-pixel box ``x, y, w, h``, COCO class, score in (0, 1], and an
    appearance cue for trackers (the index of its colour in the palette; -1 unknown)."""

    x: int
    y: int
    w: int
    h: int
    category_id: int
    score: float
    appearance: int = -1

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.w, self.y + self.h


def _match_term(observed: float, expected: float) -> float:
    """1 when equal, falling to 0 as the ratio of the two moves away from 1 (symmetric)."""
    r = min(observed / expected, expected / observed) if observed > 0 else 0.0
    return max(0.0, (r - 0.25) / 0.75)


def detect_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> list[Detection]:
    """Detections of one 8-bit 4:2:0 frame (planes as uint8 arrays), in a fixed order."""
    from scipy import ndimage

    height, width = y.shape
    ch, cw = u.shape
    cb = u.astype(np.float64) - 128.0
    cr = v.astype(np.float64) - 128.0
    length = np.sqrt(cb * cb + cr * cr)
    # hue only where the colour is strong enough (a small part of the frame)
    strong = np.flatnonzero(length >= MIN_CHROMA)
    cos = (np.outer(_PAL_UNIT[:, 0], cb.ravel()[strong]) + np.outer(_PAL_UNIT[:, 1],
           cr.ravel()[strong])) / length.ravel()[strong]
    pick = np.argmax(cos, axis=0) if strong.size else np.zeros(0, np.int64)
    pick_cos = cos[pick, np.arange(strong.size)]
    ok = pick_cos >= _COS_MAX
    best = np.full(ch * cw, -1, np.int64)
    best[strong[ok]] = pick[ok]
    best = best.reshape(ch, cw)
    best_cos = np.zeros(ch * cw)
    best_cos[strong] = pick_cos
    best_cos = best_cos.reshape(ch, cw)
    out: list[Detection] = []
    for k in np.unique(best[best >= 0]).tolist():
        colour = PALETTE[k]
        mask = best == k
        labels, n = ndimage.label(mask, structure=_EIGHT)
        if n == 0:
            continue
        flat = labels.ravel()
        areas = np.bincount(flat, minlength=n + 1)[1:]
        sat = np.bincount(flat, np.minimum(length / _PAL_LEN[k], 1.0).ravel(), n + 1)[1:] / areas
        hue = np.bincount(flat, best_cos.ravel(), n + 1)[1:] / areas
        aspect_prior, fill_prior = SHAPE_PRIORS[colour.category_id]
        for i, sl in enumerate(ndimage.find_objects(labels)):
            area = float(areas[i])
            if area < MIN_AREA:
                continue
            r0, r1, c0, c1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            bw, bh = c1 - c0, r1 - r0
            fill = area / (bw * bh)
            cut_x = c0 == 0 or c1 == cw
            cut_y = r0 == 0 or r1 == ch
            aspect = bh / bw
            if (cut_x and aspect > aspect_prior) or (cut_y and aspect < aspect_prior):
                aspect_term = 1.0  # the cut side is short: no evidence against the class
                fill_term = 1.0 if fill >= fill_prior * 0.7 else _match_term(fill, fill_prior)
            else:
                aspect_term = _match_term(aspect, aspect_prior)
                fill_term = _match_term(fill, fill_prior)
            colour_term = float(sat[i]) * max(0.0, (float(hue[i]) - _COS_MAX) / (1 - _COS_MAX))
            size_term = min(1.0, area / 40.0)
            score = (colour_term ** 0.5) * aspect_term * fill_term * size_term
            if score < MIN_SCORE:
                continue
            x0, y0 = 2 * c0, 2 * r0
            x1, y1 = min(2 * c1, width), min(2 * r1, height)
            out.append(Detection(x0, y0, x1 - x0, y1 - y0, colour.category_id,
                                 round(min(score, 1.0), 4), k))
    out.sort(key=lambda d: (-d.score, d.y, d.x, d.category_id))
    return out


def _reader(path: str | os.PathLike, width: int, height: int, frames: int | None):
    from vcmctc.media.yuv import YuvFormat, YuvReader

    fmt = YuvFormat(width, height)
    if width % 2 or height % 2:
        raise UserError(f"the demo detector needs an even frame size, got {width}x{height}")
    if frames is not None and frames <= 0:
        raise UserError(f"frames must be positive, got {frames}")
    reader = YuvReader(path, fmt)
    if frames is not None and frames > len(reader):
        raise UserError(f"has {len(reader)} frames of {fmt.describe()}, need {frames}",
                        file=path)
    return reader, (len(reader) if frames is None else frames)


def detect_yuv(path: str | os.PathLike, width: int, height: int,
               frames: int | None = None) -> list[list[Detection]]:
    """Detections for each of the first ``frames`` frames (default: all) of an 8-bit YUV file."""
    reader, n = _reader(path, width, height, frames)
    with reader:
        return [detect_frame(*reader[i]) for i in range(n)]


def to_coco_results(per_frame: list[list[Detection]], first_frame: int = 0) -> list[dict]:
    """COCO results list; ``image_id`` = frame index + ``first_frame``."""
    return [{"image_id": i + first_frame, "category_id": d.category_id,
             "bbox": [d.x, d.y, d.w, d.h], "score": d.score}
            for i, dets in enumerate(per_frame) for d in dets]


def _add_video_args(parser: argparse.ArgumentParser, first_default: int) -> None:
    parser.add_argument("--yuv", required=True, help="decoded 8-bit 4:2:0 YUV file")
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--frames", type=int, default=None, help="frames to process")
    parser.add_argument("--first-frame", type=int, default=first_default,
                        help=f"number of the first frame in the output (default {first_default})")
    parser.add_argument("--output", required=True)


def run_video_json(argv: list[str] | None, prog: str, description: str, analyse,
                   to_results) -> None:
    """A demo network's video CLI: ``analyse(yuv, width, height, frames)`` gives per-frame
    outputs, ``to_results(per_frame, first_frame)`` the JSON written to ``--output``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    _add_video_args(parser, 0)
    args = parser.parse_args(argv)
    per_frame = analyse(args.yuv, args.width, args.height, args.frames)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_results(per_frame, args.first_frame)) + "\n")


def _main(argv: list[str] | None) -> None:
    run_video_json(argv, "python -m vcmctc.demo.detector", "Demo detector: COCO results JSON.",
                   detect_yuv, to_coco_results)


def main(argv: list[str] | None = None) -> int:
    return run_cli("vcmctc.demo.detector", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
