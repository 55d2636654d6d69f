"""Semantic segmentation mIoU from label maps, pooled over images through a confusion matrix.

Counts are additive (one confusion matrix per image, summed), and one function turns a matrix
into IoUs, so a set's mIoU is computed from pooled pixels, never averaged from per-image mIoUs:
this is how mmsegmentation, the Cityscapes scripts and CompressAI-Vision's Pandaset evaluator
(per sequence) do it.

Conventions, all explicit:

- ``ignore_index`` (default 255; None for none): GT pixels with that value are left out.
- A predicted value outside ``0..num_classes-1`` matches no class: a FN for the GT class, a FP for
  none (mmsegmentation's histogram behaviour). A GT value outside the range is an error.
- ``absent="union"`` (default; mmsegmentation ``nanmean`` and Cityscapes): a class with no GT
  pixel and no predicted pixel has no IoU and is left out of the mean; a class only predicted has
  IoU 0 and counts. ``absent="gt"`` (CompressAI-Vision's Pandaset ``calculate_mIoU``): a class
  with no GT pixel is left out even if predicted.
- ``classes``: average over this subset only (e.g. the VCM Pandaset categories); pixels of other
  classes still count as FP/FN for the selected ones.

File inputs (PNG label maps, ``.npy`` arrays) are read by :mod:`vcmctc.datasets.labelmaps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from vcmctc.errors import UserError

ABSENT_POLICIES = ("union", "gt")


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int,
                     ignore_index: int | None = 255) -> np.ndarray:
    """Pixel counts ``[gt_class, pred_class]`` as int64, shape (C, C + 1).

    The last column counts predictions outside ``0..C-1``.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"label maps differ in shape: gt {gt.shape}, prediction {pred.shape}")
    gt = gt.ravel()
    pred = pred.ravel()
    c = int(num_classes)
    if c < 1:
        raise ValueError("num_classes must be >= 1")
    if ignore_index is not None:
        keep = gt != ignore_index
        gt, pred = gt[keep], pred[keep]
    gt = gt.astype(np.int64, copy=False)
    if gt.size and (gt.min() < 0 or gt.max() >= c):
        bad = gt[(gt < 0) | (gt >= c)][0]
        raise ValueError(f"ground-truth label {bad} is outside 0..{c - 1}"
                         + (f" and is not the ignore index {ignore_index}"
                            if ignore_index is not None else ""))
    pred = pred.astype(np.int64, copy=False)
    pred = np.where((pred >= 0) & (pred < c), pred, c)
    return np.bincount(gt * (c + 1) + pred, minlength=c * (c + 1)).reshape(c, c + 1)


@dataclass
class MIoUResult:
    """IoUs (0..1) from a pooled confusion matrix; NaN marks classes left out of the mean."""

    confusion: np.ndarray  # (C, C + 1) int64
    iou: np.ndarray  # (C,) per-class IoU, NaN where absent (per the policy) or not selected
    accuracy: np.ndarray  # (C,) per-class pixel accuracy (recall), NaN without GT pixels
    absent: str
    classes: list[int] | None
    num_images: int = 0

    @property
    def miou(self) -> float:
        return float(np.nanmean(self.iou)) if np.isfinite(self.iou).any() else float("nan")

    @property
    def pixel_accuracy(self) -> float:
        total = self.confusion.sum()
        return float(np.trace(self.confusion[:, :-1]) / total) if total else float("nan")

    @property
    def mean_accuracy(self) -> float:
        sel = self.accuracy if self.classes is None else self.accuracy[self.classes]
        return float(np.nanmean(sel)) if np.isfinite(sel).any() else float("nan")

    def per_class(self) -> dict[int, float]:
        """IoU of each class that enters the mean."""
        return {c: float(v) for c, v in enumerate(self.iou) if not np.isnan(v)}


