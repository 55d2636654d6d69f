"""Open Images Challenge mAP at IoU 0.5 for boxes and instance masks.

Written from the published challenge metric and the behaviour of the TF Object Detection API's
``OpenImagesChallengeEvaluator`` (run by ``oid_challenge_evaluation.py``, by the MPEG VCM OIV6
scripts and, vendored, by CompressAI-Vision), which it reproduces rule for rule:

1. Per image, a detection is evaluated only if its class is *verified* for the image: it has an
   image-level label there (positive or negative) or a GT box. Other detections are dropped. A
   verified class without GT boxes (a negative label) makes every detection of it a false positive.
2. Per image and class, detections with an invalid box (ymin >= ymax or xmin >= xmax) or a score
   <= -10 are dropped, the rest sorted by score (``np.argsort(scores)[::-1]``, exactly as the
   reference, so ties fall the same way) and capped at 10,000. Each detection is compared with the
   non-group-of GT of highest IoU only; it is a TP if that IoU >= 0.5 and that GT is not taken yet
   (highest score first), else a FP.
3. Detections that are not TP and whose best group-of box has IoA >= 0.5 (intersection over the
   *detection's* area) are removed; each group-of box hit by one or more of them adds one entry
   with label ``group_of_weight`` (1.0 in the challenge) and the highest score among them. A
   group-of box counts ``group_of_weight`` toward the number of GT instances, hit or not (so an
   unhit group-of box is a false negative).
4. Per class, all images' entries are pooled; precision/recall from their cumulative sums
   (sorted as above), AP = area under the precision envelope (VOC all-point). Classes with no GT
   instances get no AP; mAP = mean over the classes with GT instances.
5. Masks: IoU/IoA on masks (float32, as the reference). A GT box without a mask is not counted as
   a GT instance; detections that match it (on the mask's tight box: IoU vs. non-group-of, IoA vs.
   group-of) are removed rather than counted as FP. Group-of masks follow rule 3 with mask IoA.

Everything is additive: :func:`image_records` gives the per-image entries (the rules above,
image by image, as the reference applies them), :func:`count_gt` the GT instance counts, and
:func:`finalize` turns pooled entries into APs. :func:`oid_state` computes the same entries for
all images at once (tested bit for bit against :func:`image_records`); :func:`evaluate` and
``vcmctc evaluate`` use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from vcmctc.datasets.openimages import ImageGT, ImagePred, OpenImagesGT, verified_codes
from vcmctc.errors import UserError


@dataclass(frozen=True)
class OIParams:
    """Settings that change the score (all recorded in the result's signature)."""

    iou_threshold: float = 0.5
    # 1.0 for boxes and masks: oid_challenge_evaluation.py and CompressAI-Vision both build
    # OpenImagesChallengeEvaluator with its default (the separate instance-segmentation class
    # with 0.0 is not what they run)
    group_of_weight: float = 1.0
    masks: bool = False
    max_detections: int = 10000  # per image and class (the reference's NMS output cap)
    min_score: float = -10.0  # scores <= this are dropped (the reference's NMS score filter)


@dataclass
class OpenImagesResult:
    """mAP (0..1) and per-class values, index = class index of the ground truth."""

    classes: list[str]
    ap: np.ndarray  # (C,) NaN for classes without GT instances
    num_gt: np.ndarray  # (C,) float: non-group-of + weight x group-of instances
    num_tp: np.ndarray  # (C,) float: sum of TP labels
    num_entries: np.ndarray  # (C,) int: evaluated entries (detections + group-of hits)
    params: OIParams
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def map(self) -> float:
        valid = ~np.isnan(self.ap)
        return float(np.nanmean(self.ap)) if valid.any() else float("nan")

    def per_class(self) -> dict[str, float]:
        """AP of each class that has GT instances."""
        return {name: float(ap) for name, ap in zip(self.classes, self.ap) if not np.isnan(ap)}

    def signature(self) -> dict:
        p = self.params
        return {"metric": "oid-challenge-" + ("masks" if p.masks else "boxes"),
                "iou": p.iou_threshold, "group_of_weight": p.group_of_weight,
                "max_detections": p.max_detections}


# --------------------------------------------------------------------------- overlaps


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas of [ymin, xmin, ymax, xmax] boxes, (len(a), len(b))."""
    heights = np.maximum(0.0, np.minimum(a[:, None, 2], b[None, :, 2])
                         - np.maximum(a[:, None, 0], b[None, :, 0]))
    widths = np.maximum(0.0, np.minimum(a[:, None, 3], b[None, :, 3])
                        - np.maximum(a[:, None, 1], b[None, :, 1]))
    return heights * widths


def box_area(b: np.ndarray) -> np.ndarray:
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


# A degenerate GT box can make 0 / 0: NaN, as in the reference, which no threshold passes.
def box_iou(dets: np.ndarray, gts: np.ndarray) -> np.ndarray:
    inter = box_intersection(dets, gts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (box_area(dets)[:, None] + box_area(gts)[None, :] - inter)


def box_ioa(dets: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """Intersection over the detection's area, (len(dets), len(gts))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return box_intersection(dets, gts) / box_area(dets)[:, None]


def mask_overlap(dets: list, gts: list, *, ioa: bool) -> np.ndarray:
    """Mask IoU (or IoA over the detection's area) as float32, (len(dets), len(gts)).

    pycocotools gives intersection/union of exact pixel counts in float64; rounding that to
    float32 equals the reference's float32 division (double rounding is harmless for a
    quotient), for masks under 2**24 pixels.
    """
    from pycocotools import mask as mask_utils

    values = mask_utils.iou(dets, gts, [int(ioa)] * len(gts))
    return np.asarray(values, dtype=np.float64).reshape(len(dets), len(gts)).astype(np.float32)


# --------------------------------------------------------------------------- per image


class _State:
    """Per-class matching flags of one image (the reference's tp / group-of / box flags)."""

    def __init__(self, n: int, threshold: float):
        self.tp = np.zeros(n, dtype=bool)
        self.group = np.zeros(n, dtype=bool)
        self.box_only = np.zeros(n, dtype=bool)
        self.threshold = threshold

    def match_iou(self, overlap: np.ndarray, box_only: bool) -> None:
        best = overlap.argmax(axis=1)
        best_value = overlap[np.arange(len(best)), best]
        eligible = np.flatnonzero(~self.tp & ~self.group & (best_value >= self.threshold))
        _, first = np.unique(best[eligible], return_index=True)
        winners = eligible[first]  # first (highest-scored) eligible detection of each GT
        self.tp[winners] = True
        if box_only:
            self.box_only[winners] = True

    def match_ioa(self, overlap: np.ndarray, scores: np.ndarray, weight: float,
                  box_only: bool) -> np.ndarray:
        best = overlap.argmax(axis=1)
        best_value = overlap[np.arange(len(best)), best]
        hit = ~self.tp & ~self.group & (best_value >= self.threshold)
        self.group |= hit
        if box_only:
            self.box_only |= hit
        group_scores = np.zeros(overlap.shape[1], dtype=float)
        np.maximum.at(group_scores, best[hit], scores[hit])
        if weight <= 0:
            return group_scores[:0]
        return group_scores[group_scores > 0]


def _match_class(boxes: np.ndarray, scores: np.ndarray, masks: list | None, gt_boxes: np.ndarray,
                 gt_group: np.ndarray, gt_masks: list | None,
                 p: OIParams) -> tuple[np.ndarray, np.ndarray]:
    """Entries (scores, TP labels) of one class in one image; detections sorted by score."""
    n = len(scores)
    if len(gt_boxes) == 0:
        return scores, np.zeros(n, dtype=float)
    st = _State(n, p.iou_threshold)
    weight = p.group_of_weight
    if p.masks:
        present = np.array([m is not None for m in gt_masks], dtype=bool)
        with_mask, box_only = np.flatnonzero(present), np.flatnonzero(~present)
        plain, grouped = with_mask[~gt_group[with_mask]], with_mask[gt_group[with_mask]]
        if plain.size:
            st.match_iou(mask_overlap(masks, [gt_masks[i] for i in plain], ioa=False), False)
        group_scores = np.zeros(0)
        if grouped.size:
            group_scores = st.match_ioa(mask_overlap(masks, [gt_masks[i] for i in grouped],
                                                     ioa=True), scores, weight, False)
        plain, grouped = box_only[~gt_group[box_only]], box_only[gt_group[box_only]]
        if plain.size:
            st.match_iou(box_iou(boxes, gt_boxes[plain]), True)
        if grouped.size:
            st.match_ioa(box_ioa(boxes, gt_boxes[grouped]), scores, weight, True)
        keep = ~st.group & ~st.box_only
    else:
        plain, grouped = np.flatnonzero(~gt_group), np.flatnonzero(gt_group)
        if plain.size:
            st.match_iou(box_iou(boxes, gt_boxes[plain]), False)
        group_scores = np.zeros(0)
        if grouped.size:
            group_scores = st.match_ioa(box_ioa(boxes, gt_boxes[grouped]), scores, weight, False)
        keep = ~st.group
    return (np.concatenate((scores[keep], group_scores)),
            np.concatenate((st.tp[keep].astype(float), np.full(len(group_scores), weight))))


def image_records(gt: ImageGT, pred: ImagePred, params: OIParams = OIParams(),
                  counts: dict | None = None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per-class entries (scores, TP labels as float) of one image, in the reference's order."""
    if len(pred.scores) == 0:
        return {}
    # classes with an image-level label or a GT box (label -1: class unknown to the GT)
    size = int(max(pred.labels.max(initial=0), gt.labels.max(initial=0),
                   gt.verified.max(initial=0))) + 2
    evaluatable = np.zeros(size, dtype=bool)
    evaluatable[gt.verified] = True
    evaluatable[gt.labels] = True
    allowed = evaluatable[pred.labels]
    boxes, scores, labels = pred.boxes[allowed], pred.scores[allowed], pred.labels[allowed]
    valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
    if counts is not None:
        counts["unverified"] = counts.get("unverified", 0) + int((~allowed).sum())
        counts["invalid_boxes"] = counts.get("invalid_boxes", 0) + int((~valid).sum())
    masks = None
    if params.masks:
        if pred.masks is None:
            raise UserError("mask evaluation needs detection masks")
        kept = np.flatnonzero(allowed)[valid]
        masks = [pred.masks[i] for i in kept]
        _check_sizes(gt, masks)
    boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for c in np.unique(labels):
        sel = np.flatnonzero(labels == c)
        s = scores[sel]
        ok = s > params.min_score
        sel, s = sel[ok], s[ok]
        if not sel.size:
            continue
        order = np.argsort(s)[::-1][:params.max_detections]
        sel = sel[order]
        on = gt.labels == c
        gt_masks = None
        if params.masks:
            gt_masks = [m for m, o in zip(gt.masks or [None] * len(on), on) if o]
        out[int(c)] = _match_class(boxes[sel], s[order],
                                   [masks[i] for i in sel] if masks is not None else None,
                                   gt.boxes[on], gt.group_of[on], gt_masks, params)
    return out


def _check_sizes(gt: ImageGT, det_masks: list) -> None:
    gt_sizes = {tuple(m["size"]) for m in (gt.masks or []) if m is not None}
    det_sizes = {tuple(m["size"]) for m in det_masks if m is not None}
    if gt_sizes and det_sizes and gt_sizes != det_sizes:
        raise UserError(f"detection masks are {sorted(det_sizes)} (height, width) but the ground "
                        f"truth masks of the image are {sorted(gt_sizes)}")


def count_gt(gt: OpenImagesGT, params: OIParams = OIParams()) -> np.ndarray:
    """GT instances per class: non-group-of + weight x group-of (masks: only those with a mask)."""
    imgs = list(gt.images.values())
    labels = np.concatenate([img.labels for img in imgs] + [np.zeros(0, dtype=np.int64)])
    group_of = np.concatenate([img.group_of for img in imgs] + [np.zeros(0, dtype=bool)])
    counted = np.ones(len(labels), dtype=bool)
    if params.masks:
        counted = np.array([m is not None for img in imgs
                            for m in (img.masks or [None] * len(img.labels))], dtype=bool)
    # integer counts: summed over all images at once they are the per-image sums
    plain = np.bincount(labels[counted & ~group_of], minlength=len(gt.classes)).astype(np.int64)
    grouped = np.bincount(labels[counted & group_of], minlength=len(gt.classes)).astype(np.int64)
    return plain + params.group_of_weight * grouped


# --------------------------------------------------------------------------- AP


def precision_recall(scores: np.ndarray, labels: np.ndarray,
                     num_gt: float) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each entry, entries sorted by descending score."""
    order = np.argsort(scores)[::-1]
    tp = np.asarray(labels, dtype=float)[order]
    fp = (tp <= 0).astype(float)
    cum_tp, cum_fp = np.cumsum(tp), np.cumsum(fp)
    return cum_tp / (cum_tp + cum_fp), cum_tp / num_gt


def average_precision(scores: np.ndarray, labels: np.ndarray, num_gt: float) -> float:
    """AP (0..1) = area under the precision envelope, VOC all-point; NaN if ``num_gt`` is 0."""
    if num_gt == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    precision, recall = precision_recall(np.asarray(scores, dtype=float), labels, num_gt)
    recall = np.concatenate(([0.0], recall, [1.0]))
    precision = np.concatenate(([0.0], precision, [0.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


# --------------------------------------------------------------------------- whole set


def accumulate(gt: OpenImagesGT, preds: Mapping[str, ImagePred], params: OIParams = OIParams(),
               counts: dict | None = None) -> list[tuple[list, list]]:
    """Pooled entries per class: images in sorted ImageID order (as ``groupby`` adds them)."""
    pooled: list[tuple[list, list]] = [([], []) for _ in gt.classes]
    for key in sorted(preds):
        pred = preds[key]
        image = gt.images.get(key)
        if image is None:
            if counts is not None:
                counts["unknown_image_detections"] = (counts.get("unknown_image_detections", 0)
                                                      + len(pred.scores))
            continue
        if counts is not None:
            counts["unknown_class"] = counts.get("unknown_class", 0) + int((pred.labels < 0).sum())
        for c, (s, lab) in image_records(image, pred, params, counts).items():
            pooled[c][0].append(s)
            pooled[c][1].append(lab)
    return pooled


def finalize(classes: list[str], pooled: list[tuple[list, list]], num_gt: np.ndarray,
             params: OIParams, counts: dict | None = None) -> OpenImagesResult:
    c = len(classes)
    ap = np.full(c, np.nan)
    num_tp = np.zeros(c)
    entries = np.zeros(c, dtype=np.int64)
    for i, (score_parts, label_parts) in enumerate(pooled):
        scores = np.concatenate(score_parts) if score_parts else np.zeros(0)
        labels = np.concatenate(label_parts) if label_parts else np.zeros(0)
        num_tp[i] = labels.sum()
        entries[i] = len(scores)
        if num_gt[i] > 0:
            ap[i] = average_precision(scores, labels, num_gt[i])
    return OpenImagesResult(classes=list(classes), ap=ap, num_gt=np.asarray(num_gt, dtype=float),
                            num_tp=num_tp, num_entries=entries, params=params,
                            counts=dict(counts or {}))


def evaluate(gt: OpenImagesGT, preds: Mapping[str, ImagePred], params: OIParams | None = None,
             **settings) -> OpenImagesResult:
    """Open Images Challenge AP per class and mAP of ``preds`` against ``gt``.

    ``settings`` are :class:`OIParams` fields (``masks=True``, ``iou_threshold=...``).
    """
    return oid_finalize(oid_state(gt, preds, params or OIParams(**settings)))


# --------------------------------------------------------------------------- per-set state


@dataclass(frozen=True, eq=False)
class OIState:
    """What :func:`finalize` needs from one set of images, additive across disjoint sets.

    Entries (scores and TP labels) are kept per class in the order :func:`accumulate` builds
    them (sorted image key, then the image's own order) with their image, so that pooled sets
    concatenate them in the order one run over the union would: the reference sorts entries
    with numpy's default (unstable) argsort, whose tie order depends on that order.
    """

    classes: np.ndarray        # (C,) str: class names, index = class index
    images: np.ndarray         # (I,) str: GT image keys, sorted
    num_gt: np.ndarray         # (C,) float64
    cls: np.ndarray            # (N,) int64 class index of each entry
    image: np.ndarray          # (N,) int64 index into ``images``
    score: np.ndarray          # (N,) float64
    label: np.ndarray          # (N,) float64 (TP weight; 0 for a FP)
    counts_keys: np.ndarray    # (K,) str
    counts_values: np.ndarray  # (K,) int64
    iou_threshold: float
    group_of_weight: float
    masks: bool
    max_detections: int
    min_score: float

    @property
    def params(self) -> OIParams:
        return OIParams(iou_threshold=self.iou_threshold, group_of_weight=self.group_of_weight,
                        masks=self.masks, max_detections=self.max_detections,
                        min_score=self.min_score)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays (no object dtype): ``np.savez`` / ``np.load(allow_pickle=False)``."""
        return {f: np.asarray(getattr(self, f)) for f in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "OIState":
        try:
            a = {f: arrays[f] for f in cls.__dataclass_fields__}
        except KeyError as exc:
            raise UserError(f"Open Images state: missing array {exc.args[0]!r}") from None
        return cls(classes=np.asarray(a["classes"], dtype=str),
                   images=np.asarray(a["images"], dtype=str),
                   num_gt=np.asarray(a["num_gt"], dtype=np.float64),
                   cls=np.asarray(a["cls"], dtype=np.int64),
                   image=np.asarray(a["image"], dtype=np.int64),
                   score=np.asarray(a["score"], dtype=np.float64),
                   label=np.asarray(a["label"], dtype=np.float64),
                   counts_keys=np.asarray(a["counts_keys"], dtype=str),
                   counts_values=np.asarray(a["counts_values"], dtype=np.int64),
                   iou_threshold=float(a["iou_threshold"]),
                   group_of_weight=float(a["group_of_weight"]), masks=bool(a["masks"]),
                   max_detections=int(a["max_detections"]), min_score=float(a["min_score"]))


def oid_state(gt: OpenImagesGT, preds: Mapping[str, ImagePred],
              params: OIParams | None = None) -> OIState:
    """The state of one set: ``oid_finalize(oid_state(gt, preds, p))`` equals
    ``evaluate(gt, preds, p)``.

    The entries are :func:`image_records`' of each image, bit for bit, computed for all images
    at once: the detections of each (image, class) sorted by one ``np.argsort`` call on that
    group's scores (as the reference sorts, so ties fall the same way), then each matching
    step of :func:`_match_class` applied to all groups together on their (detection, GT) pairs
    (the same element-wise overlap arithmetic, the same first-of-maximum rule as ``argmax``).
    """
    params = params or OIParams()
    if params.masks and not gt.has_masks:
        raise UserError("mask evaluation needs ground truth masks")
    images = sorted(gt.images)
    where = {key: i for i, key in enumerate(images)}
    counts: dict[str, int] = {}
    known: list[tuple[int, ImagePred]] = []
    for key in sorted(preds):
        pred = preds[key]
        if key not in where:
            counts["unknown_image_detections"] = (counts.get("unknown_image_detections", 0)
                                                  + len(pred.scores))
            continue
        counts.setdefault("unknown_class", 0)
        if len(pred.scores):
            counts.setdefault("unverified", 0)
            counts.setdefault("invalid_boxes", 0)
            known.append((where[key], pred))
        else:
            counts["unknown_class"] += int((pred.labels < 0).sum())
    dets = _Detections(gt, images, known, params, counts)
    entries = _match_all(dets, _GTInstances(gt, images, params), params)
    # per class, images in sorted key order, each group's entries in their order
    order = np.lexsort((entries[3], entries[1], entries[0]))
    cls, image, score, label = (a[order] for a in entries[:3] + entries[4:])
    return OIState(
        classes=np.asarray(gt.classes, dtype=str), images=np.asarray(images, dtype=str),
        num_gt=np.asarray(count_gt(gt, params), dtype=np.float64),
        cls=cls.astype(np.int64), image=image.astype(np.int64),
        score=score.astype(np.float64), label=label.astype(np.float64),
        counts_keys=np.asarray(list(counts), dtype=str),
        counts_values=np.asarray(list(counts.values()), dtype=np.int64),
        iou_threshold=params.iou_threshold, group_of_weight=params.group_of_weight,
        masks=params.masks, max_detections=params.max_detections, min_score=params.min_score)


class _Detections:
    """The evaluated detections of all images, grouped by (image, class), each group sorted as
    :func:`image_records` sorts it: ``image``, ``cls``, ``boxes``, ``scores``, ``masks`` per
    detection and ``rank`` (position in its group); ``counts`` updated as it counts."""

    def __init__(self, gt: OpenImagesGT, images: list[str], known: list, params: OIParams,
                 counts: dict[str, int]):
        empty = not known
        sizes = np.asarray([len(p.scores) for _, p in known], dtype=np.int64)
        image = np.repeat(np.asarray([i for i, _ in known], dtype=np.int64), sizes)
        labels = np.concatenate([p.labels for _, p in known]) if not empty else \
            np.zeros(0, dtype=np.int64)
        boxes = np.concatenate([p.boxes for _, p in known]) if not empty else np.zeros((0, 4))
        scores = np.concatenate([p.scores for _, p in known]) if not empty else np.zeros(0)
        if known:
            counts["unknown_class"] += int((labels < 0).sum())
        # classes with an image-level label or a GT box, per image (label -1: never)
        width = len(gt.classes) + 1
        codes = verified_codes(gt, images)
        allowed = np.isin(image * width + labels, codes) & (labels >= 0)
        valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
        if known:
            counts["unverified"] += int((~allowed).sum())
            counts["invalid_boxes"] += int((allowed & ~valid).sum())
        keep = allowed & valid
        masks = None
        if params.masks:
            masks = []
            offsets = np.concatenate(([0], np.cumsum(sizes)))
            for k, (i, pred) in enumerate(known):
                if pred.masks is None:
                    raise UserError("mask evaluation needs detection masks")
                mine = np.flatnonzero(keep[offsets[k]:offsets[k + 1]])
                image_masks = [pred.masks[j] for j in mine]
                _check_sizes(gt.images[images[i]], image_masks)
                masks += image_masks
        rows = np.flatnonzero(keep)
        kept_masks = np.empty(len(rows), dtype=object)
        if masks is not None:
            kept_masks[:] = masks
        ok = scores[rows] > params.min_score
        rows, kept_masks = rows[ok], kept_masks[ok]
        # group by (image, class), file order inside (a stable sort), then each group's sort
        group_key = image[rows] * width + labels[rows]
        by_group = np.argsort(group_key, kind="stable")
        rows, kept_masks, group_key = rows[by_group], kept_masks[by_group], group_key[by_group]
        starts = np.flatnonzero(np.r_[True, group_key[1:] != group_key[:-1]]) \
            if len(rows) else np.zeros(0, dtype=np.int64)
        ends = np.r_[starts[1:], len(rows)].astype(np.int64)
        s = scores[rows]
        cap = params.max_detections
        sizes = np.minimum(ends - starts, cap)
        pick = np.arange(len(rows))[np.repeat(starts, sizes) + np.arange(int(sizes.sum()))
                                    - np.repeat(np.cumsum(sizes) - sizes, sizes)]
        at = 0
        for start, end, size in zip(starts.tolist(), ends.tolist(), sizes.tolist()):
            if end - start > 1:  # the reference's sort of the group's scores, capped
                pick[at:at + size] = start + np.argsort(s[start:end])[::-1][:cap]
            at += size
        self.rank = np.arange(len(pick)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows = rows[pick]
        self.image, self.cls = image[rows], labels[rows]
        self.key = self.image * width + self.cls
        self.boxes, self.scores = boxes[rows], scores[rows]
        self.masks = list(kept_masks[pick]) if masks is not None else None
        self.width = width


class _GTInstances:
    """All GT instances, in (image, class) groups of file order: ``key`` (image x width +
    class), ``boxes``, ``group_of``, ``masks`` (None: box-only) and ``has_mask``."""

    def __init__(self, gt: OpenImagesGT, images: list[str], params: OIParams):
        width = len(gt.classes) + 1
        imgs = [gt.images[k] for k in images]
        sizes = np.asarray([len(g.labels) for g in imgs], dtype=np.int64)
        labels = np.concatenate([g.labels for g in imgs]) if imgs else np.zeros(0, np.int64)
        key = np.repeat(np.arange(len(imgs), dtype=np.int64), sizes) * width + labels
        order = np.argsort(key, kind="stable")
        self.key = key[order]
        boxes = np.concatenate([g.boxes for g in imgs]) if imgs else np.zeros((0, 4))
        group_of = np.concatenate([g.group_of for g in imgs]) if imgs else np.zeros(0, bool)
        self.boxes, self.group_of = boxes[order], group_of[order].astype(bool)
        self.masks = None
        if params.masks:
            masks = [m for g in imgs for m in (g.masks or [None] * len(g.labels))]
            self.masks = [masks[i] for i in order]
            self.has_mask = np.array([m is not None for m in self.masks], dtype=bool)

    def subset(self, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(key, index) of the instances ``sel`` (bool), in group order."""
        idx = np.flatnonzero(sel)
        return self.key[idx], idx


def _pairs(det_key: np.ndarray, gt_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(detection, position in ``gt_key``) of every detection with every GT of its group
    (``gt_key`` sorted), by detection then GT order."""
    lo = np.searchsorted(gt_key, det_key, "left")
    n = np.searchsorted(gt_key, det_key, "right") - lo
    d = np.repeat(np.arange(len(det_key)), n)
    g = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
    return d, g


def _best(d: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per detection with pairs: (detection, best value, pair of the first maximum), as
    ``argmax`` over its row picks it (a NaN row: value NaN, which no threshold passes)."""
    if not len(d):
        return d, values[:0], d
    starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    top = np.maximum.reduceat(values, starts)
    lengths = np.diff(np.r_[starts, len(d)])
    at = np.where(values == np.repeat(top, lengths), np.arange(len(d)), len(d))
    first = np.minimum(np.minimum.reduceat(at, starts), len(d) - 1)
    return d[starts], top, first


class _Flags(_State):
    """:class:`_State` for all groups at once (detections indexed as in :class:`_Detections`),
    its matching steps on (detection, GT) pairs instead of one group's overlap matrix."""

    def match_iou(self, d, g, values, box_only: bool) -> None:  # type: ignore[override]
        det, top, first = _best(d, values)
        eligible = ~self.tp[det] & ~self.group[det] & (top >= self.threshold)
        _, once = np.unique(g[first][eligible], return_index=True)
        winners = det[eligible][once]  # first (highest-scored) eligible detection of each GT
        self.tp[winners] = True
        if box_only:
            self.box_only[winners] = True

    def match_ioa(self, d, g, values, scores: np.ndarray, n_gt: int,  # type: ignore[override]
                  box_only: bool) -> np.ndarray:
        det, top, first = _best(d, values)
        hit = ~self.tp[det] & ~self.group[det] & (top >= self.threshold)
        self.group[det[hit]] = True
        if box_only:
            self.box_only[det[hit]] = True
        group_scores = np.zeros(n_gt, dtype=float)
        np.maximum.at(group_scores, g[first][hit], scores[det[hit]])
        return group_scores


def _pair_overlap(dets: _Detections, gts: _GTInstances, d, g, *, ioa: bool,
                  masks: "_MaskOverlaps | None" = None) -> np.ndarray:
    """Overlap of each (detection, GT instance) pair: :func:`box_iou` / :func:`box_ioa`
    element by element, or the masks' (``masks``: IoA for group-of GTs, as the steps use them)."""
    if masks is not None:
        return masks.values(d, g)
    a, b = dets.boxes[d], gts.boxes[g]
    inter = (np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]))
             * np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])))
    area = box_area(a)
    with np.errstate(divide="ignore", invalid="ignore"):   # as box_iou / box_ioa
        return inter / area if ioa else inter / (area + box_area(b) - inter)


class _MaskOverlaps:
    """:func:`mask_overlap` of every detection with every GT mask of its class in its image
    (IoU, IoA for a group-of GT), one pycocotools call per image over the detections and GT
    masks of the classes both have: it computes each pair on its own, so the values are those
    of the per-class calls."""

    def __init__(self, dets: _Detections, gts: _GTInstances):
        from pycocotools import mask as mask_utils

        width = dets.width
        with_mask = np.flatnonzero(gts.has_mask & np.isin(gts.key, dets.key))
        rows = np.flatnonzero(np.isin(dets.key, gts.key[with_mask]))
        gt_image, det_image = gts.key[with_mask] // width, dets.image[rows]
        images = np.unique(det_image)  # each also has GT masks
        d_lo = np.searchsorted(det_image, images, "left")
        d_hi = np.searchsorted(det_image, images, "right")
        g_lo = np.searchsorted(gt_image, images, "left")
        g_hi = np.searchsorted(gt_image, images, "right")
        # pair (detection, GT) -> flat[offset of the image + row x columns + column]
        self.offset = np.zeros(int(images.max(initial=-1)) + 1, dtype=np.int64)
        self.columns = np.zeros(len(self.offset), dtype=np.int64)
        cells = (d_hi - d_lo) * (g_hi - g_lo)
        self.offset[images], self.columns[images] = np.cumsum(cells) - cells, g_hi - g_lo
        self.row = np.zeros(len(dets.key), dtype=np.int64)
        self.row[rows] = np.arange(len(rows)) - np.searchsorted(det_image, det_image, "left")
        self.column = np.zeros(len(gts.key), dtype=np.int64)
        self.column[with_mask] = np.arange(len(with_mask)) - np.searchsorted(gt_image, gt_image,
                                                                             "left")
        crowd = gts.group_of.astype(np.uint8)
        parts = []
        for dl, dh, gl, gh in zip(d_lo.tolist(), d_hi.tolist(), g_lo.tolist(), g_hi.tolist()):
            cols = with_mask[gl:gh]
            values = mask_utils.iou([dets.masks[r] for r in rows[dl:dh]],
                                    [gts.masks[c] for c in cols], crowd[cols].tolist())
            parts.append(np.asarray(values, dtype=np.float64).reshape(-1))
        self.flat = np.concatenate(parts) if parts else np.zeros(0)
        self.image = dets.image

    def values(self, d: np.ndarray, g: np.ndarray) -> np.ndarray:
        img = self.image[d]
        return self.flat[self.offset[img] + self.row[d] * self.columns[img]
                         + self.column[g]].astype(np.float32)


def _match_all(dets: _Detections, gts: _GTInstances, p: OIParams):
    """:func:`_match_class` of every group: entries as (class, image, score, order in the
    group, TP label) arrays."""
    n = len(dets.scores)
    flags = _Flags(n, p.iou_threshold)
    weight = p.group_of_weight
    steps = []  # (GT instances, ioa, mask overlap, box-only, group-of entries)
    if p.masks:
        steps = [(gts.has_mask & ~gts.group_of, False, True, False, False),
                 (gts.has_mask & gts.group_of, True, True, False, True),
                 (~gts.has_mask & ~gts.group_of, False, False, True, False),
                 (~gts.has_mask & gts.group_of, True, False, True, False)]
    else:
        steps = [(~gts.group_of, False, False, False, False),
                 (gts.group_of, True, False, False, True)]
    group_scores = np.zeros(0)
    group_at = np.zeros(0, dtype=np.int64)
    mask_values = _MaskOverlaps(dets, gts) if p.masks else None
    for sel, ioa, masks, box_only, entries in steps:
        key, idx = gts.subset(sel)
        d, pos = _pairs(dets.key, key)
        values = _pair_overlap(dets, gts, d, idx[pos], ioa=ioa,
                               masks=mask_values if masks else None)
        if not ioa:
            flags.match_iou(d, pos, values, box_only)
            continue
        scores = flags.match_ioa(d, pos, values, dets.scores, len(key), box_only)
        if entries:
            hit = scores > 0 if weight > 0 else np.zeros(len(key), dtype=bool)
            group_scores, group_at = scores[hit], idx[hit]
    keep = ~flags.group & ~flags.box_only
    width = dets.width
    g_key = gts.key[group_at]
    g_order = n + np.arange(len(group_at))  # after every detection of its group
    return (np.concatenate((dets.cls[keep], g_key % width)),
            np.concatenate((dets.image[keep], g_key // width)),
            np.concatenate((dets.scores[keep], group_scores)),
            np.concatenate((dets.rank[keep], g_order)),
            np.concatenate((flags.tp[keep].astype(float), np.full(len(group_scores), weight))))


def oid_finalize(state: OIState) -> OpenImagesResult:
    """APs and mAP of a state (:func:`finalize` on its entries)."""
    n = len(state.classes)
    bounds = np.searchsorted(state.cls, np.arange(n + 1))
    pooled = [([state.score[bounds[c]:bounds[c + 1]]], [state.label[bounds[c]:bounds[c + 1]]])
              if bounds[c + 1] > bounds[c] else ([], []) for c in range(n)]
    counts = dict(zip(state.counts_keys.tolist(), state.counts_values.tolist()))
    return finalize(state.classes.tolist(), pooled, state.num_gt, state.params, counts)


def oid_pool(states: "list[OIState]") -> OpenImagesResult:
    """One evaluation over the union of disjoint sets (same classes and settings): equals
    ``evaluate`` on the merged ground truth and predictions."""
    if not states:
        raise UserError("nothing to pool: no Open Images states")
    first = states[0]
    for k, s in enumerate(states[1:], start=1):
        if s.classes.tolist() != first.classes.tolist():
            raise UserError(f"cannot pool Open Images sets with different classes (set {k})")
        if s.params != first.params:
            raise UserError(f"cannot pool Open Images sets evaluated with different settings "
                            f"(set {k}: {s.params} vs {first.params})")
    images = np.concatenate([s.images for s in states])
    union, inverse = np.unique(images, return_inverse=True)
    if len(union) < len(images):
        raise UserError("cannot pool Open Images sets that share images (pool disjoint sets)")
    offsets = np.cumsum([0] + [len(s.images) for s in states])
    image = np.concatenate([inverse[s.image + off] for s, off in zip(states, offsets)])
    cls = np.concatenate([s.cls for s in states])
    order = np.lexsort((image, cls))  # per class, images in sorted key order (one run's order)
    counts: dict[str, int] = {}
    for s in states:
        for key, value in zip(s.counts_keys.tolist(), s.counts_values.tolist()):
            counts[key] = counts.get(key, 0) + value
    pooled = OIState(
        classes=first.classes, images=union, num_gt=np.sum([s.num_gt for s in states], axis=0),
        cls=cls[order], image=image[order],
        score=np.concatenate([s.score for s in states])[order],
        label=np.concatenate([s.label for s in states])[order],
        counts_keys=np.asarray(list(counts), dtype=str),
        counts_values=np.asarray(list(counts.values()), dtype=np.int64),
        iou_threshold=first.iou_threshold, group_of_weight=first.group_of_weight,
        masks=first.masks, max_detections=first.max_detections, min_score=first.min_score)
    return oid_finalize(pooled)
