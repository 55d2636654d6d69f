"""Deterministic synthetic test sequences with exact ground truth, for the ``ctc-demo`` edition.

A sequence is a slowly panning smooth-noise background of low colour saturation whose texture
also ripples in time (it costs a codec bits, as foliage or water would, and holds no object),
with moving textured objects of three COCO classes, each with its own shape and colour family
so that the demo detector (:mod:`vcmctc.demo.detector`) can find and classify them:

===============  ======  =============================  ===================================
class            COCO id shape                          colours (RGB)
===============  ======  =============================  ===================================
person           1       tall: head, torso, two legs    red, magenta, purple
car              3       wide: body, cabin, dark wheels blue, cyan
sports ball      37      disc                           yellow
===============  ======  =============================  ===================================

Objects enter and leave the frame; they are drawn in depth order (the lower an object's bottom
edge, the nearer it is), so they occlude each other. Frames are rendered straight in Y'CbCr,
8-bit 4:2:0, limited range, with BT.709 colour constants (view them as BT.709 limited range;
``vcmctc.media.yuv.to_rgb`` with its defaults does that). Chroma is the mean of each 2x2 block.
Only IEEE-exact arithmetic (+ - * / sqrt, floor) and ``numpy.random.Generator.random`` are used
(no trigonometry, no BLAS), so the same seed gives the same bytes on every machine, as long as
NumPy keeps its PCG64 stream (it is documented as stable).

Ground truth (one rule, stated once): an object's box is its full (tight) box clipped to the
frame; ``visibility`` is the fraction of its pixels that are seen (inside the frame and not
behind another object), ``in_frame`` the fraction inside the frame.

- detection GT (SFU-HW txt / MPEG JSON / COCO dict): every object with ``visibility >= 0.1`` and
  a clipped box of at least 4x4 pixels;
- tracking GT (MOTChallenge): every *person* with ``in_frame >= 0.1`` and a clipped box of at
  least 4x4, however occluded (``visibility`` may then be 0), ``conf = 1``, ``class = 1``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vcmctc.datasets.coco import COCO80, coco80_categories

PERSON, CAR, BALL = 1, 3, 37
COCO_TO_CONTIGUOUS = {cid: i for i, (cid, _) in enumerate(COCO80)}
MIN_BOX = 4  # pixels: smaller clipped boxes are never annotated
MIN_VISIBILITY = 0.1  # detection GT
MIN_IN_FRAME = 0.1  # tracking GT
RIPPLE = 50.0  # default peak-to-peak luma amplitude of the evolving background texture

# BT.709 luma weights, limited range scaling.
_KR, _KB = 0.2126, 0.0722


def rgb_to_ycbcr(r: float, g: float, b: float) -> tuple[float, float, float]:
    """8-bit R'G'B' to limited-range Y'CbCr (BT.709), unrounded."""
    y = _KR * r + (1 - _KR - _KB) * g + _KB * b
    return (16 + 219 * y / 255, 128 + 224 * (b - y) / (2 * (1 - _KB)) / 255,
            128 + 224 * (r - y) / (2 * (1 - _KR)) / 255)


@dataclass(frozen=True)
class PaletteColour:
    """One object colour: its COCO class and the colour's RGB and Y'CbCr values."""

    name: str
    category_id: int
    rgb: tuple[int, int, int]

    @property
    def ycbcr(self) -> tuple[float, float, float]:
        return rgb_to_ycbcr(*self.rgb)


#: Object colours. The detector knows this table (it is a demo detector for this content).
PALETTE: tuple[PaletteColour, ...] = (
    PaletteColour("red", PERSON, (200, 40, 40)),
    PaletteColour("magenta", PERSON, (190, 40, 150)),
    PaletteColour("purple", PERSON, (120, 50, 190)),
    PaletteColour("blue", CAR, (40, 80, 200)),
    PaletteColour("cyan", CAR, (30, 160, 190)),
    PaletteColour("yellow", BALL, (230, 200, 30)),
)

#: Typical height / width of each class's sprite and the fraction of its box it fills.
SHAPE_PRIORS = {PERSON: (2.6, 0.62), CAR: (0.5, 0.82), BALL: (1.0, 0.79)}


# --------------------------------------------------------------------------- noise and sprites
def _lerp_axis(grid: np.ndarray, n: int, cell: float, axis: int) -> np.ndarray:
    """Linearly interpolate ``grid`` along ``axis`` to ``n`` samples, ``cell`` samples apart."""
    pos = np.arange(n, dtype=np.float64) / cell
    i0 = np.floor(pos).astype(np.int64)
    f = pos - i0
    a = np.take(grid, i0, axis=axis)
    b = np.take(grid, i0 + 1, axis=axis)
    shape = [1, 1]
    shape[axis] = n
    f = f.reshape(shape)
    s = f * f * (3 - 2 * f)  # smoothstep: no visible grid lines
    return a + (b - a) * s


def smooth_noise(rng: np.random.Generator, height: int, width: int,
                 cells: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Sum of value-noise octaves ``(cell size, amplitude)``, normalised to [0, 1]."""
    out = np.zeros((height, width))
    for cell, amp in cells:
        gh, gw = int(height / cell) + 2, int(width / cell) + 2
        grid = rng.random((gh, gw))
        out += amp * _lerp_axis(_lerp_axis(grid, height, cell, 0), width, cell, 1)
    lo, hi = out.min(), out.max()
    return (out - lo) / (hi - lo) if hi > lo else out * 0


