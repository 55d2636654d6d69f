"""Semantic-segmentation label maps from files (PNG or .npy), paired by name, and mIoU over them.

Reading lives here; :mod:`vcmctc.evaluators.miou` only counts and finalises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vcmctc.errors import UserError
from vcmctc.evaluators.miou import ABSENT_POLICIES, MIoUResult, confusion_matrix, miou_from_confusion


LABEL_EXTENSIONS = (".png", ".npy")


def read_label_map(path: str | Path) -> np.ndarray:
    """A label map: single-channel PNG (palette indices or gray levels) or a ``.npy`` array."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read .npy label map ({exc})", file=path) from None
        if not np.issubdtype(arr.dtype, np.integer):
            if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
                return arr.astype(np.int64)
            raise UserError(f"label map must hold integers, got dtype {arr.dtype}", file=path)
        return arr
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the install
        raise UserError("reading PNG label maps needs Pillow (pip install pillow)") from None
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
                raise UserError(f"label map PNG must be single-channel (mode L, P, I or I;16), "
                                f"got mode {im.mode}", file=path)
            arr = np.asarray(im)
    except FileNotFoundError:
        raise UserError("file not found", file=path) from None
    except UserError:
        raise
    except OSError as exc:
        raise UserError(f"cannot read image ({exc})", file=path) from None
    return arr.astype(np.int64) if arr.dtype == bool else arr


def _label_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise UserError("not a folder" if folder.exists() else "folder not found", file=folder)
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in LABEL_EXTENSIONS:
            if p.stem in files:
                raise UserError(f"two label maps named {p.stem!r} ({files[p.stem].name}, "
                                f"{p.name})", file=folder)
            files[p.stem] = p
    if not files:
        raise UserError("no .png or .npy label maps", file=folder)
    return files


def pair_label_files(gt: str | Path, pred: str | Path) -> list[tuple[Path, Path]]:
    """(gt, prediction) file pairs: two folders matched by file stem, or two files."""
    gt, pred = Path(gt), Path(pred)
    if gt.is_file() and pred.is_file():
        return [(gt, pred)]
    if gt.is_file() or pred.is_file():
        raise UserError("--gt and --pred must both be folders or both be files")
    gt_files, pred_files = _label_files(gt), _label_files(pred)
    missing = [k for k in gt_files if k not in pred_files]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(f"no prediction for {gt_files[missing[0]].name}{more}", file=pred)
    return [(gt_files[k], pred_files[k]) for k in gt_files]


def evaluate_files(pairs: Sequence[tuple[Path, Path]], *, num_classes: int | None = None,
                   ignore_index: int | None = 255, absent: str = "union",
                   classes: Sequence[int] | None = None) -> MIoUResult:
    """mIoU over label-map files. Without ``num_classes`` it is 1 + the largest GT label
    (ignore index excluded), which costs one extra pass over the GT files."""
    if absent not in ABSENT_POLICIES:
        raise UserError(f"unknown absent-class policy {absent!r} "
                        f"(known: {', '.join(ABSENT_POLICIES)})")
    if num_classes is None:
        top = -1
        for gt_path, _ in pairs:
            g = read_label_map(gt_path)
            if ignore_index is not None:
                g = g[g != ignore_index]
            if g.size:
                if g.min() < 0:
                    raise UserError(f"negative label {g.min()}", file=gt_path)
                top = max(top, int(g.max()))
        if top < 0:
            raise UserError("ground truth has no labelled pixel; give --num-classes")
        num_classes = top + 1
    total = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    for gt_path, pred_path in pairs:
        g, p = read_label_map(gt_path), read_label_map(pred_path)
        if g.shape != p.shape:
            raise UserError(f"prediction is {p.shape}, ground truth {gt_path.name} is {g.shape}",
                            file=pred_path)
        try:
            total += confusion_matrix(g, p, num_classes, ignore_index)
        except ValueError as exc:
            raise UserError(str(exc), file=gt_path) from None
    return miou_from_confusion(total, absent=absent, classes=classes, num_images=len(pairs))