def miou_from_confusion(confusion: np.ndarray, *, absent: str = "union",
                        classes: Sequence[int] | None = None, num_images: int = 0) -> MIoUResult:
    """Per-class IoU = TP / (TP + FP + FN) and the mean under the ``absent`` policy."""
    if absent not in ABSENT_POLICIES:
        raise UserError(f"unknown absent-class policy {absent!r} "
                        f"(known: {', '.join(ABSENT_POLICIES)})")
    conf = np.asarray(confusion, dtype=np.int64)
    c = conf.shape[0]
    if conf.shape != (c, c + 1):
        raise ValueError(f"confusion matrix must be (C, C + 1), got {conf.shape}")
    tp = np.diag(conf[:, :c]).astype(float)
    gt_pixels = conf.sum(axis=1).astype(float)
    pred_pixels = conf[:, :c].sum(axis=0).astype(float)
    union = gt_pixels + pred_pixels - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        accuracy = np.where(gt_pixels > 0, tp / gt_pixels, np.nan)
    if absent == "gt":
        iou[gt_pixels == 0] = np.nan
    selected = None
    if classes is not None:
        selected = sorted({int(k) for k in classes})
        bad = [k for k in selected if not 0 <= k < c]
        if bad:
            raise UserError(f"class {bad[0]} is outside 0..{c - 1}")
        mask = np.ones(c, dtype=bool)
        mask[selected] = False
        iou[mask] = np.nan
    return MIoUResult(confusion=conf, iou=iou, accuracy=accuracy, absent=absent,
                      classes=selected, num_images=num_images)


def evaluate_pairs(pairs: Iterable[tuple[np.ndarray, np.ndarray]], num_classes: int, *,
                   ignore_index: int | None = 255, absent: str = "union",
                   classes: Sequence[int] | None = None) -> MIoUResult:
    """mIoU of (gt, prediction) label-map pairs, pooled."""
    return miou_finalize(miou_state(pairs, num_classes, ignore_index=ignore_index),
                         absent=absent, classes=classes)


# --------------------------------------------------------------------------- state

@dataclass(frozen=True, eq=False)
class MIoUState:
    """The additive state of a set of label maps: the pooled confusion matrix and the number of
    images (plain arrays: ``np.savez`` / ``np.load(allow_pickle=False)`` via ``to_arrays``)."""

    confusion: np.ndarray  # (C, C + 1) int64
    num_images: int = 0

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"confusion": np.asarray(self.confusion, dtype=np.int64),
                "num_images": np.asarray(self.num_images)}

    @classmethod
    def from_arrays(cls, arrays) -> "MIoUState":
        return cls(np.asarray(arrays["confusion"], dtype=np.int64), int(arrays["num_images"]))


def miou_state(pairs: Iterable[tuple[np.ndarray, np.ndarray]], num_classes: int, *,
               ignore_index: int | None = 255) -> MIoUState:
    """State of (gt, prediction) label-map pairs; ``miou_finalize`` of it equals
    :func:`evaluate_pairs` with the same arguments."""
    total = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    n = 0
    for gt, pred in pairs:
        total += confusion_matrix(gt, pred, num_classes, ignore_index)
        n += 1
    return MIoUState(total, n)


def miou_pool(states: Iterable[MIoUState]) -> MIoUState:
    """States of several sets summed (same number of classes)."""
    states = list(states)
    if not states:
        raise UserError("nothing to pool: no mIoU states")
    shape = states[0].confusion.shape
    if any(s.confusion.shape != shape for s in states):
        raise UserError("cannot pool mIoU states with different numbers of classes")
    return MIoUState(np.sum([s.confusion for s in states], axis=0, dtype=np.int64),
                     sum(s.num_images for s in states))


def miou_finalize(state: MIoUState, *, absent: str = "union",
                  classes: Sequence[int] | None = None) -> MIoUResult:
    return miou_from_confusion(state.confusion, absent=absent, classes=classes,
                               num_images=state.num_images)


# --------------------------------------------------------------------------- file inputs
