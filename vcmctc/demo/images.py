"""The demo image set ``SynthImages`` (Open Images family): images, ground truth, coding, detector.

Everything here is made for the synthetic demo content only (the detector knows its colours).

**Images.** :data:`N_IMAGES` RGB images of :data:`WIDTH` x :data:`HEIGHT`, one seeded generator
per image (``numpy.random.default_rng([SEED, 3, index])``), drawn with the demo scene's sprites
(:mod:`vcmctc.demo.scene`: person, car, sports ball) over a static textured background. The
objects are smaller than in the video sequences and their colours faded (chroma scaled by a
factor drawn from :data:`SATURATION`), so that the detector's accuracy falls over VVC intra QPs
32 to 47 as it does on the videos (with full colours it barely moves before QP 50). The
scene renders Y'CbCr 4:2:0 (BT.709, limited range); the image is that frame converted to RGB by
:func:`vcmctc.media.yuv.to_rgb` (chroma repeated over its 2x2 block), so the pixel values are
deterministic (only IEEE-exact arithmetic, as in the scene). The PNG files hold those pixels;
their bytes are the same for the same Pillow/zlib build (tests compare the pixels and the bytes).

**Ground truth** (Open Images challenge CSVs, read by
:func:`vcmctc.datasets.openimages.load_ground_truth`), normalised coordinates ``x / WIDTH``:

- ``boxes.csv``: ``ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf``. Single objects follow the
  scene's detection rule (visible part >= 10 % of the object, clipped box >= 4x4 pixels). A
  *group* (a crowd of small people or a heap of small balls, 5 to 8 members) is one box around
  its members' boxes with ``IsGroupOf=1``; its members are not annotated one by one.
- ``labels.csv``: ``ImageID,LabelName,Confidence``: the classes with a box are verified positive
  (1); absent classes are verified negative (0), except on some images where one class is left
  unverified, and on a few images balls are drawn but their class is not verified (Open Images
  labels are not exhaustive; the evaluator ignores detections of unverified classes).

Label names are the MPEG OIV6 CSV spelling of the COCO names (``sports_ball``); the detector
writes the COCO names (``sports ball``); :mod:`vcmctc.datasets.openimages` matches them after
normalisation (CompressAI-Vision's rule).

**Coding** (:func:`encode_image`). RGB to Y'CbCr 4:2:0 8-bit by :func:`rgb_to_yuv420` (BT.709
limited range, chroma = mean of each 2x2 block, rounded half up), then one VVC intra frame with
ffmpeg's libvvenc (:func:`vcmctc.demo.vvc.encode_vvc`, 8 to 10 bits as documented there; the
colour description BT.709 / limited range is written in the bitstream's VUI). The anchor codes
the whole image; the example submission runs the demo detector at the encoder and codes only the
detected objects (each box enlarged and aligned as :func:`vcmctc.demo.fgcodec.foreground_boxes`
does) on black, with no side information. Both decode with one ffmpeg call
(:func:`image_decoder_argv`) to an RGB PNG: BT.709 limited range, chroma repeated (nearest
sample), computed from the 10-bit decoded picture. It equals :func:`vcmctc.media.yuv.to_rgb` of
that picture to within 1 code value, and :func:`decode_image_reference` (the demo VVC decoder's
8-bit YUV, then ``to_rgb``) to within 2; the detector's mAP on the two differs by about a point
(measured on the anchor at QP 37: 89.70 on the ffmpeg PNGs, 88.64 on the reference images).

**Task network** (:func:`detect_images`, ``python -m vcmctc.demo.tasknet --task object-detection
--images DIR --output F.csv``): reads every ``<ImageID>.png`` of a folder, converts it with
:func:`rgb_to_yuv420` and runs :func:`vcmctc.demo.detector.detect_frame`; writes the challenge
predictions CSV ``ImageID,LabelName,Score,XMin,XMax,YMin,YMax``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcmctc.errors import UserError

NAME = "SynthImages"
WIDTH, HEIGHT = 320, 240
N_IMAGES = 24
SEED = 44

#: Ground-truth label names (MPEG OIV6 CSV spelling of the COCO names), by COCO category id.
GT_LABELS = {1: "person", 3: "car", 37: "sports_ball"}

#: The libvvenc colour description written for the images (what :func:`rgb_to_yuv420` does).
VUI = ("-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
       "-color_range", "tv")

#: ffmpeg's RGB conversion on decoding: BT.709 limited range in, chroma taken from the nearest
#: sample (no interpolation, as :func:`vcmctc.media.yuv.to_rgb` does), bit-exact C code.
DECODE_FILTER = ("scale=in_color_matrix=bt709:in_range=tv:out_range=pc:"
                 "flags=neighbor+accurate_rnd+full_chroma_int+bitexact")


# --------------------------------------------------------------------------- colour conversion
def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit RGB (H, W, 3) to 8-bit Y'CbCr 4:2:0 planes: BT.709, limited range.

    ``Y = 16 + 219 Y'``, ``Cb = 128 + 224 (B' - Y') / 1.8556``, ``Cr = 128 + 224 (R' - Y') /
    1.5748`` with ``Y' = 0.2126 R' + 0.7152 G' + 0.0722 B'`` (``R' = R / 255``...); chroma is the
    mean of each 2x2 block, every plane rounded half up (:func:`vcmctc.demo.scene.quantise_420`;
    8-bit RGB always falls inside the limited range, so its clipping never acts). H and W must
    be even.
    """
    from vcmctc.demo.scene import quantise_420, rgb_to_ycbcr

    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise UserError(f"expected an RGB image, got an array of shape {rgb.shape}")
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise UserError(f"4:2:0 coding needs an even image size, got {w}x{h}")
    f = rgb.astype(np.float64)
    return quantise_420(*rgb_to_ycbcr(f[:, :, 0], f[:, :, 1], f[:, :, 2]))