def _disc(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy = (np.arange(h)[:, None] + 0.5 - cy) / ry
    xx = (np.arange(w)[None, :] + 0.5 - cx) / rx
    return yy * yy + xx * xx <= 1.0


@dataclass(frozen=True)
class Sprite:
    """An object's appearance: a mask (its tight box is the whole array) and Y, Cb, Cr."""

    mask: np.ndarray  # bool (h, w)
    y: np.ndarray  # float (h, w)
    cb: np.ndarray
    cr: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape


def _crop(mask: np.ndarray, luma: np.ndarray, colour: PaletteColour) -> Sprite:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    sl = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    _, cb, cr = colour.ycbcr
    m = mask[sl]
    return Sprite(m, np.clip(luma[sl], 20, 230), np.full(m.shape, cb), np.full(m.shape, cr))


def make_sprite(rng: np.random.Generator, category_id: int, colour: PaletteColour,
                size: int) -> Sprite:
    """Draw one object. ``size`` is the width (person, car) or diameter (ball) in pixels."""
    base = colour.ycbcr[0]
    if category_id == PERSON:
        w, h = size, int(round(size * SHAPE_PRIORS[PERSON][0]))
        mask = _disc(h, w, 0.11 * h, w / 2, 0.11 * h, min(0.3 * w, 0.11 * h))  # head
        mask |= _disc(h, w, 0.42 * h, w / 2, 0.24 * h, w / 2)  # torso
        legs = np.zeros((h, w), bool)
        legs[int(0.55 * h):, int(0.12 * w):int(0.45 * w) + 1] = True
        legs[int(0.55 * h):, int(0.55 * w):int(0.88 * w) + 1] = True
        mask |= legs
        stripes = (np.arange(h)[:, None] // max(2, h // 12)) % 2  # striped shirt
        tex = smooth_noise(rng, h, w, ((3.0, 1.0),))
        luma = base * (0.8 + 0.35 * tex) - 18 * stripes + np.zeros((1, w))
        luma[int(0.6 * h):] -= 25  # darker trousers
    elif category_id == CAR:
        w, h = size, int(round(size * SHAPE_PRIORS[CAR][0]))
        mask = np.zeros((h, w), bool)
        mask[int(0.38 * h):int(0.85 * h), :] = True  # body
        mask[:int(0.45 * h), int(0.2 * w):int(0.78 * w)] = True  # cabin
        r = 0.16 * h
        for cx in (0.22 * w, 0.78 * w):
            mask |= _disc(h, w, h - r, cx, r, r)  # wheels
        tex = smooth_noise(rng, h, w, ((4.0, 1.0),))
        luma = base * (0.85 + 0.3 * tex)
        win = np.zeros((h, w), bool)
        win[int(0.08 * h):int(0.36 * h), int(0.26 * w):int(0.72 * w)] = True
        luma = np.where(win, luma * 0.55, luma)  # dark windows
        wheel = np.zeros((h, w), bool)
        for cx in (0.22 * w, 0.78 * w):
            wheel |= _disc(h, w, h - r, cx, r, r)
        luma = np.where(wheel, 45.0, luma)
    elif category_id == BALL:
        w = h = size
        mask = _disc(h, w, h / 2, w / 2, h / 2, w / 2)
        tex = smooth_noise(rng, h, w, ((2.0, 1.0),))
        luma = base * (0.8 + 0.25 * tex)
        luma = np.where(_disc(h, w, 0.35 * h, 0.4 * w, 0.15 * h, 0.15 * w), base * 0.6, luma)
    else:
        raise ValueError(f"no sprite for category {category_id}")
    return _crop(mask, luma, colour)


# --------------------------------------------------------------------------- motion plans
@dataclass(frozen=True)
class ObjectPlan:
    """An object's identity, appearance and its top-left corner per frame (None = absent)."""

    track_id: int
    category_id: int
    colour: str
    sprite: Sprite = field(repr=False)
    positions: tuple[tuple[int, int] | None, ...] = field(repr=False)


def _round(v: float) -> int:
    return int(np.floor(v + 0.5))


def _linear_path(frames: int, start: int, x0: float, y0: float, vx: float, vy: float,
                 bob: float = 0.0) -> tuple:
    out = []
    for t in range(frames):
        if t < start:
            out.append(None)
            continue
        k = t - start
        wobble = bob * (1 if (k // 3) % 2 else 0)  # walking bob, no trigonometry
        out.append((_round(x0 + vx * k), _round(y0 + vy * k + wobble)))
    return tuple(out)


def _bounce_path(frames: int, start: int, x0: float, floor_y: float, vx: float, height: float,
                 period: float, phase: float) -> tuple:
    out = []
    for t in range(frames):
        if t < start:
            out.append(None)
            continue
        u = ((t - start) / period + phase) % 1.0  # parabolic hops
        out.append((_round(x0 + vx * (t - start)), _round(floor_y - 4 * height * u * (1 - u))))
    return tuple(out)


def _colour(name: str) -> PaletteColour:
    return next(c for c in PALETTE if c.name == name)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * rng.random()


def _plan_detection(rng: np.random.Generator, width: int, height: int, frames: int,
                    n_people: int, n_cars: int, n_balls: int) -> list[ObjectPlan]:
    """Cars in lanes at the front, people on a pavement behind them, balls hopping around."""
    plans: list[ObjectPlan] = []
    # neighbouring lanes overlap a little: give them different colours
    lanes = [(0.70, "blue"), (0.84, "cyan"), (0.98, "blue")]
    for i in range(n_cars):
        if lanes:
            lane, colour = lanes.pop(int(rng.random() * len(lanes)))
        else:
            lane, colour = _u(rng, 0.7, 0.98), "cyan"
        sprite = make_sprite(rng, CAR, _colour(colour), int(_u(rng, 56, 84)))
        sh, sw = sprite.shape
        speed = _u(rng, 2.0, 4.5) * (1 if i % 2 == 0 else -1)
        late = rng.random() < 0.35  # drives in later, from outside the frame
        start = int(_u(rng, 0.1, 0.5) * frames) if late else 0
        if late:
            x0 = -sw * 0.8 if speed > 0 else width - sw * 0.2
        else:
            x0 = _u(rng, -0.2, 0.85) * width
        plans.append(ObjectPlan(len(plans) + 1, CAR, colour, sprite,
                                _linear_path(frames, start, x0, lane * height - sh, speed, 0.0)))
    for i in range(n_people):
        colour = ("red", "magenta", "purple")[i % 3]
        sprite = make_sprite(rng, PERSON, _colour(colour), int(_u(rng, 14, 24)))
        sh, sw = sprite.shape
        bottom = _u(rng, 0.42, 0.64) * height
        speed = _u(rng, 0.6, 1.8) * (1 if rng.random() < 0.5 else -1)
        x0 = (i + _u(rng, 0.1, 0.9)) / max(n_people, 1) * width - sw / 2
        start = 0 if rng.random() < 0.75 else int(_u(rng, 0.1, 0.6) * frames)
        plans.append(ObjectPlan(len(plans) + 1, PERSON, colour, sprite,
                                _linear_path(frames, start, x0, bottom - sh, speed,
                                             _u(rng, -0.2, 0.2), bob=1.0)))
    for _ in range(n_balls):
        sprite = make_sprite(rng, BALL, _colour("yellow"), int(_u(rng, 12, 22)))
        sh, sw = sprite.shape
        floor_y = _u(rng, 0.3, 0.55) * height
        start = 0 if rng.random() < 0.75 else int(_u(rng, 0.1, 0.6) * frames)
        plans.append(ObjectPlan(len(plans) + 1, BALL, "yellow", sprite,
                                _bounce_path(frames, start, _u(rng, 0.05, 0.9) * width,
                                             floor_y - sh, _u(rng, -3.0, 3.0), _u(rng, 20, 50),
                                             _u(rng, 14, 24), rng.random())))
    return plans


def _plan_tracking(rng: np.random.Generator, width: int, height: int, frames: int,
                   n_people: int) -> list[ObjectPlan]:
    """People walking across the frame in both directions, in pairs that cross, plus one car."""
    plans: list[ObjectPlan] = []
    horizon = 0.35 * height
    prev_bottom = meet_t = meet_x = 0.0
    for i in range(n_people):
        colour = ("red", "purple", "magenta")[i % 3]
        bottom = _u(rng, 0.55, 0.97) * height
        if i % 2 == 1:  # partner of the previous person: nearly the same depth, other way
            bottom = min(0.98 * height, prev_bottom + _u(rng, -0.06, 0.06) * height)
        prev_bottom = bottom
        size = int(10 + 18 * (bottom - horizon) / (height - horizon))  # perspective
        sprite = make_sprite(rng, PERSON, _colour(colour), size)
        sh, sw = sprite.shape
        direction = 1 if i % 2 == 0 else -1
        speed = _u(rng, 1.2, 2.6) * direction
        if i % 2 == 0:  # where and when this pair crosses; pairs cross one after another
            n_pairs = (n_people + 1) // 2
            meet_t = (i // 2 + _u(rng, 0.3, 0.7)) / n_pairs * frames
            meet_x = _u(rng, 0.2, 0.8) * width
        start = 0 if rng.random() < 0.7 else int(_u(rng, 0.1, 0.4) * frames)
        x0 = meet_x - speed * (meet_t - start) - sw / 2
        plans.append(ObjectPlan(len(plans) + 1, PERSON, colour, sprite,
                                _linear_path(frames, start, x0, bottom - sh, speed,
                                             _u(rng, -0.15, 0.15), bob=1.0)))
    # a distractor car (not in the tracking GT) driving across the back
    sprite = make_sprite(rng, CAR, _colour("blue"), int(_u(rng, 50, 64)))
    sh, sw = sprite.shape
    plans.append(ObjectPlan(len(plans) + 1, CAR, "blue", sprite,
                            _linear_path(frames, 0, -sw * 0.5, 0.5 * height - sh,
                                         _u(rng, 3.0, 5.0), 0.0)))
    return plans


# --------------------------------------------------------------------------- rendering
@dataclass(frozen=True)
class ObjectBox:
    """One object in one frame (0-based frame index): clipped box, visibility, in-frame part."""

    frame: int
    track_id: int
    category_id: int
    x: int
    y: int
    w: int
    h: int
    visibility: float
    in_frame: float


@dataclass(eq=False)
class SyntheticSequence:
    """Frames (Y, U, V uint8 arrays), the per-pixel object map and every object box."""

    name: str
    kind: str  # "detection" | "tracking"
    seed: int
    width: int
    height: int
    fps: float
    y: np.ndarray = field(repr=False)  # (N, H, W)
    u: np.ndarray = field(repr=False)  # (N, H/2, W/2)
    v: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)  # (N, H, W) int16: track id on top, 0 = background
    objects: tuple[ObjectBox, ...] = field(repr=False)
    plans: tuple[ObjectPlan, ...] = field(repr=False)

    @property
    def frames(self) -> int:
        return int(self.y.shape[0])

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3 // 2

    # ---------------------------------------------------------------- raw video
    def yuv_bytes(self) -> bytes:
        """The whole sequence as raw 8-bit 4:2:0 (``yuv420p``)."""
        parts = []
        for i in range(self.frames):
            parts += [self.y[i].tobytes(), self.u[i].tobytes(), self.v[i].tobytes()]
        return b"".join(parts)

    def md5(self) -> str:
        return hashlib.md5(self.yuv_bytes()).hexdigest()

    def write_yuv(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.yuv_bytes())
        return path

    # ---------------------------------------------------------------- ground truth
    def detection_boxes(self) -> list[ObjectBox]:
        """Boxes of the detection GT (see the module docstring for the rule)."""
        return [o for o in self.objects
                if o.visibility >= MIN_VISIBILITY and o.w >= MIN_BOX and o.h >= MIN_BOX]

    def tracking_boxes(self) -> list[ObjectBox]:
        """Boxes of the tracking GT: people, however occluded."""
        return [o for o in self.objects if o.category_id == PERSON
                and o.in_frame >= MIN_IN_FRAME and o.w >= MIN_BOX and o.h >= MIN_BOX]

    def coco_gt(self) -> dict:
        """Detection GT as the neutral COCO dict (image id = 0-based frame, real COCO ids)."""
        from vcmctc.datasets.sfu import sfu_file_name

        images = [{"id": i, "width": self.width, "height": self.height,
                   "file_name": sfu_file_name(self.name, i)} for i in range(self.frames)]
        anns = [{"id": k + 1, "image_id": o.frame, "category_id": o.category_id,
                 "bbox": [o.x, o.y, o.w, o.h], "area": o.w * o.h, "iscrowd": 0}
                for k, o in enumerate(self.detection_boxes())]
        return {"images": images, "annotations": anns, "categories": coco80_categories()}

    def write_sfu_txt(self, folder: str | os.PathLike) -> Path:
        """SFU-HW style per-frame files ``<name>_<NNN>.txt``: ``cls cx cy w h`` normalised,
        ``cls`` the 0-based COCO-80 index; frames numbered from 0; empty file = no object."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        rows: dict[int, list[str]] = {i: [] for i in range(self.frames)}
        for o in self.detection_boxes():
            rows[o.frame].append(
                f"{COCO_TO_CONTIGUOUS[o.category_id]} {(o.x + o.w / 2) / self.width:.6f} "
                f"{(o.y + o.h / 2) / self.height:.6f} {o.w / self.width:.6f} "
                f"{o.h / self.height:.6f}")
        for frame, lines in rows.items():
            (folder / f"{self.name}_{frame:03d}.txt").write_text(
                "".join(line + "\n" for line in lines))
        return folder

    def write_sfu_json(self, path: str | os.PathLike) -> Path:
        """MPEG SFU JSON layout (m59143): float image ids, contiguous category ids."""
        gt = self.coco_gt()
        data = {
            "images": [{**img, "id": float(img["id"])} for img in gt["images"]],
            "annotations": [{**a, "image_id": float(a["image_id"]),
                             "category_id": COCO_TO_CONTIGUOUS[a["category_id"]]}
                            for a in gt["annotations"]],
            "categories": [{"id": i, "name": name} for i, (_, name) in enumerate(COCO80)],
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
        return path

    def mot_lines(self, first_frame: int = 1) -> list[str]:
        """``gt.txt`` lines ``frame,id,x,y,w,h,1,1,visibility`` (frames from ``first_frame``)."""
        boxes = sorted(self.tracking_boxes(), key=lambda o: (o.frame, o.track_id))
        return [f"{o.frame + first_frame},{o.track_id},{o.x},{o.y},{o.w},{o.h},1,1,"
                f"{o.visibility:.6f}" for o in boxes]

    def write_mot(self, seq_dir: str | os.PathLike, first_frame: int = 1) -> Path:
        """MOTChallenge layout: ``<seq_dir>/gt/gt.txt`` and ``<seq_dir>/seqinfo.ini``."""
        seq_dir = Path(seq_dir)
        (seq_dir / "gt").mkdir(parents=True, exist_ok=True)
        (seq_dir / "gt" / "gt.txt").write_text("".join(l + "\n" for l in
                                                       self.mot_lines(first_frame)))
        (seq_dir / "seqinfo.ini").write_text(
            "[Sequence]\n"
            f"name={self.name}\nimDir=img1\nframeRate={self.fps:g}\n"
            f"seqLength={self.frames}\nimWidth={self.width}\nimHeight={self.height}\n"
            "imExt=.png\n")
        return seq_dir


def quantise_420(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-resolution float Y'CbCr planes to 8-bit 4:2:0 (limited range): chroma is the mean
    of each 2x2 block; values are clipped (Y 16..235, Cb Cr 16..240) and rounded half up."""
    def sub(plane: np.ndarray) -> np.ndarray:
        return (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2]) * 0.25

    return (np.floor(np.clip(luma, 16, 235) + 0.5).astype(np.uint8),
            np.floor(np.clip(sub(cb), 16, 240) + 0.5).astype(np.uint8),
            np.floor(np.clip(sub(cr), 16, 240) + 0.5).astype(np.uint8))


def render(name: str, kind: str, seed: int, width: int, height: int, frames: int, fps: float,
           plans: list[ObjectPlan], background: "Background") -> SyntheticSequence:
    """Composite the planned objects over the background, frame by frame."""
    ys = np.empty((frames, height, width), np.uint8)
    us = np.empty((frames, height // 2, width // 2), np.uint8)
    vs = np.empty_like(us)
    labels = np.zeros((frames, height, width), np.int16)
    objects: list[ObjectBox] = []
    areas = {p.track_id: int(p.sprite.mask.sum()) for p in plans}
    for t in range(frames):
        luma, cb, cr = background.frame(t)
        lab = labels[t]
        present = [(p, p.positions[t]) for p in plans if p.positions[t] is not None]
        # far (higher bottom edge) first; ties by id so the order is total
        present.sort(key=lambda pp: (pp[1][1] + pp[0].sprite.shape[0], pp[0].track_id))
        placed = {}
        for plan, (x, y) in present:
            sh, sw = plan.sprite.shape
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + sw, width), min(y + sh, height)
            if x1 <= x0 or y1 <= y0:
                continue
            m = plan.sprite.mask[y0 - y:y1 - y, x0 - x:x1 - x]
            dst = np.s_[y0:y1, x0:x1]
            src = np.s_[y0 - y:y1 - y, x0 - x:x1 - x]
            luma[dst] = np.where(m, plan.sprite.y[src], luma[dst])
            cb[dst] = np.where(m, plan.sprite.cb[src], cb[dst])
            cr[dst] = np.where(m, plan.sprite.cr[src], cr[dst])
            lab[dst] = np.where(m, plan.track_id, lab[dst])
            inside = int(m.sum())
            # the full box clipped to the frame (the sprite's tight box is the whole array)
            placed[plan.track_id] = (plan, (x0, y0, x1 - x0, y1 - y0), inside)
        if placed:
            counts = np.bincount(lab.ravel(), minlength=max(placed) + 1)
            for tid in sorted(placed):
                plan, (bx, by, bw, bh), inside = placed[tid]
                objects.append(ObjectBox(t, tid, plan.category_id, bx, by, bw, bh,
                                         round(int(counts[tid]) / areas[tid], 6),
                                         round(inside / areas[tid], 6)))
        ys[t], us[t], vs[t] = quantise_420(luma, cb, cr)
    return SyntheticSequence(name, kind, seed, width, height, fps, ys, us, vs, labels,
                             tuple(objects), tuple(plans))


class Background:
    """A panning smooth-noise panorama (low colour saturation) whose luma also evolves in time.

    The evolving part (value noise interpolated in space and time, like rippling water or
    foliage) costs a codec bits at low and medium QPs and carries no object: the kind of
    content a machine-oriented codec can drop.
    """

    SPACE_CELL = 8.0  # pixels between the evolving noise's grid points
    TIME_CELL = 6  # frames between them

    def __init__(self, rng: np.random.Generator, height: int, width: int, frames: int,
                 pan: tuple[float, float], ripple: float):
        self.height, self.width, self.pan, self.ripple = height, width, pan, ripple
        bh = height + _round(abs(pan[1]) * frames) + 2
        bw = width + _round(abs(pan[0]) * frames) + 2
        tex = smooth_noise(rng, bh, bw, ((48.0, 0.6), (12.0, 0.3), (3.0, 0.15)))
        self.luma = 60 + 130 * tex
        tint = smooth_noise(rng, bh, bw, ((64.0, 1.0),))
        self.cb = 128 - 3 + 4 * tint  # greyish green-brown, low saturation
        self.cr = 128 - 2 + 3 * (1 - tint)
        self.grid = rng.random((frames // self.TIME_CELL + 2,
                                int(height / self.SPACE_CELL) + 2,
                                int(width / self.SPACE_CELL) + 2))

    def frame(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Float Y, Cb, Cr planes (full resolution) of frame ``t``."""
        h, w = self.height, self.width
        ox, oy = _round(self.pan[0] * t), _round(self.pan[1] * t)
        luma = self.luma[oy:oy + h, ox:ox + w].copy()
        if self.ripple:
            k, r = divmod(t, self.TIME_CELL)
            f = r / self.TIME_CELL
            f = f * f * (3 - 2 * f)
            g = self.grid[k] * (1 - f) + self.grid[k + 1] * f
            field = _lerp_axis(_lerp_axis(g, h, self.SPACE_CELL, 0), w, self.SPACE_CELL, 1)
            luma += self.ripple * (field - 0.5)
        return (luma, self.cb[oy:oy + h, ox:ox + w].copy(),
                self.cr[oy:oy + h, ox:ox + w].copy())


def _check_size(width: int, height: int, frames: int) -> None:
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ValueError(f"frame size must be even and at least 64x64, got {width}x{height}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")


def make_detection_sequence(name: str, seed: int, width: int = 416, height: int = 240,
                            frames: int = 33, fps: float = 30.0, people: int = 4, cars: int = 3,
                            balls: int = 2, ripple: float = RIPPLE) -> SyntheticSequence:
    """A street-like scene with people, cars and bouncing balls (detection GT)."""
    _check_size(width, height, frames)
    rng = np.random.default_rng([seed, 1])
    pan = (0.5, 0.15)  # pixels per frame
    background = Background(rng, height, width, frames, pan, ripple)
    plans = _plan_detection(rng, width, height, frames, people, cars, balls)
    return render(name, "detection", seed, width, height, frames, fps, plans, background)


def make_tracking_sequence(name: str, seed: int, width: int = 416, height: int = 240,
                           frames: int = 60, fps: float = 30.0,
                           people: int = 6, ripple: float = RIPPLE) -> SyntheticSequence:
    """People walking in crossing pairs (they occlude each other) and a distractor car."""
    _check_size(width, height, frames)
    rng = np.random.default_rng([seed, 2])
    pan = (0.3, 0.0)
    background = Background(rng, height, width, frames, pan, ripple)
    plans = _plan_tracking(rng, width, height, frames, people)
    return render(name, "tracking", seed, width, height, frames, fps, plans, background)


# --------------------------------------------------------------------------- the demo set
#: The demo sequences: name -> (kind, seed, frames).
DEMO_SEQUENCES: dict[str, tuple[str, int, int]] = {
    "SynthStreet": ("detection", 11, 33),
    "SynthPark": ("detection", 22, 33),
    "SynthCrossing": ("tracking", 33, 60),
}
DEMO_WIDTH, DEMO_HEIGHT, DEMO_FPS = 416, 240, 30


def make_demo_sequence(name: str) -> SyntheticSequence:
    """One of :data:`DEMO_SEQUENCES`, at 416x240, 30 fps."""
    try:
        kind, seed, frames = DEMO_SEQUENCES[name]
    except KeyError:
        from vcmctc.errors import UserError

        raise UserError(f"unknown demo sequence {name!r} "
                        f"(known: {', '.join(DEMO_SEQUENCES)})") from None
    make = make_detection_sequence if kind == "detection" else make_tracking_sequence
    return make(name, seed, DEMO_WIDTH, DEMO_HEIGHT, frames, DEMO_FPS)


def yuv_file_name(seq: SyntheticSequence) -> str:
    """``<name>_<W>x<H>_<fps>.yuv``, like the JCT-VC file names."""
    return f"{seq.name}_{seq.width}x{seq.height}_{seq.fps:g}.yuv"


def write_sequence_files(seq: SyntheticSequence, root: str | os.PathLike) -> dict[str, Path]:
    """Write a sequence and its GT under ``root``; returns the paths by role.

    Layout: ``yuv/<name>_<W>x<H>_<fps>.yuv``; detection sequences ``sfu/<name>/<name>_NNN.txt``
    and ``sfu/<name>.json``; tracking sequences ``mot/<name>/{gt/gt.txt,seqinfo.ini}`` (frames
    from 1).
    """
    root = Path(root)
    paths = {"yuv": seq.write_yuv(root / "yuv" / yuv_file_name(seq))}
    if seq.kind == "detection":
        paths["sfu_txt"] = seq.write_sfu_txt(root / "sfu" / seq.name)
        paths["sfu_json"] = seq.write_sfu_json(root / "sfu" / f"{seq.name}.json")
    else:
        paths["mot"] = seq.write_mot(root / "mot" / seq.name, first_frame=1)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m vcmctc.demo.scene --output DIR [NAME ...]``: write the demo sequences."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m vcmctc.demo.scene",
                                     description="Write the synthetic demo sequences and GT.")
    parser.add_argument("--output", required=True, help="root directory")
    parser.add_argument("names", nargs="*", help=f"default: {' '.join(DEMO_SEQUENCES)}")
    args = parser.parse_args(argv)
    from vcmctc.errors import UserError

    try:
        for name in args.names or DEMO_SEQUENCES:
            seq = make_demo_sequence(name)
            paths = write_sequence_files(seq, args.output)
            print(f"{name}: {seq.frames} frames, md5 {seq.md5()}, {paths['yuv']}")
    except UserError as exc:
        print(f"vcmctc.demo.scene: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
