"""Open Images challenge files (and the MPEG OIV6 variants) as neutral numpy structures.

Ground truth comes from the challenge CSVs, as ``oid_challenge_evaluation.py`` reads them:

- boxes: ``ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf`` (normalised coordinates; other
  columns such as ``Source``, ``Confidence``, ``IsOccluded`` are allowed and unused). The MPEG
  files ``detection_validation_5k_bbox.csv`` / ``segmentation_validation_bbox_5k.csv`` have
  exactly those seven columns.
- image-level labels: ``ImageID,LabelName,Confidence``. Every listed label is *verified*
  (Confidence 1 positive, 0 negative); the evaluator does not look at the Confidence itself.
- instance masks: ``ImageID,LabelName,ImageWidth,ImageHeight,XMin,YMin,XMax,YMax,IsGroupOf,Mask``
  where ``Mask`` is a COCO RLE string, zlib-compressed, base64-encoded (empty: no mask). These rows
  are joined to the boxes by an *exact* outer merge on (LabelName, ImageID, XMin, XMax, YMin,
  YMax, IsGroupOf), like the reference script: a box without a mask row is a box-only instance, a
  mask row without an identical box is an extra instance. The Open Images V6
  ``segmentations.csv`` layout (``MaskPath,ImageID,LabelName,BoxID,BoxXMin,...``, PNG masks read
  with Pillow) is accepted too.
- COCO-style JSON: the MPEG JSON with ``oic_labelmap`` / ``oic_annotations`` (what CompressAI-Vision
  reads), or plain COCO where ``iscrowd`` marks group-of boxes and LVIS-style
  ``pos_category_ids`` / ``neg_category_ids`` on images add verified labels.

Predictions: the challenge submission CSV (``ImageID,LabelName,Score,XMin,XMax,YMin,YMax``, or
``ImageID,ImageWidth,ImageHeight,LabelName,Score,Mask`` for masks) or a COCO results JSON.

Label names are compared after trimming, lower-casing and replacing spaces by underscores
(CompressAI-Vision's rule: the MPEG CSVs say ``cell_phone`` where detectors say ``cell phone``).
Boxes are stored as ``[ymin, xmin, ymax, xmax]`` float64, masks as pycocotools RLE dicts.
CSVs are parsed with pandas' default float parser, as the reference script does.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from vcmctc.datasets.coco import read_json
from vcmctc.errors import UserError

BOX_COLUMNS = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax", "IsGroupOf")
LABEL_COLUMNS = ("ImageID", "LabelName", "Confidence")
MASK_COLUMNS = ("ImageID", "LabelName", "ImageWidth", "ImageHeight", "XMin", "YMin", "XMax",
                "YMax", "IsGroupOf", "Mask")
OIV6_SEGMENTATION_COLUMNS = ("MaskPath", "ImageID", "LabelName", "BoxXMin", "BoxXMax", "BoxYMin",
                             "BoxYMax")
PRED_BOX_COLUMNS = ("ImageID", "LabelName", "Score", "XMin", "XMax", "YMin", "YMax")
PRED_MASK_COLUMNS = ("ImageID", "LabelName", "Score", "ImageWidth", "ImageHeight", "Mask")
MERGE_KEYS = ["LabelName", "ImageID", "XMin", "XMax", "YMin", "YMax", "IsGroupOf"]
_STR_COLUMNS = {"ImageID": str, "LabelName": str, "Mask": str, "MaskPath": str}


def normalize_label(name: Any) -> str:
    """The key a label name is matched by: trimmed, lower case, spaces as underscores."""
    return str(name).strip().lower().replace(" ", "_")


# --------------------------------------------------------------------------- structures


@dataclass
class LabelMap:
    """Classes in id order: ``names`` (as given, for display) and their integer ``ids``."""

    names: list[str]
    ids: list[int]

    @property
    def keys(self) -> list[str]:
        return [normalize_label(n) for n in self.names]


@dataclass
class ImageGT:
    """Ground truth of one image. ``labels`` and ``verified`` are class indices."""

    boxes: np.ndarray  # (M, 4) float64 [ymin, xmin, ymax, xmax], normalised
    labels: np.ndarray  # (M,) int64
    group_of: np.ndarray  # (M,) bool
    verified: np.ndarray  # (K,) int64: classes with an image-level label (positive or negative)
    masks: list | None = None  # per box: RLE dict, or None (box-only instance); None: no masks


@dataclass
class ImagePred:
    """Detections of one image in file order. ``labels`` is -1 for a class outside the GT's."""

    boxes: np.ndarray  # (N, 4) float64 [ymin, xmin, ymax, xmax], normalised
    scores: np.ndarray  # (N,) float64
    labels: np.ndarray  # (N,) int64
    masks: list | None = None  # per detection: RLE dict or None (no mask)
    # (masks: ``boxes`` are the masks' tight boxes, zeros for a detection the evaluation never
    # looks at: image outside the GT, class not verified for the image)


@dataclass
class OpenImagesGT:
    """All ground truth: class names (index = class index) and per-image records."""

    classes: list[str]
    images: dict[str, ImageGT]
    has_masks: bool = False
    dropped: dict[str, int] = field(default_factory=dict)  # rows outside the label map
    # COCO JSON only: image id -> (image key, width, height); category id -> class index
    coco_images: dict[Any, tuple[str, int, int]] | None = None
    coco_categories: dict[Any, int] | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # file-name stem -> image key

    def class_index(self) -> dict[str, int]:
        return {normalize_label(n): i for i, n in enumerate(self.classes)}

    @property
    def num_boxes(self) -> int:
        return sum(len(g.labels) for g in self.images.values())