def read_png(path: str | os.PathLike) -> np.ndarray:
    """An image file as 8-bit RGB (H, W, 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise UserError("image not found", file=path) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"cannot read the image: {exc}", file=path) from None


def write_png(rgb: np.ndarray, path: str | os.PathLike) -> Path:
    """Write 8-bit RGB as PNG (Pillow, fixed settings, no metadata)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").save(
        path, format="PNG", compress_level=6)
    return path


# --------------------------------------------------------------------------- the image set
@dataclass(frozen=True)
class GTBox:
    """One ground-truth box in pixels (x0, y0 inclusive; x1, y1 exclusive)."""

    category_id: int
    x0: int
    y0: int
    x1: int
    y1: int
    group_of: bool = False
    members: tuple[int, ...] = ()  # the objects it covers (ids in ``SynthImage.object_map``)


@dataclass(frozen=True)
class SynthImage:
    """One image: its id, RGB pixels, boxes, verified labels (COCO id, 0/1) and which object
    each pixel shows (0 = background)."""

    image_id: str
    rgb: np.ndarray
    boxes: tuple[GTBox, ...]
    labels: tuple[tuple[int, int], ...]
    object_map: np.ndarray


def image_id(index: int) -> str:
    """A 16-hex-digit ImageID like Open Images', fixed for each index."""
    return hashlib.md5(f"{NAME}/{index}".encode()).hexdigest()[:16]


SATURATION = (0.3, 0.8)  # range of the factor applied to each object's chroma (faded colours)


def _place(rng, plans: list, category_id: int, colour: str, size: int, x: float, bottom: float):
    from vcmctc.demo import scene

    sprite = scene.make_sprite(rng, category_id, scene._colour(colour), size)
    sat = scene._u(rng, *SATURATION)
    sprite = scene.Sprite(sprite.mask, sprite.y, 128 + sat * (sprite.cb - 128),
                          128 + sat * (sprite.cr - 128))
    sh, sw = sprite.shape
    plans.append(scene.ObjectPlan(len(plans) + 1, category_id, colour, sprite,
                                  ((scene._round(x - sw / 2), scene._round(bottom - sh)),)))
    return plans[-1].track_id


