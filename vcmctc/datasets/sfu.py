"""SFU-HW-Objects-v1 ground truth, from its per-frame txt files or from the MPEG JSON (m59143).

Both forms become the same neutral COCO GT dict: images ``{id, width, height, file_name}`` with
ids 0..N-1 for the N frames of the clip, annotations ``{id, image_id, category_id, bbox, area,
iscrowd}`` with absolute XYWH boxes, ``area = w*h``, ``iscrowd = 0`` and *real* COCO category ids
(1..90; the files use the contiguous 0..79 index), and the 80 COCO categories.

- txt form (the original data set): one file per frame of the whole source sequence, named
  ``<anything>_<frame>.txt`` with frames numbered from 0; rows ``cls cx cy w h`` normalised to the
  frame size (YOLO style). SFU-HW-Tracks-v1 files put an object id after ``cls``; it is kept as
  ``track_id``. A CTC clip is the frames ``skip .. skip+N-1``; image id 0 is frame ``skip``.
- MPEG JSON: COCO layout, one file per clip, float image ids 0.0..N-1, contiguous category ids
  (the category names in those files are wrong and are ignored), file names
  ``{seq}_val_{NNN}.png``.

The frame count given by the caller (the CTC edition) is checked against the annotations.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from vcmctc.datasets.coco import (
    CONTIGUOUS_TO_COCO_ID,
    coco80_categories,
    read_json,
    validate_coco_gt,
)
from vcmctc.errors import UserError

_FRAME_FILE = re.compile(r"_(\d+)\.txt$")
_NORMALISED_RANGE = (-1.0, 2.0)  # wider than [0, 1]: real SFU boxes stick out of the frame


def sfu_file_name(sequence: str, image_id: int) -> str:
    """Image file name used by the MPEG SFU files: ``{seq}_val_{NNN}.png``."""
    return f"{sequence}_val_{image_id:03d}.png"


def _frame_files(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        raise UserError("not a directory of SFU-HW per-frame .txt files", file=folder)
    files: dict[int, Path] = {}
    for path in sorted(folder.glob("*.txt")):
        m = _FRAME_FILE.search(path.name)
        if m is None:
            raise UserError("file name does not end in _<frame>.txt", file=path)
        frame = int(m.group(1))
        if frame in files:
            raise UserError(f"frame {frame} has two files ({files[frame].name} and {path.name})",
                            file=folder)
        files[frame] = path
    if not files:
        raise UserError("no per-frame .txt files", file=folder)
    return files


def _parse_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if math.isfinite(value) and value.is_integer() else None


def _parse_frame_file(path: Path, columns: int | None) -> tuple[list[tuple], int | None]:
    """Rows ``(cls, track_id|None, cx, cy, w, h)`` of one frame; also the column count seen."""
    rows = []
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise UserError("not a text file", file=path) from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if columns is None:
            if len(fields) not in (5, 6):
                raise UserError(f"expected 5 fields 'cls cx cy w h' (or 6 with a track id), "
                                f"got {len(fields)}", file=path, line=lineno)
            columns = len(fields)
        if len(fields) != columns:
            raise UserError(f"expected {columns} fields like the other rows, got {len(fields)}",
                            file=path, line=lineno)
        cls = _parse_int(fields[0])
        if cls is None or cls not in CONTIGUOUS_TO_COCO_ID:
            raise UserError(f"class {fields[0]!r} is not a COCO-80 index 0..79", file=path,
                            line=lineno)
        track = None
        if columns == 6:
            track = _parse_int(fields[1])
            if track is None:
                raise UserError(f"object id {fields[1]!r} is not an integer", file=path,
                                line=lineno)
        try:
            cx, cy, w, h = (float(v) for v in fields[columns - 4:])
        except ValueError:
            raise UserError("box values must be numbers", file=path, line=lineno) from None
        lo, hi = _NORMALISED_RANGE
        if not all(math.isfinite(v) and lo <= v <= hi for v in (cx, cy, w, h)):
            raise UserError(f"box {fields[columns - 4:]} is not normalised to the frame size",
                            file=path, line=lineno)
        if w < 0 or h < 0:
            raise UserError("box width and height must be >= 0", file=path, line=lineno)
        rows.append((cls, track, cx, cy, w, h))
    return rows, columns


def load_sfu_txt(folder: str | Path, *, width: int, height: int, frames: int | None = None,
                 skip: int = 0, total: int | None = None, sequence: str | None = None) -> dict:
    """Load an SFU-HW per-frame txt folder as COCO GT for the clip ``skip .. skip+frames-1``.

    ``width``/``height`` are the frame size (the boxes are normalised). ``frames`` is the clip
    length N (default: every frame from ``skip`` to the last file); every frame of the clip must
    have a file (an empty file means no object). ``total``, if given, is the source sequence's
    frame count and the folder must hold exactly frames 0..total-1. ``sequence`` names the images
    (default: the folder name).
    """
    folder = Path(folder)
    if width <= 0 or height <= 0:
        raise UserError(f"frame size must be positive, got {width}x{height}")
    if skip < 0:
        raise UserError(f"skip must be >= 0, got {skip}")
    files = _frame_files(folder)
    if total is not None and sorted(files) != list(range(total)):
        missing = sorted(set(range(total)) - set(files))
        extra = sorted(set(files) - set(range(total)))
        detail = "; ".join(part for part in (
            f"missing frames {_span(missing)}" if missing else "",
            f"unexpected frames {_span(extra)}" if extra else "") if part)
        raise UserError(f"{len(files)} frame files, expected {total} (frames 0..{total - 1}): "
                        f"{detail}", file=folder)
    if frames is None:
        frames = max(files) + 1 - skip
    if frames <= 0:
        raise UserError(f"no frames to load (skip {skip}, last file is frame {max(files)})",
                        file=folder)
    wanted = range(skip, skip + frames)
    missing = [f for f in wanted if f not in files]
    if missing:
        raise UserError(f"{len(missing)} of the {frames} frames {skip}..{skip + frames - 1} have "
                        f"no annotation file: frames {_span(missing)}", file=folder)

    name = sequence if sequence is not None else folder.name
    images, annotations = [], []
    columns = None
    for image_id, frame in enumerate(wanted):
        images.append({"id": image_id, "width": width, "height": height,
                       "file_name": sfu_file_name(name, image_id)})
        rows, columns = _parse_frame_file(files[frame], columns)
        for cls, track, cx, cy, w, h in rows:
            bw, bh = w * width, h * height
            ann = {"id": len(annotations) + 1, "image_id": image_id,
                   "category_id": CONTIGUOUS_TO_COCO_ID[cls],
                   "bbox": [(cx - w / 2) * width, (cy - h / 2) * height, bw, bh],
                   "area": bw * bh, "iscrowd": 0}
            if track is not None:
                ann["track_id"] = track
            annotations.append(ann)
    return {"images": images, "annotations": annotations, "categories": coco80_categories()}


def load_sfu_json(path: str | Path, *, frames: int | None = None, width: int | None = None,
                  height: int | None = None) -> dict:
    """Load an MPEG SFU JSON (m59143 layout) as COCO GT with real COCO category ids.

    Image ids must be 0..N-1 (frames numbered from 0); ``frames``, ``width`` and ``height``, if
    given, must agree with the file.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError("expected a COCO object with images/annotations", file=path)
    checked = validate_coco_gt({**data, "categories": coco80_categories()}, source=path,
                               category_map=CONTIGUOUS_TO_COCO_ID)
    images = []
    ids = sorted(img["id"] for img in checked["images"])
    if ids != list(range(len(ids))):
        odd = sorted(set(ids) - set(range(len(ids))))
        raise UserError(f"image ids must be the frame numbers 0..{len(ids) - 1}; found "
                        f"{_span(odd)}", file=path)
    for i, img in enumerate(checked["images"]):
        for key, want in (("width", width), ("height", height)):
            if want is not None and img.get(key) != want:
                raise UserError(f"{key} {img.get(key)!r}, expected {want}", file=path,
                                where=f"images[{i}]")
        images.append({"id": img["id"], "width": img.get("width"), "height": img.get("height"),
                       "file_name": img.get("file_name")})
    images.sort(key=lambda im: im["id"])
    if frames is not None and len(images) != frames:
        raise UserError(f"{len(images)} images, expected {frames} frames", file=path)
    annotations = [{"id": a["id"], "image_id": a["image_id"], "category_id": a["category_id"],
                    "bbox": list(a["bbox"]), "area": a["area"], "iscrowd": a["iscrowd"]}
                   for a in checked["annotations"]]
    return {"images": images, "annotations": annotations, "categories": coco80_categories()}


def _span(values: list[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")
