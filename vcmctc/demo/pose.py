"""The demo pose sequence ``SynthDance`` (COCO keypoints family) and its pose estimator.

Made for the synthetic demo content only: the estimator knows the marker colours.

**Video.** :data:`WIDTH` x :data:`HEIGHT`, :data:`FRAMES` frames at :data:`FPS`, 8-bit 4:2:0
Y'CbCr (BT.709, limited range; rendered like :mod:`vcmctc.demo.scene`, with the same rippling
textured background and only IEEE-exact arithmetic, so the bytes are the same on every
machine). :data:`DANCERS` dancers, side by side and never overlapping, each drawn as a cartoon
figure in one of the demo's person colours (red, magenta: the demo detector sees them as people):
thick limbs between the keypoints, a filled torso, a neck and a round head. On top, each of the
17 COCO keypoints (COCO order, :data:`KEYPOINTS`) is a small disc (radius
:data:`MARKER_RADIUS`) in its own colour (:data:`MARKER_RGB`: nine hues away from the person
colours; left keypoints bright, right ones dark). The dancers move between key poses (arms
down, up, out; a knee raised), sway and bob; key poses are blended with a smoothstep.

**Ground truth** (COCO keypoints JSON, :func:`coco_gt`): one image per frame (``id`` = frame
index from 0, ``width``, ``height``, ``file_name``); one annotation per dancer and frame with
``keypoints`` ``[x, y, v] * 17`` where ``(x, y)`` is the marker's centre pixel (integer pixel
indices, COCO's convention) and ``v`` is 2 when at least half of the marker's pixels are seen,
else 1 (never 0: the dancers stay inside the frame), ``num_keypoints`` (17), ``bbox`` the tight
box of the drawn figure, ``area`` the number of its pixels (COCO uses the segmentation's area as
the OKS scale: the figure is the person's segmentation), ``category_id`` 1, ``iscrowd`` 0; the
``person`` category with the 17 keypoint names and, as ``skeleton``, the limbs drawn between
keypoints (1-based pairs).

**Pose estimator** (:func:`estimate_frame`, ``python -m vcmctc.demo.tasknet --task
pose-estimation --yuv F --width W --height H --frames N --first-frame F --output out.json``):
at chroma resolution, each sample is classified to the nearest of the person and marker colours
(luma of the 2x2 block weighted by :data:`LUMA_WEIGHT`, chroma in full), if close enough and
colourful enough; people are the 8-connected components of person- and marker-classified samples
(after closing small gaps); in each person's box, keypoint *k* is the weighted centroid of the
largest blob of samples classified as *k* (weights fall with the colour distance), its score the
blob's mean weight times a size term. A keypoint not found is put at the person's centre with
score 0. The person score is the mean keypoint score. Compression blurs and washes out the small
markers, so the estimate degrades with the QP. Output: COCO keypoint results
``[{image_id, category_id: 1, keypoints: [x, y, score] * 17, score}]``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vcmctc.demo import scene
from vcmctc.demo._cli import run_cli

NAME = "SynthDance"
WIDTH, HEIGHT, FRAMES, FPS = 416, 240, 33, 30
SEED = 55

#: COCO's 17 person keypoints, in COCO order.
KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
             "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
_K = {name: i for i, name in enumerate(KEYPOINTS)}

#: Limbs drawn between keypoints (0-based pairs); ``skeleton`` in the GT lists them 1-based.
LIMBS = tuple((_K[a], _K[b]) for a, b in (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip")))

# Nine marker hues (RGB of HSV hues 25..233 degrees), bright (left keypoints, the nose) and dark
# (right keypoints). Neighbouring hues go to keypoints far apart on the body.
_BRIGHT = ((242, 122, 36), (242, 211, 36), (184, 242, 36), (95, 242, 36), (36, 242, 67),
           (36, 242, 156), (36, 239, 242), (36, 150, 242), (36, 60, 242))
_DARK = ((140, 63, 7), (140, 120, 7), (102, 140, 7), (45, 140, 7), (7, 140, 27),
         (7, 140, 85), (7, 138, 140), (7, 80, 140), (7, 23, 140))
_HUE_OF = {"nose": 0, "eye": 4, "ear": 7, "shoulder": 2, "elbow": 5, "wrist": 8, "hip": 6,
           "knee": 1, "ankle": 3}


def _marker_rgb(name: str) -> tuple[int, int, int]:
    side, _, part = name.partition("_")
    hue = _HUE_OF[part or side]
    return _DARK[hue] if side == "right" else _BRIGHT[hue]


#: RGB of each keypoint's marker, in COCO order.
MARKER_RGB: tuple[tuple[int, int, int], ...] = tuple(_marker_rgb(n) for n in KEYPOINTS)
BODY_COLOURS = ("red", "magenta", "purple")  # the estimator knows all three
DANCERS = 2
SWAY = (10, 30)  # pixels of sideways sway of each dancer (range of the seeded draw)

MARKER_RADIUS = 2.5  # pixels: a marker is the disc of pixel centres within this distance
LIMB_WIDTH = 0.075  # of the figure height
HEAD_RADIUS = 0.115  # of the figure height

# Key poses: (x, y) of each keypoint in units of the figure height, from the hip centre (x to
# the image right = the dancer's left: dancers face the camera; y down).
_FACE = ((0.0, -0.50), (0.045, -0.54), (-0.045, -0.54), (0.09, -0.51), (-0.09, -0.51))
_LEGS = ((0.07, 0.0), (-0.07, 0.0), (0.09, 0.23), (-0.09, 0.23), (0.10, 0.46), (-0.10, 0.46))
KEY_POSES: dict[str, tuple[tuple[float, float], ...]] = {
    "down": _FACE + ((0.12, -0.37), (-0.12, -0.37), (0.17, -0.20), (-0.17, -0.20),
                     (0.20, -0.05), (-0.20, -0.05)) + _LEGS,
    "up": _FACE + ((0.12, -0.37), (-0.12, -0.37), (0.20, -0.52), (-0.20, -0.52),
                   (0.25, -0.68), (-0.25, -0.68)) + _LEGS,
    "out": _FACE + ((0.12, -0.37), (-0.12, -0.37), (0.24, -0.30), (-0.24, -0.30),
                    (0.32, -0.20), (-0.32, -0.20)) + _LEGS,
    "left-knee": _FACE + ((0.12, -0.37), (-0.12, -0.37), (0.22, -0.45), (-0.18, -0.22),
                          (0.24, -0.62), (-0.22, -0.07)) + (
                              (0.07, 0.0), (-0.07, 0.0), (0.16, 0.13), (-0.09, 0.23),
                              (0.15, 0.34), (-0.10, 0.46)),
    "right-knee": _FACE + ((0.12, -0.37), (-0.12, -0.37), (0.18, -0.22), (-0.22, -0.45),
                           (0.22, -0.07), (-0.24, -0.62)) + (
                               (0.07, 0.0), (-0.07, 0.0), (0.09, 0.23), (-0.16, 0.13),
                               (0.10, 0.46), (-0.15, 0.34)),
}


@dataclass(frozen=True)
class Dancer:
    """One dancer: body colour, figure height (pixels), hip centre path and pose programme."""

    colour: str
    height: float
    x0: float  # hip centre x at frame 0
    y0: float  # hip centre y
    sway: float  # pixels of horizontal sway (triangle wave) each way
    sway_period: int  # frames
    poses: tuple[str, ...]  # key poses, one every ``step`` frames, repeated
    step: int
    phase: int  # frames


def _triangle(t: float, period: int) -> float:
    """-1 .. 1 triangle wave of the given period (no trigonometry)."""
    u = (t / period) % 1.0
    return 4 * u - 1 if u < 0.5 else 3 - 4 * u


def dancer_keypoints(d: Dancer, t: int) -> np.ndarray:
    """(17, 2) float keypoint positions of dancer ``d`` in frame ``t``."""
    k, r = divmod(t + d.phase, d.step)
    a = np.array(KEY_POSES[d.poses[k % len(d.poses)]])
    b = np.array(KEY_POSES[d.poses[(k + 1) % len(d.poses)]])
    f = r / d.step
    f = f * f * (3 - 2 * f)
    pose = a + (b - a) * f
    bob = 0.02 * d.height * (1 - abs(_triangle(t + d.phase, d.step)))
    cx = d.x0 + d.sway * _triangle(t, d.sway_period)
    return pose * d.height + np.array([cx, d.y0 + bob])


# --------------------------------------------------------------------------- drawing
def _capsule(xx: np.ndarray, yy: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    """Pixels whose centre is within ``r`` of the segment a-b."""
    d = b - a
    px, py = xx + 0.5 - a[0], yy + 0.5 - a[1]
    n = float(d @ d)
    s = np.clip((px * d[0] + py * d[1]) / n, 0.0, 1.0) if n > 0 else np.zeros_like(px)
    ex, ey = px - s * d[0], py - s * d[1]
    return ex * ex + ey * ey <= r * r


def _convex(xx: np.ndarray, yy: np.ndarray, corners: list[np.ndarray]) -> np.ndarray:
    """Pixels whose centre is inside the convex polygon (either winding)."""
    inside_pos = np.ones(xx.shape, bool)
    inside_neg = np.ones(xx.shape, bool)
    for i in range(len(corners)):
        a, b = corners[i], corners[(i + 1) % len(corners)]
        cross = (b[0] - a[0]) * (yy + 0.5 - a[1]) - (b[1] - a[1]) * (xx + 0.5 - a[0])
        inside_pos &= cross >= 0
        inside_neg &= cross <= 0
    return inside_pos | inside_neg


def draw_dancer(kp: np.ndarray, height: float, width_px: int, height_px: int
                ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The figure of one dancer around keypoints ``kp`` (17, 2): a label map of a window
    (0 nothing, 1 body, 2 + k marker k), the integer keypoints (17, 2) and the window's origin."""
    ip = np.floor(kp + 0.5).astype(np.int64)
    lw = LIMB_WIDTH * height / 2
    head_r = HEAD_RADIUS * height
    pad = int(np.ceil(max(lw, head_r))) + 4
    x0 = max(0, int(ip[:, 0].min()) - pad)
    y0 = max(0, int(ip[:, 1].min()) - pad)
    x1 = min(width_px, int(ip[:, 0].max()) + pad + 1)
    y1 = min(height_px, int(ip[:, 1].max()) + pad + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    centres = ip.astype(np.float64) + 0.5  # markers are centred on their pixel
    body = np.zeros(xx.shape, bool)
    for a, b in LIMBS:
        body |= _capsule(xx, yy, centres[a], centres[b], lw)
    for hand, elbow in ((_K["left_wrist"], _K["left_elbow"]),
                        (_K["right_wrist"], _K["right_elbow"]),
                        (_K["left_ankle"], _K["left_knee"]),
                        (_K["right_ankle"], _K["right_knee"])):
        d = centres[hand] - centres[elbow]
        n = float(np.sqrt(d @ d))
        tip = centres[hand] + d * (0.035 * height / n) if n > 0 else centres[hand]
        body |= _capsule(xx, yy, centres[hand], tip, lw)  # hands and feet
    body |= _convex(xx, yy, [centres[_K[n]] for n in ("left_shoulder", "left_hip",
                                                          "right_hip", "right_shoulder")])
    head = centres[_K["nose"]] + np.array([0.0, -0.025 * height])
    neck = (centres[_K["left_shoulder"]] + centres[_K["right_shoulder"]]) / 2
    body |= _capsule(xx, yy, neck, head, lw)
    body |= _capsule(xx, yy, head, head, head_r)
    label = body.astype(np.int16)
    for k in range(len(KEYPOINTS)):
        label[_capsule(xx, yy, centres[k], centres[k], MARKER_RADIUS)] = 2 + k
    return label, ip, (x0, y0)


@dataclass(eq=False)
class PoseSequence:
    """Frames (Y, U, V uint8 arrays) and the keypoint annotations of every dancer and frame."""

    name: str
    width: int
    height: int
    fps: float
    y: np.ndarray = field(repr=False)
    u: np.ndarray = field(repr=False)
    v: np.ndarray = field(repr=False)
    annotations: tuple[dict, ...] = field(repr=False)  # COCO annotations (no id)

    @property
    def frames(self) -> int:
        return int(self.y.shape[0])

    def yuv_bytes(self) -> bytes:
        return b"".join(self.y[i].tobytes() + self.u[i].tobytes() + self.v[i].tobytes()
                        for i in range(self.frames))

    def coco_gt(self) -> dict:
        """COCO keypoints ground truth (image id = frame index from 0)."""
        images = [{"id": i, "width": self.width, "height": self.height,
                   "file_name": f"{self.name}_{i:03d}.png"} for i in range(self.frames)]
        anns = [{"id": n + 1, **a} for n, a in enumerate(self.annotations)]
        return {"images": images, "annotations": anns, "categories": [person_category()]}


def person_category() -> dict:
    """The COCO ``person`` category with its keypoint names and the drawn skeleton."""
    return {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(KEYPOINTS),
            "skeleton": [[a + 1, b + 1] for a, b in LIMBS]}


def _dancers(rng: np.random.Generator, width: int) -> list[Dancer]:
    programmes = (("down", "up", "out", "left-knee", "down", "right-knee"),
                  ("out", "right-knee", "up", "down", "left-knee", "up"),
                  ("up", "out", "down", "left-knee", "out", "right-knee"))
    out = []
    lane = width / DANCERS
    for i, colour in enumerate(BODY_COLOURS[:DANCERS]):
        height = scene._u(rng, 140, 162)
        out.append(Dancer(colour, height, lane * (i + 0.5) + scene._u(rng, -4, 4),
                          scene._u(rng, 128, 136), scene._u(rng, *SWAY),
                          int(scene._u(rng, 20, 34)), programmes[i], int(scene._u(rng, 7, 10)),
                          int(rng.integers(0, 8))))
    return out


def make_pose_sequence(name: str = NAME, seed: int = SEED, frames: int = FRAMES) -> PoseSequence:
    """The dancing sequence at :data:`WIDTH` x :data:`HEIGHT`, :data:`FPS` (the same bytes for
    the same seed and length)."""
    width, height, fps = WIDTH, HEIGHT, FPS
    scene._check_size(width, height, frames)
    rng = np.random.default_rng([seed, 4])
    background = scene.Background(rng, height, width, frames, (0.25, 0.0), scene.RIPPLE)
    dancers = _dancers(rng, width)
    markers = [scene.rgb_to_ycbcr(*c) for c in MARKER_RGB]
    bodies = []
    for d in dancers:  # a luma texture that moves with the figure's window
        tex = scene.smooth_noise(rng, height, width, ((5.0, 1.0),))
        bodies.append((scene._colour(d.colour).ycbcr, tex))
    ys = np.empty((frames, height, width), np.uint8)
    us = np.empty((frames, height // 2, width // 2), np.uint8)
    vs = np.empty_like(us)
    anns: list[dict] = []
    for t in range(frames):
        luma, cb, cr = background.frame(t)
        for d, ((by, bcb, bcr), tex) in zip(dancers, bodies):
            label, ip, (x0, y0) = draw_dancer(dancer_keypoints(d, t), d.height, width, height)
            lh, lw = label.shape
            win = np.s_[y0:y0 + lh, x0:x0 + lw]
            body = label == 1
            shade = by * (0.85 + 0.3 * tex[:lh, :lw])
            luma[win] = np.where(body, shade, luma[win])
            cb[win] = np.where(body, bcb, cb[win])
            cr[win] = np.where(body, bcr, cr[win])
            kps = []
            for k, (my, mcb, mcr) in enumerate(markers):
                m = label == 2 + k
                luma[win] = np.where(m, my, luma[win])
                cb[win] = np.where(m, mcb, cb[win])
                cr[win] = np.where(m, mcr, cr[win])
                kps += [int(ip[k, 0]), int(ip[k, 1]), 2 if 2 * int(m.sum()) >= _MARKER_AREA else 1]
            rows, cols = np.nonzero(label)
            anns.append({"image_id": t, "category_id": 1, "keypoints": kps,
                         "num_keypoints": len(KEYPOINTS),
                         "bbox": [int(cols.min()) + x0, int(rows.min()) + y0,
                                  int(cols.max() - cols.min()) + 1,
                                  int(rows.max() - rows.min()) + 1],
                         "area": int(rows.size), "iscrowd": 0})
        ys[t], us[t], vs[t] = scene.quantise_420(luma, cb, cr)
    return PoseSequence(name, width, height, fps, ys, us, vs, tuple(anns))


def _marker_area() -> int:
    r = int(np.ceil(MARKER_RADIUS))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return int(((xx * xx + yy * yy) <= MARKER_RADIUS * MARKER_RADIUS).sum())


_MARKER_AREA = _marker_area()


# --------------------------------------------------------------------------- pose estimator
LUMA_WEIGHT = 0.5  # weight of the luma difference in the colour distance
MIN_CHROMA = 15.0  # chroma vector length (8-bit code values) of a person or marker sample
MAX_DISTANCE = 30.0  # colour distance beyond which a sample belongs to no class
MIN_PERSON_AREA = 80  # chroma samples of a person component
MARKER_SAMPLES = 4.0  # chroma samples of a clean marker blob (for the size term)

_CLASS_COLOURS = np.array(
    [scene.rgb_to_ycbcr(*c) for c in MARKER_RGB]
    + [scene._colour(n).ycbcr for n in BODY_COLOURS])
_FEATURES = np.stack([LUMA_WEIGHT * _CLASS_COLOURS[:, 0], _CLASS_COLOURS[:, 1] - 128.0,
                      _CLASS_COLOURS[:, 2] - 128.0], axis=1)
_N_MARKERS = len(KEYPOINTS)
_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class PoseEstimate:
    """One person: keypoints (17, 3) as x, y (pixel indices) and score; the person's score."""

    keypoints: tuple[tuple[float, float, float], ...]
    score: float


def classify(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per chroma sample: class (0..16 marker k, 17.. person colours, -1 none) and weight."""
    ch, cw = u.shape
    yb = y[:2 * ch, :2 * cw].astype(np.float64).reshape(ch, 2, cw, 2).mean(axis=(1, 3))
    cb = u.astype(np.float64) - 128.0
    cr = v.astype(np.float64) - 128.0
    cls = np.full(ch * cw, -1, np.int64)
    weight = np.zeros(ch * cw)
    strong = np.flatnonzero((cb * cb + cr * cr).ravel() >= MIN_CHROMA * MIN_CHROMA)
    if strong.size:
        feats = np.stack([LUMA_WEIGHT * yb.ravel()[strong], cb.ravel()[strong],
                          cr.ravel()[strong]], axis=1)
        d2 = ((feats[:, None, :] - _FEATURES[None, :, :]) ** 2).sum(axis=2)
        best = np.argmin(d2, axis=1)
        dist = np.sqrt(d2[np.arange(strong.size), best])
        ok = dist < MAX_DISTANCE
        cls[strong[ok]] = best[ok]
        weight[strong[ok]] = 1.0 - dist[ok] / MAX_DISTANCE
    return cls.reshape(ch, cw), weight.reshape(ch, cw)


def estimate_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> list[PoseEstimate]:
    """Pose estimates of one 8-bit 4:2:0 frame, in a fixed order (score, then position)."""
    from scipy import ndimage

    cls, weight = classify(y, u, v)
    people, n = ndimage.label(ndimage.binary_closing(cls >= 0, _EIGHT), structure=_EIGHT)
    out = []
    for i, sl in enumerate(ndimage.find_objects(people)):
        region = people[sl] == i + 1
        if int(region.sum()) < MIN_PERSON_AREA:
            continue
        c_cls, c_w = cls[sl], weight[sl]
        rows, cols = np.nonzero(region)
        centre = (2 * (cols.mean() + sl[1].start) + 0.5, 2 * (rows.mean() + sl[0].start) + 0.5)
        kps = []
        for k in range(_N_MARKERS):
            mask = region & (c_cls == k)
            if not mask.any():
                kps.append((round(centre[0], 2), round(centre[1], 2), 0.0))
                continue
            blobs, nb = ndimage.label(mask, structure=_EIGHT)
            sums = np.bincount(blobs.ravel(), c_w.ravel(), nb + 1)[1:]
            j = int(np.argmax(sums)) + 1  # the blob with the most weight
            br, bc = np.nonzero(blobs == j)
            w = c_w[br, bc]
            cx = float((w * bc).sum() / w.sum()) + sl[1].start
            cy = float((w * br).sum() / w.sum()) + sl[0].start
            score = float(w.mean()) * min(1.0, br.size / MARKER_SAMPLES)
            kps.append((round(2 * cx + 0.5, 2), round(2 * cy + 0.5, 2), round(score, 4)))
        score = round(sum(k[2] for k in kps) / _N_MARKERS, 4)
        if score > 0:
            out.append(PoseEstimate(tuple(kps), score))
    out.sort(key=lambda p: (-p.score, p.keypoints[0][1], p.keypoints[0][0]))
    return out


def estimate_yuv(path: str | os.PathLike, width: int, height: int,
                 frames: int | None = None) -> list[list[PoseEstimate]]:
    """Pose estimates of each of the first ``frames`` frames (default all) of an 8-bit YUV."""
    from vcmctc.demo.detector import _reader

    reader, n = _reader(path, width, height, frames)
    with reader:
        return [estimate_frame(*reader[i]) for i in range(n)]


def to_coco_results(per_frame: list[list[PoseEstimate]], first_frame: int = 0) -> list[dict]:
    """COCO keypoint results; ``image_id`` = frame index + ``first_frame``."""
    return [{"image_id": i + first_frame, "category_id": 1,
             "keypoints": [c for kp in p.keypoints for c in kp], "score": p.score}
            for i, poses in enumerate(per_frame) for p in poses]


# --------------------------------------------------------------------------- files and CLI
def yuv_file_name(seq: PoseSequence) -> str:
    """``<name>_<W>x<H>_<fps>.yuv``, as the other demo sequences."""
    return f"{seq.name}_{seq.width}x{seq.height}_{seq.fps:g}.yuv"


def write_pose_sequence(folder: str | os.PathLike, seq: PoseSequence | None = None
                        ) -> dict[str, Path]:
    """Write the sequence (default :func:`make_pose_sequence`) under ``folder``.

    Layout: ``yuv/<name>_<W>x<H>_<fps>.yuv`` and ``pose/<name>/annotations.json`` (COCO
    keypoints, image ids from 0).
    """
    seq = seq or make_pose_sequence()
    folder = Path(folder)
    yuv = folder / "yuv" / yuv_file_name(seq)
    yuv.parent.mkdir(parents=True, exist_ok=True)
    yuv.write_bytes(seq.yuv_bytes())
    gt = folder / "pose" / seq.name / "annotations.json"
    gt.parent.mkdir(parents=True, exist_ok=True)
    gt.write_text(json.dumps(seq.coco_gt(), separators=(",", ":")) + "\n")
    return {"yuv": yuv, "gt": gt}


def _main(argv: list[str] | None) -> None:
    from vcmctc.demo.detector import run_video_json

    run_video_json(argv, "python -m vcmctc.demo.pose",
                   "Demo pose estimator: COCO keypoint results JSON.", estimate_yuv,
                   to_coco_results)


def main(argv: list[str] | None = None) -> int:
    """``python -m vcmctc.demo.pose --yuv F --width W --height H [--frames N] [--first-frame
    0] --output out.json``: the demo pose estimator."""
    return run_cli("vcmctc.demo.pose", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