def make_image(index: int) -> SynthImage:
    """Image ``index`` (0-based) of the set; see the module docstring."""
    from vcmctc.demo import scene
    from vcmctc.media.yuv import YuvFormat, to_rgb

    rng = np.random.default_rng([SEED, 3, index])
    w, h = WIDTH, HEIGHT
    background = scene.Background(rng, h, w, 1, (0.0, 0.0), scene.RIPPLE)
    plans: list = []
    groups: list[tuple[int, list[int]]] = []  # (category, member track ids)
    kind = index % 6  # 0: crowd, 3: heap of balls, 5: unverified balls, 4 of 24: empty
    empty = index in (7, 19)
    unverified_balls = kind == 5
    if not empty:
        if kind == 0:  # a crowd of small people, far away (upper part of the image)
            cx, base = scene._u(rng, 0.25, 0.75) * w, scene._u(rng, 0.3, 0.42) * h
            members = []
            for k in range(int(rng.integers(5, 9))):
                members.append(_place(rng, plans, scene.PERSON, ("red", "magenta", "purple")[k % 3],
                                      int(scene._u(rng, 4, 7)), cx + (k - 3.5) * 8
                                      + scene._u(rng, -2, 2), base + scene._u(rng, -6, 6)))
            groups.append((scene.PERSON, members))
        if kind == 3:  # a heap of small balls
            cx, base = scene._u(rng, 0.2, 0.8) * w, scene._u(rng, 0.3, 0.5) * h
            members = []
            for _ in range(int(rng.integers(5, 9))):
                members.append(_place(rng, plans, scene.BALL, "yellow", int(scene._u(rng, 5, 9)),
                                      cx + scene._u(rng, -14, 14), base + scene._u(rng, -8, 8)))
            groups.append((scene.BALL, members))
        for k in range(int(rng.integers(0, 5))):  # people
            _place(rng, plans, scene.PERSON, ("red", "magenta", "purple")[(index + k) % 3],
                   int(scene._u(rng, 8, 17)), scene._u(rng, 0.08, 0.92) * w,
                   scene._u(rng, 0.45, 0.95) * h)
        for _ in range(int(rng.integers(0, 3))):  # cars
            _place(rng, plans, scene.CAR, ("blue", "cyan")[int(rng.random() * 2)],
                   int(scene._u(rng, 35, 63)), scene._u(rng, 0.1, 0.9) * w,
                   scene._u(rng, 0.6, 1.0) * h)
        for _ in range(int(rng.integers(0, 4)) + 2 * unverified_balls):  # single balls
            _place(rng, plans, scene.BALL, "yellow", int(scene._u(rng, 8, 16)),
                   scene._u(rng, 0.1, 0.9) * w, scene._u(rng, 0.3, 0.9) * h)
    seq = scene.render(f"{NAME}_{index}", "detection", SEED, w, h, 1, 1.0, plans, background)
    rgb = to_rgb(seq.y[0], seq.u[0], seq.v[0], YuvFormat(w, h))

    by_id = {o.track_id: o for o in seq.detection_boxes()}
    grouped = {tid for _, members in groups for tid in members}
    boxes = []
    for o in sorted(by_id.values(), key=lambda o: o.track_id):
        if o.track_id in grouped or (unverified_balls and o.category_id == scene.BALL):
            continue
        boxes.append(GTBox(o.category_id, o.x, o.y, o.x + o.w, o.y + o.h,
                           members=(o.track_id,)))
    for category_id, members in groups:
        seen = [by_id[t] for t in members if t in by_id]
        if seen:
            boxes.append(GTBox(category_id, min(o.x for o in seen), min(o.y for o in seen),
                               max(o.x + o.w for o in seen), max(o.y + o.h for o in seen), True,
                               tuple(o.track_id for o in seen)))
    present = {b.category_id for b in boxes}
    labels = []
    for k, category_id in enumerate(GT_LABELS):
        if category_id in present:
            labels.append((category_id, 1))
        elif unverified_balls and category_id == scene.BALL:
            continue  # drawn, but the class was not verified on this image
        elif index % 4 == 1 and k == index % 3:
            continue  # an absent class nobody verified
        else:
            labels.append((category_id, 0))
    return SynthImage(image_id(index), rgb, tuple(boxes), tuple(labels), seq.labels[0])


def make_image_set() -> list[SynthImage]:
    """All :data:`N_IMAGES` images, in index order."""
    return [make_image(i) for i in range(N_IMAGES)]


def _coord(v: float) -> str:
    return repr(float(v))