Predictions = dict  # image key -> ImagePred


# --------------------------------------------------------------------------- file helpers


def _line_of(path: Path, row: int) -> int | None:
    """Physical line of data row ``row`` (0-based) of a CSV with one header line."""
    seen = -1
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            for lineno, text in enumerate(f, 1):
                if text.strip():
                    seen += 1
                    if seen == row + 1:
                        return lineno
    except OSError:
        return None
    return None


def _show(value: Any) -> str:
    """A cell value for a message: numpy scalars as plain Python values."""
    if hasattr(value, "item"):
        value = value.item()
    return repr(value)


def read_csv(path: str | Path, required: Iterable[str], *, numeric: Iterable[str] = (),
             integer: Iterable[str] = (), nonempty: Iterable[str] = ()):
    """Read a CSV with pandas and check it: columns present, numbers numeric, no gaps.

    Returns a DataFrame. Every problem is a UserError naming the file, the line and the column.
    """
    path = Path(path)
    return check_frame(_parse_csv(path), path, required, numeric=numeric, integer=integer,
                       nonempty=nonempty)


def _parse_csv(path: Path):
    import pandas as pd

    if not path.is_file():
        raise UserError("file not found" if not path.exists() else "not a file", file=path)
    try:
        df = pd.read_csv(path, dtype=_STR_COLUMNS, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise UserError("empty file, expected a CSV header", file=path, line=1) from None
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        msg = str(exc).split(". C error: ")[-1].strip()
        raise UserError(f"malformed CSV: {msg}", file=path,
                        line=int(m.group(1)) if m else None) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason})", file=path) from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def check_frame(df, path: Path, required: Iterable[str], *, numeric: Iterable[str] = (),
                integer: Iterable[str] = (), nonempty: Iterable[str] = ()):
    """Check a parsed CSV (see :func:`read_csv`); numeric columns are converted in place."""
    import pandas as pd

    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(f"missing column(s) {', '.join(missing)} (found: {', '.join(df.columns)})",
                        file=path, line=1)
    numeric, integer = tuple(numeric), tuple(integer)
    for col in (*numeric, *integer):
        if col not in df.columns:
            continue
        values = df[col]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            coerced = pd.to_numeric(values, errors="coerce")
            bad = np.flatnonzero(coerced.isna().to_numpy() & values.notna().to_numpy())
            if bad.size:
                r = int(bad[0])
                raise UserError(f"{col}: {_show(values.iloc[r])} is not a number", file=path,
                                line=_line_of(path, r))
            df[col] = coerced
        if col in integer:
            arr = df[col].to_numpy(dtype=float)
            bad = np.flatnonzero(np.isfinite(arr) & (arr != np.round(arr)))
            if bad.size:
                r = int(bad[0])
                raise UserError(f"{col}: {_show(df[col].iloc[r])} is not an integer", file=path,
                                line=_line_of(path, r))
    for col in (*tuple(nonempty), *numeric, *integer):
        if col not in df.columns:
            continue
        bad = np.flatnonzero(df[col].isna().to_numpy())
        if bad.size:
            r = int(bad[0])
            raise UserError(f"{col}: missing value", file=path, line=_line_of(path, r))
        if col in numeric or col in integer:
            arr = df[col].to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                r = int(bad[0])
                raise UserError(f"{col}: {_show(arr[r])} is not a finite number", file=path,
                                line=_line_of(path, r))
    if integer:
        for col in integer:
            if col in df.columns:
                df[col] = df[col].astype(np.int64)
    df.attrs["path"] = str(path)
    return df