def write_image_set(folder: str | os.PathLike) -> dict[str, Path]:
    """Write the set under ``folder``; returns the paths by role.

    Layout: ``images/<ImageID>.png`` (the sources), ``boxes.csv`` and ``labels.csv`` (the
    challenge ground truth). Images and rows are in index order.
    """
    folder = Path(folder)
    images = make_image_set()
    for im in images:
        write_png(im.rgb, folder / "images" / f"{im.image_id}.png")
    box_lines = ["ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf"]
    label_lines = ["ImageID,LabelName,Confidence"]
    for im in images:
        for b in im.boxes:
            box_lines.append(f"{im.image_id},{GT_LABELS[b.category_id]},{_coord(b.x0 / WIDTH)},"
                             f"{_coord(b.x1 / WIDTH)},{_coord(b.y0 / HEIGHT)},"
                             f"{_coord(b.y1 / HEIGHT)},{int(b.group_of)}")
        for category_id, confidence in im.labels:
            label_lines.append(f"{im.image_id},{GT_LABELS[category_id]},{confidence}")
    paths = {"images": folder / "images", "boxes": folder / "boxes.csv",
             "labels": folder / "labels.csv"}
    paths["boxes"].write_text("\n".join(box_lines) + "\n")
    paths["labels"].write_text("\n".join(label_lines) + "\n")
    return paths


# --------------------------------------------------------------------------- task network
PRED_HEADER = "ImageID,LabelName,Score,XMin,XMax,YMin,YMax"


def detect_image(rgb: np.ndarray) -> list:
    """Demo detections (:class:`vcmctc.demo.detector.Detection`, pixels) of one RGB image."""
    from vcmctc.demo.detector import detect_frame

    return detect_frame(*rgb_to_yuv420(rgb))


def detect_images(folder: str | os.PathLike) -> list[str]:
    """Challenge prediction rows (no header) for every ``*.png`` of ``folder``, by file name.

    The ImageID is the file name without ``.png``; coordinates are normalised by the image's
    own size; label names are the COCO names.
    """
    from vcmctc.datasets.coco import COCO80

    names = dict(COCO80)
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("not a folder of decoded images", file=folder)
    files = sorted(folder.glob("*.png"))
    if not files:
        raise UserError("no .png image in the folder", file=folder)
    rows = []
    for path in files:
        rgb = read_png(path)
        h, w = rgb.shape[:2]
        for d in detect_image(rgb):
            rows.append(f"{path.stem},{names[d.category_id]},{d.score!r},{_coord(d.x / w)},"
                        f"{_coord((d.x + d.w) / w)},{_coord(d.y / h)},{_coord((d.y + d.h) / h)}")
    return rows


def write_predictions(folder: str | os.PathLike, output: str | os.PathLike) -> Path:
    """Run :func:`detect_images` and write the predictions CSV (with its header)."""
    rows = detect_images(folder)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join([PRED_HEADER, *rows]) + "\n")
    return out


# --------------------------------------------------------------------------- coding
def image_decoder_argv(ffmpeg: str | None = None) -> list[str]:
    """The decoder of an image bitstream: one ffmpeg call writing an RGB PNG.

    Placeholders ``{bitstream}`` and ``{output}``; ``ffmpeg`` defaults to
    :func:`vcmctc.demo.vvc.ffmpeg_exe`. The PNG equals :func:`vcmctc.media.yuv.to_rgb` of the
    decoder's 10-bit output to within 1 code value (swscale's fixed-point rounding), and
    :func:`decode_image_reference` (the demo VVC decoder's 8-bit output, then ``to_rgb``) to
    within 2: that one rounds to 8 bits before the colour conversion.
    """
    from vcmctc.demo import vvc

    return [ffmpeg or vvc.ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
            "-threads", "1", "-f", "vvc", "-i", "{bitstream}", "-frames:v", "1",
            "-vf", DECODE_FILTER, "-pix_fmt", "rgb24", "-f", "image2", "-c:v", "png",
            "-update", "1", "-y", "{output}"]


def decode_image(bitstream: str | os.PathLike, output: str | os.PathLike,
                 ffmpeg: str | None = None) -> dict:
    """Run :func:`image_decoder_argv` on one bitstream; returns wall and CPU seconds."""
    from vcmctc.demo import vvc

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [a.replace("{bitstream}", str(bitstream)).replace("{output}", str(out))
            for a in image_decoder_argv(ffmpeg)]
    code, wall, cpu, log = vvc._run_with_rusage(argv)
    if code != 0 or not out.is_file():
        raise UserError(f"ffmpeg could not decode the image (exit {code}): {vvc._tail(log)}",
                        file=bitstream)
    return {"wall_s": wall, "cpu_s": cpu}


def decode_image_reference(bitstream: str | os.PathLike, width: int = WIDTH,
                           height: int = HEIGHT) -> np.ndarray:
    """The demo VVC decoder (8-bit 4:2:0, :func:`vcmctc.demo.vvc.decode_vvc`) then
    :func:`vcmctc.media.yuv.to_rgb` (BT.709 limited range): RGB (H, W, 3)."""
    from vcmctc.demo import vvc
    from vcmctc.media.yuv import YuvFormat, YuvReader, to_rgb

    with tempfile.TemporaryDirectory() as tmp:
        yuv = Path(tmp) / "decoded.yuv"
        vvc.decode_vvc(bitstream, yuv, width=width, height=height, frames=1)
        fmt = YuvFormat(width, height)
        with YuvReader(yuv, fmt) as reader:
            return to_rgb(*reader[0], fmt)



def encode_image(png: str | os.PathLike, qp: int, out_path: str | os.PathLike,
                 foreground: bool = False) -> dict:
    """Code one image as one VVC intra frame; ``foreground``: only the detected objects.

    Returns ``bitstream_bytes``, ``pixels``, ``boxes`` (kept foreground boxes; 0 for the
    anchor), ``analysis_s`` (reading, conversion, detection), ``vvc_wall_s``, ``vvc_cpu_s`` and
    ``enc_time_s`` (their wall sum).
    """
    from vcmctc.demo import fgcodec, vvc
    from vcmctc.demo.detector import detect_frame

    start = time.perf_counter()
    y, u, v = rgb_to_yuv420(read_png(png))
    h, w = y.shape
    boxes: tuple = ()
    if foreground:
        boxes = fgcodec.foreground_boxes(detect_frame(y, u, v), w, h)
        fgcodec.keep_boxes(y, u, v, boxes)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        yuv = Path(tmp) / "image.yuv"
        yuv.write_bytes(y.tobytes() + u.tobytes() + v.tobytes())
        analysis_s = time.perf_counter() - start
        run = vvc.encode_vvc(yuv, w, h, 1, 1.0, qp, out, colour=VUI)
    return {"bitstream_bytes": run.size_bytes, "pixels": w * h, "boxes": len(boxes),
            "analysis_s": analysis_s, "vvc_wall_s": run.wall_s, "vvc_cpu_s": run.cpu_s,
            "enc_time_s": analysis_s + run.wall_s}


def encode_image_set(images_dir: str | os.PathLike, qp: int, out_dir: str | os.PathLike,
                     foreground: bool = False, jobs: int = 1) -> dict:
    """:func:`encode_image` for every ``<ImageID>.png`` of ``images_dir`` to
    ``out_dir/<ImageID>.266`` (``jobs`` encodes at a time).

    Returns ``images`` (ImageID -> info, in name order) and the set's ``bits``, ``pixels``,
    ``bpp`` (total bits / total pixels) and ``enc_time_s`` (sum over the images).
    """
    from vcmctc.runner import contained_map

    files = sorted(Path(images_dir).glob("*.png"))
    if not files:
        raise UserError("no .png image in the folder", file=images_dir)
    out_dir = Path(out_dir)

    def one(path: Path) -> dict:
        return encode_image(path, qp, out_dir / f"{path.stem}.266", foreground)

    infos = dict(zip((p.stem for p in files), contained_map(one, files, jobs)))
    bits = 8 * sum(i["bitstream_bytes"] for i in infos.values())
    pixels = sum(i["pixels"] for i in infos.values())
    return {"images": infos, "bits": bits, "pixels": pixels, "bpp": bits / pixels,
            "enc_time_s": sum(i["enc_time_s"] for i in infos.values())}


def _main(argv: list[str] | None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m vcmctc.demo.images",
        description="Demo detector on a folder of images: Open Images challenge predictions CSV.")
    parser.add_argument("--images", required=True, help="folder of <ImageID>.png files")
    parser.add_argument("--output", required=True, help="predictions CSV to write")
    args = parser.parse_args(argv)
    write_predictions(args.images, args.output)


def main(argv: list[str] | None = None) -> int:
    """``python -m vcmctc.demo.images --images DIR --output F.csv``: the demo detector on every
    ``*.png`` of DIR, as the challenge predictions CSV."""
    from vcmctc.demo._cli import run_cli

    return run_cli("vcmctc.demo.images", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