def _groups(ids: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of each image id, rows kept in file order, ids in first-seen order."""
    keys, order, bounds = _group_order(ids)
    return {key: order[bounds[i]:bounds[i + 1]] for i, key in enumerate(keys)}


def _group_order(ids: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids in first-seen order, row order grouping them with rows in file order, group
    bounds in that order)."""
    import pandas as pd

    codes, uniques = pd.factorize(ids)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return [str(u) for u in uniques], order, bounds


# --------------------------------------------------------------------------- label maps


_PBTXT_ITEM = re.compile(r"item\s*\{(.*?)\}", re.S)
_PBTXT_FIELD = re.compile(r"(\w+)\s*:\s*(?:\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'|(-?\d+))")


def load_label_map(path: str | Path) -> LabelMap:
    """Read a label map: TF ``.pbtxt`` (``item { name id display_name }``), a JSON list of
    ``{id, name}`` (or an object with ``oic_labelmap`` / ``categories``), a CSV ``name,display``
    (Open Images class descriptions; no header) or a text file with one name per line.

    Classes are keyed by ``name`` (the LabelName used in the CSVs) and returned in id order.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found" if not path.exists() else "not a file", file=path)
    suffix = path.suffix.lower()
    entries: list[tuple[int, str]] = []
    if suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict):
            data = data.get("oic_labelmap", data.get("categories"))
        if not isinstance(data, list):
            raise UserError("expected a list of {id, name} (or an object with 'oic_labelmap' "
                            "or 'categories')", file=path)
        for k, item in enumerate(data):
            if not isinstance(item, dict) or "id" not in item or "name" not in item:
                raise UserError("expected an object with 'id' and 'name'", file=path,
                                where=f"entry {k}")
            if isinstance(item["id"], bool) or not isinstance(item["id"], (int, float)) \
                    or item["id"] != int(item["id"]):
                raise UserError(f"id must be an integer, got {item['id']!r}", file=path,
                                where=f"entry {k}")
            entries.append((int(item["id"]), str(item["name"])))
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"not UTF-8 text ({exc.reason})", file=path) from None
        if suffix == ".pbtxt" or re.search(r"^\s*item\s*\{", text, re.M):
            for m in _PBTXT_ITEM.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                fields = {}
                for f in _PBTXT_FIELD.finditer(m.group(1)):
                    fields[f.group(1)] = next(v for v in f.groups()[1:] if v is not None)
                if "name" not in fields or "id" not in fields:
                    raise UserError("label map item needs 'name' and 'id'", file=path, line=line)
                entries.append((int(fields["id"]), fields["name"]))
        else:
            for lineno, raw in enumerate(text.splitlines(), 1):
                if not raw.strip():
                    continue
                name = raw.split(",")[0].strip() if suffix == ".csv" else raw.strip()
                entries.append((len(entries) + 1, name))
    if not entries:
        raise UserError("no classes in label map", file=path)
    seen_ids: set[int] = set()
    seen_keys: dict[str, str] = {}
    for cid, name in entries:
        if cid in seen_ids:
            raise UserError(f"duplicate id {cid}", file=path)
        key = normalize_label(name)
        if key in seen_keys:
            raise UserError(f"duplicate class {name!r} (same as {seen_keys[key]!r})", file=path)
        seen_ids.add(cid)
        seen_keys[key] = name
    entries.sort()
    return LabelMap(names=[n for _, n in entries], ids=[i for i, _ in entries])


# --------------------------------------------------------------------------- hierarchy


def load_hierarchy(path: str | Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Read an Open Images hierarchy JSON (``LabelName`` / ``Subcategory`` tree).

    Returns (ancestors, descendants) keyed by raw LabelName, the root node excluded, built in the
    order ``oid_hierarchical_labels_expansion.py`` builds them (nearest ancestor first).
    """
    data = read_json(path)
    if not isinstance(data, dict) or "LabelName" not in data:
        raise UserError("expected a hierarchy object with 'LabelName' and 'Subcategory'",
                        file=path)

    def walk(node: Any, is_root: bool) -> tuple[dict, dict, list]:
        if not isinstance(node, dict) or "LabelName" not in node:
            raise UserError("hierarchy node without 'LabelName'", file=path)
        ancestors: dict[str, list[str]] = {}
        descendants: dict[str, list[str]] = {}
        below: list[str] = []
        for child in node.get("Subcategory", []):
            c_anc, c_desc, c_below = walk(child, False)
            for key, values in c_desc.items():
                descendants.setdefault(key, []).extend(values)
            for key, values in c_anc.items():
                ancestors.setdefault(key, []).extend(values)
            below.extend(c_below)
        if is_root:
            return ancestors, descendants, below
        name = node["LabelName"]
        descendants[name] = below
        for values in ancestors.values():
            values.append(name)
        ancestors[name] = []
        return ancestors, descendants, [name, *below]

    ancestors, descendants, _ = walk(data, True)
    return ancestors, descendants


def _expand(df, relatives: dict[str, list[str]], path: Any, *, labels_file: bool):
    """Hierarchy expansion of a box/mask (or image-label) DataFrame, rows emitted as the
    reference tool writes them: each original row followed by one copy per relative."""
    import pandas as pd

    ancestors, descendants = relatives
    rows = []
    names = df["LabelName"].to_numpy()
    positive = df["Confidence"].to_numpy() if labels_file else None
    for r, name in enumerate(names):
        rows.append((r, name))
        table = ancestors if (not labels_file or int(positive[r]) == 1) else descendants
        if name not in table:
            raise UserError(f"LabelName {name!r} is not in the hierarchy", file=path,
                            line=_line_of(Path(path), r) if path else None)
        rows.extend((r, other) for other in table[name])
    index = np.fromiter((r for r, _ in rows), dtype=np.int64, count=len(rows))
    out = df.iloc[index].reset_index(drop=True)
    out["LabelName"] = pd.array([n for _, n in rows], dtype=object)
    out.attrs = dict(df.attrs)
    return out


# --------------------------------------------------------------------------- masks


def decode_mask_string(value: str, height: int, width: int) -> dict:
    """An Open Images challenge mask (base64 of zlib of a COCO compressed RLE) as an RLE dict."""
    # binascii directly: base64.b64decode(value, validate=False) without its str -> bytes copy
    # (the same bytes, the same ValueError for a non-ASCII string)
    counts = zlib.decompress(binascii.a2b_base64(value))
    return {"size": [int(height), int(width)], "counts": counts}


def encode_mask_string(mask: np.ndarray) -> str:
    """Inverse of :func:`decode_mask_string` (used by tests and the benchmark)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return base64.b64encode(zlib.compress(rle["counts"])).decode("ascii")


def _png_mask_rle(path: Path, where: tuple[Any, int | None]) -> dict:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the install
        raise UserError("reading PNG masks needs Pillow (pip install pillow)") from None
    from pycocotools import mask as mask_utils

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except FileNotFoundError:
        raise UserError(f"mask PNG not found: {path}", file=where[0], line=where[1]) from None
    except OSError as exc:
        raise UserError(f"cannot read mask PNG {path}: {exc}", file=where[0],
                        line=where[1]) from None
    if arr.ndim == 3:
        arr = arr[..., 0]
    return mask_utils.encode(np.asfortranarray((arr > 0).astype(np.uint8)))


def _drop_empty(rles: list) -> list:
    """An all-zero mask is no mask (the reference tests ``mask.sum() > 0``)."""
    areas = _rle_areas(rles)
    return [r if a > 0 else None for r, a in zip(rles, areas)]


def _rle_areas(rles: list) -> np.ndarray:
    from pycocotools import mask as mask_utils

    present = [r for r in rles if r is not None]
    out = np.zeros(len(rles), dtype=np.int64)
    if present:
        # pycocotools 2.0.11 ``area`` fails on NumPy 2 for more than 255 RLEs: chunk the call
        areas = np.concatenate([mask_utils.area(present[k:k + 255])
                                for k in range(0, len(present), 255)])
        out[[i for i, r in enumerate(rles) if r is not None]] = areas
    return out


def _mask_column(df, path: Any, size_cols: tuple[str, str] = ("ImageHeight", "ImageWidth")):
    """Decode the ``Mask`` column into RLE dicts (None where empty)."""
    import pandas as pd

    values = df["Mask"].to_numpy(dtype=object)
    present = ~pd.isna(df["Mask"]).to_numpy(dtype=bool)
    heights = df[size_cols[0]].to_numpy()
    widths = df[size_cols[1]].to_numpy()
    with np.errstate(invalid="ignore"):
        sized = np.isfinite(heights) & np.isfinite(widths) & (heights >= 1) & (widths >= 1)
    unsized = np.flatnonzero(present & ~sized)
    # rows are decoded in order, so the first problem row is the one reported
    stop = int(unsized[0]) if unsized.size else len(values)
    rows = np.flatnonzero(present[:stop]).tolist()
    hs, ws = heights.tolist(), widths.tolist()
    out: list = [None] * len(values)
    a2b, decompress = binascii.a2b_base64, zlib.decompress
    r = -1
    try:
        for r in rows:
            counts = decompress(a2b(str(values[r])))
            out[r] = {"size": [int(hs[r]), int(ws[r])], "counts": counts}
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise UserError(f"Mask: not base64/zlib COCO RLE ({exc})", file=path,
                        line=_line_of(Path(path), r)) from None
    if stop < len(values):
        raise UserError("ImageWidth/ImageHeight must be positive with a Mask", file=path,
                        line=_line_of(Path(path), stop))
    return out


# --------------------------------------------------------------------------- ground truth


def read_boxes_csv(path: str | Path):
    return read_csv(path, BOX_COLUMNS, numeric=("XMin", "XMax", "YMin", "YMax"),
                    integer=("IsGroupOf",), nonempty=("ImageID", "LabelName"))


def read_image_labels_csv(path: str | Path):
    return read_csv(path, LABEL_COLUMNS, integer=("Confidence",),
                    nonempty=("ImageID", "LabelName"))


def read_masks_csv(path: str | Path, mask_dir: str | Path | None = None):
    """Read a GT masks CSV (challenge layout, or Open Images V6 ``segmentations.csv`` with PNGs).

    Returns a DataFrame with the merge keys and a ``_rle`` column (RLE dict or None).
    """
    import pandas as pd

    path = Path(path)
    df = _parse_csv(path)
    if "Mask" not in df.columns and "MaskPath" in df.columns:
        df = check_frame(df, path, OIV6_SEGMENTATION_COLUMNS,
                         numeric=("BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax"),
                         nonempty=("ImageID", "LabelName", "MaskPath"))
        df = df.rename(columns={"BoxXMin": "XMin", "BoxXMax": "XMax", "BoxYMin": "YMin",
                                "BoxYMax": "YMax"})
        if "IsGroupOf" not in df.columns:
            df["IsGroupOf"] = np.int64(0)
        base = Path(mask_dir) if mask_dir is not None else path.parent
        rles = [_png_mask_rle(base / str(p), (path, _line_of(path, r)))
                for r, p in enumerate(df["MaskPath"].to_numpy())]
    else:
        df = check_frame(df, path, MASK_COLUMNS, numeric=("XMin", "XMax", "YMin", "YMax"),
                         integer=("IsGroupOf",), nonempty=("ImageID", "LabelName"))
        for col in ("ImageWidth", "ImageHeight"):
            df[col] = pd.to_numeric(df[col], errors="coerce")
        rles = _mask_column(df, path)
    df = df[[c for c in MERGE_KEYS]].copy()
    df["_rle"] = pd.Series(rles, index=df.index, dtype=object)
    df.attrs["path"] = str(path)
    return df


def load_ground_truth(boxes: str | Path | None = None, labels: str | Path | None = None, *,
                      masks: str | Path | None = None, mask_dir: str | Path | None = None,
                      label_map: LabelMap | str | Path | None = None,
                      hierarchy: str | Path | None = None) -> OpenImagesGT:
    """Load challenge CSVs into an :class:`OpenImagesGT`.

    ``boxes`` may be omitted when ``masks`` is given (then the mask rows are the instances).
    Without ``labels`` only the GT box classes are verified. With a ``label_map`` the classes are
    the map's (rows of other classes are dropped and counted in ``dropped``); without one they are
    the classes seen in the files, in first-seen order. ``hierarchy`` expands boxes/masks to all
    ancestors and image labels to ancestors (positive) or descendants (negative) first, as
    ``oid_hierarchical_labels_expansion.py`` does (off unless given; the MPEG OIV6 runs do not
    expand: their classes are flat COCO names).
    """
    import pandas as pd

    if boxes is None and masks is None:
        raise UserError("ground truth needs a boxes CSV or a masks CSV")
    if isinstance(label_map, (str, Path)):
        label_map = load_label_map(label_map)
    relatives = load_hierarchy(hierarchy) if hierarchy is not None else None

    box_df = read_boxes_csv(boxes) if boxes is not None else None
    if box_df is not None and relatives is not None:
        box_df = _expand(box_df, relatives, boxes, labels_file=False)
    label_df = read_image_labels_csv(labels) if labels is not None else None
    if label_df is not None and relatives is not None:
        label_df = _expand(label_df, relatives, labels, labels_file=True)
    mask_df = None
    if masks is not None:
        mask_df = read_masks_csv(masks, mask_dir)
        if relatives is not None:
            mask_df = _expand(mask_df, relatives, masks, labels_file=False)

    if box_df is not None and mask_df is not None:
        # Numeric keys as float64 on both sides: the same matches as pandas' int/float
        # comparison, without its warning when one file writes integral coordinates.
        numeric = [k for k in MERGE_KEYS if k not in _STR_COLUMNS]
        boxes = box_df[MERGE_KEYS].astype({k: "float64" for k in numeric})
        masks = mask_df.astype({k: "float64" for k in numeric})
        inst = pd.merge(boxes, masks, how="outer", on=MERGE_KEYS)
    elif mask_df is not None:
        inst = mask_df
    else:
        inst = box_df[MERGE_KEYS]

    # classes
    if label_map is not None:
        classes = list(label_map.names)
    else:
        classes, seen = [], set()
        frames = [inst] + ([label_df] if label_df is not None else [])
        for frame in frames:
            for name in pd.unique(frame["LabelName"].to_numpy(dtype=object)):
                key = normalize_label(name)
                if key not in seen:
                    seen.add(key)
                    classes.append(str(name))
    index = {normalize_label(n): i for i, n in enumerate(classes)}
    dropped: dict[str, int] = {}

    def class_codes(frame, what: str) -> np.ndarray:
        names = frame["LabelName"].to_numpy(dtype=object)
        uniq, inv = np.unique(names.astype(str), return_inverse=True)
        lut = np.array([index.get(normalize_label(u), -1) for u in uniq], dtype=np.int64)
        codes = lut[inv] if len(names) else np.zeros(0, dtype=np.int64)
        n_out = int((codes < 0).sum())
        if n_out:
            dropped[what] = n_out
        return codes

    inst_codes = class_codes(inst, "boxes outside label map")
    coords = inst[["YMin", "XMin", "YMax", "XMax"]].to_numpy(dtype=float)
    group_of = inst["IsGroupOf"].to_numpy(dtype=np.int64) != 0
    rles = inst["_rle"].to_numpy(dtype=object) if "_rle" in inst.columns else None
    if rles is not None:
        rles = np.array(_drop_empty([r if isinstance(r, dict) else None for r in rles]),
                        dtype=object)
    ids = inst["ImageID"].to_numpy(dtype=object).astype(str)

    images: dict[str, ImageGT] = {}
    label_groups: dict[str, np.ndarray] = {}
    label_codes = None
    if label_df is not None:
        label_codes = class_codes(label_df, "image labels outside label map")
        label_groups = _groups(label_df["ImageID"].to_numpy(dtype=object).astype(str))
    empty_i = np.zeros(0, dtype=np.int64)
    for key, rows in _groups(ids).items():
        keep = rows[inst_codes[rows] >= 0]
        masks_list = None
        if rles is not None:
            masks_list = list(rles[keep])
            _check_mask_sizes(masks_list, masks, key)
        images[key] = ImageGT(boxes=coords[keep], labels=inst_codes[keep],
                              group_of=group_of[keep], verified=empty_i, masks=masks_list)
    for key, rows in label_groups.items():
        codes = label_codes[rows]
        verified = np.unique(codes[codes >= 0])
        if key not in images:
            images[key] = ImageGT(boxes=np.zeros((0, 4)), labels=empty_i.copy(),
                                  group_of=np.zeros(0, dtype=bool), verified=verified,
                                  masks=[] if rles is not None else None)
        else:
            images[key].verified = verified
    return OpenImagesGT(classes=classes, images=images, has_masks=masks is not None,
                        dropped=dropped)


def _check_mask_sizes(masks_list: list, source: Any, image: str) -> None:
    sizes = {tuple(m["size"]) for m in masks_list if m is not None}
    if len(sizes) > 1:
        raise UserError(f"image {image}: masks of different sizes {sorted(sizes)}", file=source)


def _coco_mask(seg: Any, h: int, w: int, source: Any, where: str) -> dict | None:
    from pycocotools import mask as mask_utils

    if seg is None or seg == [] or seg == "nan":
        return None
    try:
        if isinstance(seg, list):
            return mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
        if isinstance(seg, dict) and "counts" in seg and "size" in seg:
            if isinstance(seg["counts"], list):
                return mask_utils.frPyObjects(seg, *seg["size"])
            counts = seg["counts"]
            return {"size": [int(seg["size"][0]), int(seg["size"][1])],
                    "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    except (TypeError, ValueError, IndexError) as exc:
        raise UserError(f"bad segmentation ({exc})", file=source, where=where) from None
    raise UserError("segmentation must be a polygon list or an RLE {size, counts}",
                    file=source, where=where)


def load_coco_ground_truth(path: str | Path, *, masks: bool = False,
                           label_map: LabelMap | str | Path | None = None) -> OpenImagesGT:
    """Load a COCO-style JSON: the MPEG OIV6 JSON (``oic_labelmap`` + ``oic_annotations``, as
    CompressAI-Vision evaluates it) or plain COCO (``iscrowd`` = group-of; image-level labels from
    LVIS-style ``pos_category_ids`` / ``neg_category_ids`` on images, else only GT classes are
    verified).
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError("expected a JSON object", file=path)
    if isinstance(label_map, (str, Path)):
        label_map = load_label_map(label_map)
    images_list = data.get("images", [])
    coco_images: dict[Any, tuple[str, int, int]] = {}
    aliases: dict[str, str] = {}
    for k, img in enumerate(images_list if isinstance(images_list, list) else []):
        if not isinstance(img, dict) or "id" not in img:
            raise UserError("image entry needs 'id'", file=path, where=f"images[{k}]")
        try:
            coco_images[img["id"]] = (str(img["id"]), int(img.get("width", 0) or 0),
                                      int(img.get("height", 0) or 0))
        except (TypeError, ValueError):
            raise UserError("width and height must be integers", file=path,
                            where=f"images[{k}]") from None
        if isinstance(img.get("file_name"), str):
            aliases[Path(img["file_name"]).stem] = str(img["id"])
    categories = data.get("categories", [])
    if "oic_annotations" in data:
        gt = _load_mpeg_oic(data, path, masks, label_map)
    else:
        gt = _load_plain_coco(data, path, masks, label_map, coco_images)
    cat_index = gt.class_index()
    gt.coco_images = coco_images
    gt.aliases = {stem: key for stem, key in aliases.items() if stem not in gt.images}
    gt.coco_categories = {c["id"]: cat_index.get(normalize_label(c.get("name", "")), -1)
                          for c in categories if isinstance(c, dict) and "id" in c}
    return gt


def _load_mpeg_oic(data: dict, path: Path, masks: bool, label_map: LabelMap | None):
    oic_map = data.get("oic_labelmap")
    if not isinstance(oic_map, list):
        raise UserError("'oic_annotations' needs an 'oic_labelmap' list", file=path)
    for k, item in enumerate(oic_map):
        if not isinstance(item, dict) or "id" not in item or "name" not in item:
            raise UserError("expected {id, name}", file=path, where=f"oic_labelmap[{k}]")
    ordered = sorted(oic_map, key=lambda i: i["id"])
    lm = label_map or LabelMap(names=[str(i["name"]) for i in ordered],
                               ids=[int(i["id"]) for i in ordered])
    index = {normalize_label(n): i for i, n in enumerate(lm.names)}
    by_id = {item["id"]: index.get(normalize_label(item["name"]), -1) for item in oic_map}
    images: dict[str, ImageGT] = {}
    dropped = {"boxes outside label map": 0, "image labels outside label map": 0}
    for k, entry in enumerate(data["oic_annotations"]):
        where = f"oic_annotations[{k}]"
        if not isinstance(entry, dict) or "image_id" not in entry or "annotations" not in entry:
            raise UserError("expected {image_id, annotations}", file=path, where=where)
        ann = entry["annotations"]
        try:
            bbox = np.asarray(ann.get("bbox", []), dtype=float).reshape(-1, 4)
            cls = np.asarray(ann.get("cls", []), dtype=object)
            grp = np.asarray(ann.get("group_of", np.zeros(len(bbox))), dtype=np.int64) != 0
        except (TypeError, ValueError) as exc:
            raise UserError(f"bad bbox/cls/group_of ({exc})", file=path, where=where) from None
        if not (len(bbox) == len(cls) == len(grp)):
            raise UserError("bbox, cls and group_of differ in length", file=path, where=where)
        codes = np.array([by_id.get(c, -1) for c in cls], dtype=np.int64)
        unknown = [c for c in cls if c not in by_id]
        if unknown:
            raise UserError(f"cls {unknown[0]!r} is not in oic_labelmap", file=path, where=where)
        verified = np.array([index.get(normalize_label(n), -1) for n in ann.get("img_cls", [])],
                            dtype=np.int64)
        dropped["image labels outside label map"] += int((verified < 0).sum())
        keep = codes >= 0
        dropped["boxes outside label map"] += int((~keep).sum())
        mask_list = None
        if masks:
            raw = ann.get("mask")
            sizes = ann.get("img_size")
            if raw is None or sizes is None or len(raw) != len(cls) or len(sizes) != len(cls):
                raise UserError("mask evaluation needs 'mask' and 'img_size' per box", file=path,
                                where=where)
            mask_list = []
            for j, (m, s) in enumerate(zip(raw, sizes)):
                if m is None or m == "nan" or (isinstance(m, float) and math.isnan(m)):
                    mask_list.append(None)
                    continue
                try:
                    mask_list.append(decode_mask_string(m, int(s["img_height"]),
                                                        int(s["img_width"])))
                except (binascii.Error, zlib.error, ValueError, KeyError, TypeError) as exc:
                    raise UserError(f"mask {j}: not base64/zlib COCO RLE ({exc})", file=path,
                                    where=where) from None
            mask_list = _drop_empty([m for m, kp in zip(mask_list, keep) if kp])
            _check_mask_sizes(mask_list, path, str(entry["image_id"]))
        images[str(entry["image_id"])] = ImageGT(
            boxes=bbox[keep], labels=codes[keep], group_of=grp[keep],
            verified=np.unique(verified[verified >= 0]), masks=mask_list)
    return OpenImagesGT(classes=list(lm.names), images=images, has_masks=masks,
                        dropped={k: v for k, v in dropped.items() if v})


def _load_plain_coco(data: dict, path: Path, masks: bool, label_map: LabelMap | None,
                     coco_images: dict):
    cats = data.get("categories")
    anns = data.get("annotations")
    if not isinstance(cats, list) or not isinstance(anns, list) or not coco_images:
        raise UserError("expected COCO 'images', 'annotations' and 'categories' lists "
                        "(or the MPEG 'oic_annotations')", file=path)
    cat_names = {}
    for k, c in enumerate(cats):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise UserError("expected {id, name}", file=path, where=f"categories[{k}]")
        cat_names[c["id"]] = str(c["name"])
    names = list(label_map.names) if label_map is not None else \
        [cat_names[c] for c in sorted(cat_names)]
    index = {normalize_label(n): i for i, n in enumerate(names)}
    code_of = {cid: index.get(normalize_label(n), -1) for cid, n in cat_names.items()}
    per_image: dict[Any, list] = {img_id: [] for img_id in coco_images}
    for k, ann in enumerate(anns):
        where = f"annotations[{k}]"
        if not isinstance(ann, dict) or "image_id" not in ann or "category_id" not in ann \
                or "bbox" not in ann:
            raise UserError("annotation needs image_id, category_id and bbox", file=path,
                            where=where)
        if ann["image_id"] not in coco_images:
            raise UserError(f"image_id {ann['image_id']!r} is not in 'images'", file=path,
                            where=where)
        if ann["category_id"] not in code_of:
            raise UserError(f"category_id {ann['category_id']!r} is not in 'categories'",
                            file=path, where=where)
        per_image[ann["image_id"]].append((k, ann))
    dropped = 0
    images: dict[str, ImageGT] = {}
    for img_id, entries in per_image.items():
        key, w, h = coco_images[img_id]
        if w <= 0 or h <= 0:
            raise UserError("image needs positive 'width' and 'height'", file=path,
                            where=f"image {img_id!r}")
        boxes, codes, grp, mlist = [], [], [], []
        for k, ann in entries:
            code = code_of[ann["category_id"]]
            if code < 0:
                dropped += 1
                continue
            b = ann["bbox"]
            if not (isinstance(b, list) and len(b) == 4
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
                raise UserError(f"bbox must be [x, y, w, h], got {b!r}", file=path,
                                where=f"annotations[{k}]")
            x, y, bw, bh = (float(v) for v in b)
            boxes.append([y / h, x / w, (y + bh) / h, (x + bw) / w])
            codes.append(code)
            grp.append(bool(ann.get("iscrowd", 0)))
            if masks:
                mlist.append(_coco_mask(ann.get("segmentation"), h, w, path, f"annotations[{k}]"))
        verified: list[int] = []
        images[key] = ImageGT(boxes=np.asarray(boxes, dtype=float).reshape(-1, 4),
                              labels=np.asarray(codes, dtype=np.int64),
                              group_of=np.asarray(grp, dtype=bool),
                              verified=np.asarray(verified, dtype=np.int64),
                              masks=_drop_empty(mlist) if masks else None)
    for img in data["images"]:
        extra = [code_of.get(c, -1) for key in ("pos_category_ids", "neg_category_ids")
                 for c in (img.get(key) or [])]
        if extra:
            v = np.asarray(extra, dtype=np.int64)
            images[str(img["id"])].verified = np.unique(v[v >= 0])
    return OpenImagesGT(classes=names, images=images, has_masks=masks,
                        dropped={"boxes outside label map": dropped} if dropped else {})


# --------------------------------------------------------------------------- predictions


def load_predictions(path: str | Path, gt: OpenImagesGT, *, masks: bool = False) -> Predictions:
    """Load detections (challenge CSV or COCO results JSON) against ``gt``'s classes.

    Returns image key -> :class:`ImagePred` with rows in file order. Detections of a class the
    GT does not know get label -1 (the evaluator ignores them, as it ignores unverified classes).
    With ``masks`` the CSV needs ``ImageWidth,ImageHeight,Mask`` and boxes are the masks' tight
    boxes, as the reference computes them.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        return _load_coco_results(path, gt, masks)
    required = PRED_MASK_COLUMNS if masks else PRED_BOX_COLUMNS
    df = read_csv(path, required, numeric=("Score",) if masks else
                  ("Score", "XMin", "XMax", "YMin", "YMax"),
                  nonempty=("ImageID", "LabelName"))
    import pandas as pd

    index = gt.class_index()
    names = df["LabelName"].to_numpy(dtype=object).astype(str)
    codes, uniq = pd.factorize(names)
    lut = np.array([index.get(normalize_label(u), -1) for u in uniq], dtype=np.int64)
    labels = lut[codes] if len(names) else np.zeros(0, dtype=np.int64)
    scores = df["Score"].to_numpy(dtype=float)
    ids = df["ImageID"].to_numpy(dtype=object).astype(str)
    if gt.aliases:  # COCO-style GT keyed by image id: accept file-name stems (OID ImageIDs)
        ids = np.array([i if i in gt.images else gt.aliases.get(i, i) for i in ids], dtype=object)
    if masks:
        for col in ("ImageWidth", "ImageHeight"):
            df[col] = pd.to_numeric(df[col], errors="coerce")
        rles = _mask_column(df, path)
        # the tight box of a detection the evaluation never looks at is never read
        boxes = _mask_boxes(rles, evaluated(gt, ids, labels))
    else:
        boxes = df[["YMin", "XMin", "YMax", "XMax"]].to_numpy(dtype=float)
        rles = None
    out: Predictions = {}
    keys, order, bounds = _group_order(ids)
    boxes, scores, labels = boxes[order], scores[order], labels[order]  # image by image
    rles = [rles[r] for r in order.tolist()] if rles is not None else None
    for key, start, end in zip(keys, bounds[:-1].tolist(), bounds[1:].tolist()):
        mlist = None
        if rles is not None:
            mlist = rles[start:end]
            _check_mask_sizes(mlist, path, key)
        out[key] = ImagePred(boxes=boxes[start:end], scores=scores[start:end],
                             labels=labels[start:end], masks=mlist)
    return out


def verified_codes(gt: OpenImagesGT, keys: list[str]) -> np.ndarray:
    """``k * (len(gt.classes) + 1) + class`` for each class verified for image ``keys[k]`` (an
    image-level label or a GT box): the (image, class) pairs the evaluation looks at."""
    width = len(gt.classes) + 1
    imgs = [gt.images[key] for key in keys]
    parts = [g.verified for g in imgs] + [g.labels for g in imgs]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    at = np.tile(np.arange(len(imgs), dtype=np.int64) * width, 2)
    return np.concatenate(parts).astype(np.int64) + np.repeat(at, [len(x) for x in parts])


def evaluated(gt: OpenImagesGT, ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Which detections (image key, class index; -1: class unknown to the GT) the evaluation
    looks at: image in the GT, class verified for it."""
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(ids, dtype=object))
    keys = [str(u) for u in uniques]
    known = np.asarray([key in gt.images for key in keys] + [False], dtype=bool)
    # rows of unknown images point past the known ones (no code matches them)
    position = np.cumsum(known) - 1
    position[~known] = len(keys)
    image = position[codes]
    width = len(gt.classes) + 1
    codes_known = verified_codes(gt, [k for k in keys if k in gt.images])
    return np.isin(image * width + labels, codes_known) & (labels >= 0) & known[codes]


def _mask_boxes(rles: list, wanted: np.ndarray | None = None) -> np.ndarray:
    """Tight normalised [ymin, xmin, ymax, xmax] of each mask (of the ``wanted`` ones, bool per
    mask); zeros for a missing/empty (or not wanted) one."""
    from pycocotools import mask as mask_utils

    boxes = np.zeros((len(rles), 4), dtype=float)
    idx = [i for i, r in enumerate(rles) if r is not None and (wanted is None or wanted[i])]
    if idx:
        xywh = mask_utils.toBbox([rles[i] for i in idx])
        hw = np.array([rles[i]["size"] for i in idx], dtype=float)
        h, w = hw[:, 0], hw[:, 1]
        x, y, bw, bh = xywh.T
        nonempty = (bw > 0) & (bh > 0)
        b = np.stack([y / h, x / w, (y + bh) / h, (x + bw) / w], axis=1)
        boxes[np.asarray(idx)[nonempty]] = b[nonempty]
    return boxes


def _load_coco_results(path: Path, gt: OpenImagesGT, masks: bool) -> Predictions:
    if gt.coco_images is None or gt.coco_categories is None:
        raise UserError("COCO results JSON needs COCO-style ground truth (--gt-json) for image "
                        "sizes and category names", file=path)
    data = read_json(path)
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
    if not isinstance(data, list):
        raise UserError("expected a list of COCO results", file=path)
    per: dict[str, list] = {}
    for k, det in enumerate(data):
        where = f"result {k}"
        if not isinstance(det, dict) or not {"image_id", "category_id", "score"} <= det.keys():
            raise UserError("result needs image_id, category_id and score", file=path,
                            where=where)
        if det["image_id"] not in gt.coco_images:
            raise UserError(f"image_id {det['image_id']!r} is not in the ground truth images",
                            file=path, where=where)
        key, w, h = gt.coco_images[det["image_id"]]
        code = gt.coco_categories.get(det["category_id"], -1)
        score = det["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise UserError(f"score must be a number, got {score!r}", file=path, where=where)
        if masks:
            if "segmentation" not in det:
                raise UserError("mask evaluation needs 'segmentation'", file=path, where=where)
            rle = _coco_mask(det["segmentation"], h, w, path, where)
            box = _mask_boxes([rle])[0]
        else:
            b = det.get("bbox")
            if not (isinstance(b, list) and len(b) == 4 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
                raise UserError(f"bbox must be [x, y, w, h], got {b!r}", file=path, where=where)
            if w <= 0 or h <= 0:
                raise UserError(f"image {det['image_id']!r} has no width/height in the GT",
                                file=path, where=where)
            x, y, bw, bh = (float(v) for v in b)
            box = [y / h, x / w, (y + bh) / h, (x + bw) / w]
            rle = None
        per.setdefault(key, []).append((box, float(score), code, rle))
    out: Predictions = {}
    for key, items in per.items():
        out[key] = ImagePred(boxes=np.asarray([i[0] for i in items], dtype=float).reshape(-1, 4),
                             scores=np.asarray([i[1] for i in items], dtype=float),
                             labels=np.asarray([i[2] for i in items], dtype=np.int64),
                             masks=[i[3] for i in items] if masks else None)
        if masks:
            _check_mask_sizes(out[key].masks, path, key)
    return out
