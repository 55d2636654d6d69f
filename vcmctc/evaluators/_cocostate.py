"""Per-sequence COCO evaluation records and their accumulation, as pycocotools computes them.

``COCOeval.evaluate`` produces one record per (category, area range, image): the image's
detections of that category (best ``maxDets[-1]`` by score, stable order), whether each one is
matched at each IoU threshold and whether it is ignored, and the ignore flags of the GT.
``COCOeval.accumulate`` concatenates the records of all images in image order, sorts them by
score (stable) and reads precision/recall from cumulative sums. Only four things enter it:
each detection's score, its matched and ignored flags per (area range, IoU threshold), its rank
within its (image, category) (for the ``maxDets`` cut) and, per (category, area range), the
number of GT that are not ignored. Those are what :class:`CocoState` keeps; a pooled class row
is then the concatenation of its sequences' states (image order = sequence order, as when image
ids are offset per sequence), and accumulation runs once over the concatenation.

Three ways fill a state:

* :func:`records_from_cocoeval` reads them off a pycocotools ``COCOeval`` after ``evaluate()``
  (the reference; exact by construction);
* :func:`bbox_records`: boxes, without pycocotools, vectorised over all images: pycocotools'
  box IoU (``maskApi.c`` ``bbIou``) with the same floating-point operations, and the greedy
  matching of ``evaluateImg`` run for every (area range, IoU threshold, image) at once;
* :func:`records_from_ious`: the same matching on IoU / OKS matrices computed by pycocotools'
  own ``computeIoU`` / ``computeOks`` (segm, keypoints).

:func:`accumulate` is ``COCOeval.accumulate`` over a state with the same operations on the same
arrays (hence the same precision/recall bits); the summary statistics are then computed by
pycocotools' own ``summarize``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

import numpy as np

from vcmctc.errors import UserError

STATE_FORMAT = 1

# pycocotools' Params (cocoeval.py), per IoU type: areaRng, maxDets. iouThrs / recThrs are the
# same for all types and are taken from pycocotools itself when accumulating.
_AREA_RANGES = {
    "bbox": ((0.0, 1e10), (0.0, 1024.0), (1024.0, 9216.0), (9216.0, 1e10)),
    "segm": ((0.0, 1e10), (0.0, 1024.0), (1024.0, 9216.0), (9216.0, 1e10)),
    "keypoints": ((0.0, 1e10), (1024.0, 9216.0), (9216.0, 1e10)),
}
_MAX_DETS = {"bbox": (1, 10, 100), "segm": (1, 10, 100), "keypoints": (20,)}
_N_THRESHOLDS = 10


def iou_thresholds() -> np.ndarray:
    # the expression of pycocotools' Params (linspace, not arange: see its comment)
    return np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)


def area_ranges(iou_type: str) -> np.ndarray:
    return np.asarray(_AREA_RANGES[iou_type], dtype=np.float64)


def max_dets(iou_type: str) -> tuple[int, ...]:
    return _MAX_DETS[iou_type]


@dataclass(frozen=True, eq=False)
class CocoState:
    """What a pooled COCO evaluation needs from one sequence (see the module docstring).

    Detection records are ordered by (category id, image, rank), as ``accumulate`` concatenates
    them. ``matched`` / ``ignored`` are ``(N, A, T)`` (area ranges of the IoU type, 10 IoU
    thresholds). ``npig`` is ``(K, A)``: GT not ignored per category and area range.
    """

    iou_type: str
    category_ids: np.ndarray     # (K,) int64, sorted: COCOeval's catIds
    category_names: np.ndarray   # (K,) str ('' when the category has no name)
    category_named: np.ndarray   # (K,) bool
    num_images: int
    npig: np.ndarray             # (K, A) int64
    cat: np.ndarray              # (N,) int64 category id
    image: np.ndarray            # (N,) int64 image index (images in ascending id order)
    rank: np.ndarray             # (N,) int64 rank by score within (image, category)
    score: np.ndarray            # (N,) float64
    matched: np.ndarray          # (N, A, T) bool: dtMatches != 0
    ignored: np.ndarray          # (N, A, T) bool: dtIgnore
    # which branch of pycocotools' loadRes built the detections' areas: 'bbox' (box area),
    # 'segm' (mask area), 'keypoints' (keypoint extent), '' (no detections). A pooled run uses
    # the branch of its first detection for every sequence, so states of different branches
    # cannot be pooled.
    loadres_branch: str = ""
    # detections whose category is not a GT category: COCOeval leaves them out of this
    # sequence, but a pooled run would count them where another sequence has the category
    dropped_categories: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self):
        if self.iou_type not in _AREA_RANGES:
            raise UserError(f"unknown IoU type {self.iou_type!r}")
        a, t = len(_AREA_RANGES[self.iou_type]), _N_THRESHOLDS
        n, k = len(self.score), len(self.category_ids)
        shapes = {"category_names": (k,), "category_named": (k,), "npig": (k, a), "cat": (n,),
                  "image": (n,), "rank": (n,), "matched": (n, a, t), "ignored": (n, a, t)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise UserError(f"COCO state: {name} has shape {getattr(self, name).shape}, "
                                f"expected {shape}")

    @property
    def num_detections(self) -> int:
        return len(self.score)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays (no object dtype), e.g. for ``np.savez`` / ``allow_pickle=False``."""
        out = {"format": np.asarray(STATE_FORMAT)}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = np.asarray(value) if not isinstance(value, np.ndarray) else value
        # booleans (N, A, T) are by far the largest part: store them packed
        for name in ("matched", "ignored"):
            out[name] = np.packbits(out[name], axis=None)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "CocoState":
        try:
            if int(arrays["format"]) != STATE_FORMAT:
                raise UserError(f"COCO state format {int(arrays['format'])} is not "
                                f"{STATE_FORMAT} (written by another vcmctc version)")
            iou_type = str(arrays["iou_type"])
            values: dict[str, Any] = {f.name: arrays[f.name] for f in fields(cls)}
        except KeyError as exc:
            raise UserError(f"COCO state: missing array {exc.args[0]!r}") from None
        values["iou_type"] = iou_type
        values["num_images"] = int(values["num_images"])
        values["loadres_branch"] = str(values["loadres_branch"])
        n = len(values["score"])
        shape = (n, len(_AREA_RANGES.get(iou_type, ())), _N_THRESHOLDS)
        for name in ("matched", "ignored"):
            bits = np.unpackbits(np.asarray(values[name], dtype=np.uint8),
                                 count=int(np.prod(shape)))
            values[name] = bits.reshape(shape).astype(bool)
        for name in ("category_ids", "npig", "cat", "image", "rank", "dropped_categories"):
            values[name] = np.asarray(values[name], dtype=np.int64)
        values["category_names"] = np.asarray(values["category_names"], dtype=str)
        values["category_named"] = np.asarray(values["category_named"], dtype=bool)
        values["score"] = np.asarray(values["score"], dtype=np.float64)
        return cls(**values)


# --------------------------------------------------------------------------------------------
# matching (COCOeval.evaluateImg, vectorised)


@dataclass
class _Side:
    """Detections or GT of one sequence, grouped by (category, image)."""

    group: np.ndarray   # category index * n_images + image index, non-decreasing
    area: np.ndarray    # float64


def _greedy_match(iou_type: str, dets: _Side, det_rank: np.ndarray, gts: _Side,
                  gt_ignore: np.ndarray, gt_crowd: np.ndarray, pair_det: np.ndarray,
                  pair_gt: np.ndarray, pair_iou: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``evaluateImg``'s matching for every (area range, IoU threshold) and (image, category).

    ``pair_*``: the (detection, GT) pairs of the same (image, category) whose IoU reaches the
    lowest threshold (others can never match). Per threshold, detections in rank order (all
    groups advance together: a GT belongs to one group, so groups never interact) take, among
    the GT still free (crowd GT stay free), the one of highest IoU >= threshold that is not
    ignored, else the ignored one of highest IoU >= threshold; equal IoUs go to the GT that comes
    last in ``evaluateImg``'s GT order (not-ignored first, then file order), because its scan
    replaces the best match on ``>=``. Returns ``matched``, ``ignored`` (N, A, T).
    """
    ranges = area_ranges(iou_type)
    thresholds = np.minimum(iou_thresholds(), 1 - 1e-10)
    n_a, n_t = len(ranges), len(thresholds)
    n_det = len(dets.group)
    gt_ig = (gt_ignore[None, :] | (gts.area[None, :] < ranges[:, :1])
             | (gts.area[None, :] > ranges[:, 1:]))                            # (A, G)
    det_out = (dets.area[None, :] < ranges[:, :1]) | (dets.area[None, :] > ranges[:, 1:])
    matched = np.zeros((n_a, n_t, n_det), dtype=bool)
    ignored = np.repeat(det_out[:, None, :], n_t, axis=1)                      # unmatched: area
    free = np.ones((n_a, n_t, len(gts.group)), dtype=bool)
    if len(pair_det):
        # pairs by detection rank, detection, then preference: higher IoU, later GT
        order = np.lexsort((-pair_gt, -pair_iou, pair_det, det_rank[pair_det]))
        p_det, p_gt, p_iou = pair_det[order], pair_gt[order], pair_iou[order]
        p_rank = det_rank[p_det]
        cuts = np.flatnonzero(np.diff(p_rank)) + 1
        for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(p_det)].tolist()):
            d, j, v = p_det[lo:hi], p_gt[lo:hi], p_iou[lo:hi]
            starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
            pos = np.arange(hi - lo) - np.repeat(starts, np.diff(np.r_[starts, hi - lo]))
            width = int(pos.max()) + 1
            # 2: free, not ignored; 1: free, ignored; 0: taken or below the threshold
            ok = (v[None, None, :] >= thresholds[None, :, None]) & free[:, :, j]
            key = ok * np.where(gt_ig[:, j], 1, 2)[:, None, :]
            best = np.maximum.reduceat(key * (width + 1) + (width - pos), starts, axis=2)
            hit_a, hit_t, hit_s = np.nonzero(best >= width + 1)
            chosen = starts[hit_s] + width - best[hit_a, hit_t, hit_s] % (width + 1)
            det, gt = d[chosen], j[chosen]
            matched[hit_a, hit_t, det] = True
            ignored[hit_a, hit_t, det] = gt_ig[hit_a, gt]
            keep = ~gt_crowd[gt]
            free[hit_a[keep], hit_t[keep], gt[keep]] = False
    return matched.transpose(2, 0, 1).copy(), ignored.transpose(2, 0, 1).copy()


def _npig(iou_type: str, gts: _Side, gt_ignore: np.ndarray, cat_index: np.ndarray,
          n_cats: int) -> np.ndarray:
    ranges = area_ranges(iou_type)
    counted = ~(gt_ignore[None, :] | (gts.area[None, :] < ranges[:, :1])
                | (gts.area[None, :] > ranges[:, 1:]))
    return np.stack([np.bincount(cat_index[c], minlength=n_cats) for c in counted],
                    axis=1).astype(np.int64).reshape(n_cats, len(ranges))


def _categories(gt: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    by_id: dict[int, dict] = {}
    for c in gt["categories"]:
        by_id.setdefault(c["id"], c)  # COCO's index keeps one entry per id
    ids = np.asarray(sorted(by_id), dtype=np.int64)
    names = [by_id[int(i)].get("name") for i in ids]
    return (ids, np.asarray(["" if n is None else str(n) for n in names], dtype=str),
            np.asarray([n is not None for n in names], dtype=bool))


def _index(values: np.ndarray, sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in ``sorted_ids`` and whether it is there."""
    pos = np.searchsorted(sorted_ids, values)
    pos_c = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    found = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == values) if len(sorted_ids) else \
        np.zeros(len(values), dtype=bool)
    return pos_c, found


def _ids(entries: Sequence[Mapping], key: str) -> np.ndarray:
    return np.fromiter((e[key] for e in entries), dtype=np.int64, count=len(entries))


def _finish(iou_type, cat_ids, cat_names, cat_named, n_images, dets, det_cat_index, det_image,
            det_rank, det_score, matched, ignored, npig, branch, dropped) -> CocoState:
    return CocoState(iou_type=iou_type, category_ids=cat_ids, category_names=cat_names,
                     category_named=cat_named, num_images=n_images, npig=npig,
                     cat=cat_ids[det_cat_index] if len(cat_ids) else det_cat_index,
                     image=det_image, rank=det_rank, score=det_score, matched=matched,
                     ignored=ignored, loadres_branch=branch, dropped_categories=dropped)


def bbox_records(gt: Mapping, dets: Sequence[Mapping]) -> CocoState:
    """The state of a box evaluation, computed without pycocotools (module docstring)."""
    img_ids = np.unique(_ids(gt["images"], "id"))
    cat_ids, cat_names, cat_named = _categories(gt)
    n_img = len(img_ids)

    anns = gt["annotations"]
    g_img, g_in_img = _index(_ids(anns, "image_id"), img_ids)
    g_cat, g_in_cat = _index(_ids(anns, "category_id"), cat_ids)
    keep = np.flatnonzero(g_in_img & g_in_cat)       # COCOeval's getAnnIds(imgIds, catIds)
    g_key = (g_cat * n_img + g_img)[keep]
    g_order = keep[np.argsort(g_key, kind="stable")]  # file order within (category, image)
    g_box = np.asarray([anns[i]["bbox"] for i in g_order.tolist()],
                       dtype=np.float64).reshape(-1, 4)
    g_area = np.asarray([anns[i]["area"] for i in g_order.tolist()], dtype=np.float64)
    g_crowd = np.asarray([bool(anns[i]["iscrowd"]) for i in g_order.tolist()], dtype=bool)
    gts = _Side((g_cat * n_img + g_img)[g_order], g_area)

    d_img, d_in_img = _index(_ids(dets, "image_id"), img_ids)
    if not d_in_img.all():
        i = int(np.flatnonzero(~d_in_img)[0])
        raise UserError(f"image_id {dets[i]['image_id']!r} is not a ground-truth image",
                        where=f"results[{i}]")
    raw_cat = _ids(dets, "category_id")
    d_cat, d_in_cat = _index(raw_cat, cat_ids)
    dropped = np.unique(raw_cat[~d_in_cat])
    use = np.flatnonzero(d_in_cat)
    score = np.fromiter((dets[i]["score"] for i in use.tolist()), dtype=np.float64,
                        count=len(use))
    key = d_cat[use] * n_img + d_img[use]
    order = np.lexsort((-score, key))  # score descending, file order on ties (mergesort)
    key, score, src = key[order], score[order], use[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, int)
    rank = np.arange(len(key)) - np.repeat(starts, np.diff(np.r_[starts, len(key)]))
    top = rank < max_dets("bbox")[-1]
    key, score, src, rank = key[top], score[top], src[top], rank[top]
    d_box = np.asarray([dets[i]["bbox"] for i in src.tolist()], dtype=np.float64).reshape(-1, 4)
    # loadRes' box branch: area = w * h
    det_side = _Side(key, d_box[:, 2] * d_box[:, 3])

    # candidate pairs: same (category, image)
    lo = np.searchsorted(gts.group, key, "left")
    hi = np.searchsorted(gts.group, key, "right")
    n_pairs = hi - lo
    pair_det = np.repeat(np.arange(len(key)), n_pairs)
    pair_gt = (np.arange(n_pairs.sum()) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
               + np.repeat(lo, n_pairs))
    iou = box_iou_pairs(d_box[pair_det], g_box[pair_gt], g_crowd[pair_gt])
    near = iou >= iou_thresholds()[0]
    matched, ignored = _greedy_match("bbox", det_side, rank, gts, g_crowd, g_crowd,
                                     pair_det[near], pair_gt[near], iou[near])
    npig = _npig("bbox", gts, g_crowd, (g_cat[g_order] if len(g_order) else
                                        np.zeros(0, np.int64)), len(cat_ids))
    branch = loadres_branch(dets)
    return _finish("bbox", cat_ids, cat_names, cat_named, n_img, det_side, key // max(n_img, 1),
                   key % max(n_img, 1), rank.astype(np.int64), score, matched, ignored, npig,
                   branch, dropped)


def box_iou_pairs(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """pycocotools' box IoU (maskApi.c ``bbIou``) of pairs of ``x, y, w, h`` rows, with its
    operations in its order: the same IEEE doubles (a crowd GT divides by the detection's area)."""
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(d[:, 1], g[:, 1])
    inter = w * h
    da = d[:, 2] * d[:, 3]
    union = np.where(crowd, da, (da + g[:, 2] * g[:, 3]) - inter)
    out = np.zeros(len(d))
    ok = (w > 0) & (h > 0)
    np.divide(inter, union, out=out, where=ok)
    return out


# --------------------------------------------------------------------------------------------
# through pycocotools' own objects (reference, and segm / keypoints IoU)


def _setup(ev) -> None:
    """What ``COCOeval.evaluate`` does before computing IoUs."""
    p = ev.params
    p.imgIds = list(np.unique(p.imgIds))
    if p.useCats:
        p.catIds = list(np.unique(p.catIds))
    p.maxDets = sorted(p.maxDets)
    ev.params = p
    ev._prepare()


def loadres_branch(dets: Sequence[Mapping]) -> str:
    """The branch of pycocotools' ``loadRes`` that its first result selects ('' if none)."""
    if not dets:
        return ""
    first = dets[0]
    # mirrors the order of loadRes' tests on the first entry
    if "bbox" in first and not (isinstance(first["bbox"], list) and first["bbox"] == []):
        return "bbox"
    return "segm" if "segmentation" in first else "keypoints"


def records_from_cocoeval(ev, gt: Mapping, branch: str, dropped: np.ndarray) -> CocoState:
    """The state read off a pycocotools ``COCOeval`` after ``evaluate()`` (exact by
    construction): ``evalImgs`` in its (category, area range, image) layout."""
    p = ev.params
    iou_type = p.iouType
    cat_ids, cat_names, cat_named = _categories(gt)
    if [int(c) for c in p.catIds] != cat_ids.tolist():
        raise AssertionError("COCOeval categories differ from the ground truth's")
    n_a, n_i = len(p.areaRng), len(p.imgIds)
    npig = np.zeros((len(cat_ids), n_a), dtype=np.int64)
    parts: dict[str, list] = {k: [] for k in ("cat", "image", "rank", "score", "m", "ig")}
    for k in range(len(cat_ids)):
        for i in range(n_i):
            recs = [ev.evalImgs[(k * n_a + a) * n_i + i] for a in range(n_a)]
            if recs[0] is None:
                continue
            for a, e in enumerate(recs):
                npig[k, a] += int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
            n = len(recs[0]["dtScores"])
            if not n:
                continue
            parts["cat"].append(np.full(n, cat_ids[k]))
            parts["image"].append(np.full(n, i))
            parts["rank"].append(np.arange(n))
            parts["score"].append(np.asarray(recs[0]["dtScores"], dtype=np.float64))
            parts["m"].append(np.stack([np.asarray(e["dtMatches"]).T != 0 for e in recs], 1))
            parts["ig"].append(np.stack([np.asarray(e["dtIgnore"]).T.astype(bool)
                                         for e in recs], 1))
    empty = {"cat": np.zeros(0, np.int64), "image": np.zeros(0, np.int64),
             "rank": np.zeros(0, np.int64), "score": np.zeros(0),
             "m": np.zeros((0, n_a, _N_THRESHOLDS), bool),
             "ig": np.zeros((0, n_a, _N_THRESHOLDS), bool)}
    arr = {k: (np.concatenate(v) if v else empty[k]) for k, v in parts.items()}
    return CocoState(iou_type=iou_type, category_ids=cat_ids, category_names=cat_names,
                     category_named=cat_named, num_images=n_i, npig=npig,
                     cat=arr["cat"].astype(np.int64), image=arr["image"].astype(np.int64),
                     rank=arr["rank"].astype(np.int64), score=arr["score"],
                     matched=arr["m"], ignored=arr["ig"],
                     loadres_branch=branch, dropped_categories=dropped)


def records_from_ious(ev, gt: Mapping, branch: str, dropped: np.ndarray) -> CocoState:
    """The state of a prepared ``COCOeval`` (after :func:`_setup`): IoU / OKS from pycocotools'
    ``computeIoU`` / ``computeOks``, matching by :func:`_greedy_match`."""
    p = ev.params
    iou_type = p.iouType
    compute = ev.computeOks if iou_type == "keypoints" else ev.computeIoU
    cat_ids, cat_names, cat_named = _categories(gt)
    img_ids = p.imgIds
    n_img = len(img_ids)
    top = p.maxDets[-1]
    g_group, g_area, g_ignore, g_crowd, g_cat = [], [], [], [], []
    d_group, d_area, d_score, d_rank = [], [], [], []
    pairs_d, pairs_g, pairs_v = [], [], []
    for k, cat in enumerate(p.catIds):
        for i, img in enumerate(img_ids):
            g_list, d_list = ev._gts[img, cat], ev._dts[img, cat]
            if not g_list and not d_list:
                continue
            group = k * n_img + i
            g0, d0 = len(g_group), len(d_group)
            for g in g_list:
                g_group.append(group)
                g_area.append(g["area"])
                g_ignore.append(bool(g["ignore"]))
                g_crowd.append(bool(int(g["iscrowd"])))
                g_cat.append(k)
            order = np.argsort([-d["score"] for d in d_list], kind="mergesort")[:top]
            for r, j in enumerate(order.tolist()):
                d_group.append(group)
                d_area.append(d_list[j]["area"])
                d_score.append(d_list[j]["score"])
                d_rank.append(r)
            ious = compute(img, cat)
            if len(ious):
                ii, jj = np.nonzero(np.asarray(ious) >= iou_thresholds()[0])
                pairs_d.append(d0 + ii)
                pairs_g.append(g0 + jj)
                pairs_v.append(np.asarray(ious)[ii, jj])
    gts = _Side(np.asarray(g_group, np.int64), np.asarray(g_area, np.float64))
    det_side = _Side(np.asarray(d_group, np.int64), np.asarray(d_area, np.float64))
    rank = np.asarray(d_rank, np.int64)
    cat_pairs = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    matched, ignored = _greedy_match(iou_type, det_side, rank, gts,
                                     np.asarray(g_ignore, bool), np.asarray(g_crowd, bool),
                                     cat_pairs(pairs_d, np.int64), cat_pairs(pairs_g, np.int64),
                                     cat_pairs(pairs_v, np.float64))
    npig = _npig(iou_type, gts, np.asarray(g_ignore, bool), np.asarray(g_cat, np.int64),
                 len(cat_ids))
    return _finish(iou_type, cat_ids, cat_names, cat_named, n_img, det_side,
                   det_side.group // max(n_img, 1), det_side.group % max(n_img, 1), rank,
                   np.asarray(d_score, np.float64), matched, ignored, npig, branch, dropped)


# --------------------------------------------------------------------------------------------
# accumulation (COCOeval.accumulate) and pooling


def concatenate(states: Sequence[CocoState]) -> CocoState:
    """States of several sequences as one: what a pooled evaluation over them would record.

    Pooled images are the sequences' images in sequence order, so (category, image, rank)
    order is the sequences' records stably sorted by category. Categories are the union (ids
    sorted); one id named differently in two sequences is an error, as is a detection dropped
    from one sequence for a category another sequence has (a pooled run would count it), and
    sequences whose detections took different branches of pycocotools' ``loadRes``.
    """
    if not states:
        raise UserError("nothing to pool: no sequences")
    iou_type = states[0].iou_type
    names: dict[int, tuple[str, bool]] = {}
    for k, s in enumerate(states):
        if s.iou_type != iou_type:
            raise UserError(f"cannot pool a {s.iou_type} state with {iou_type} states "
                            f"(sequence {k})")
        for cid, name, named in zip(s.category_ids.tolist(), s.category_names.tolist(),
                                    s.category_named.tolist()):
            known = names.setdefault(cid, (name, named))
            if known != (name, named):
                raise UserError(f"category {cid} is named {known[0] if known[1] else None!r} "
                                f"in one sequence and {name if named else None!r} in "
                                f"sequence {k}")
    cat_ids = np.asarray(sorted(names), dtype=np.int64)
    branches = {s.loadres_branch for s in states} - {""}
    if len(branches) > 1:
        raise UserError("cannot pool: the sequences' results differ in kind (some with a "
                        "'bbox', some without), which changes how pycocotools computes their "
                        "areas in one pooled run")
    for k, s in enumerate(states):
        lost = np.intersect1d(s.dropped_categories, cat_ids)
        if lost.size:
            raise UserError(f"cannot pool: sequence {k} has results of category "
                            f"{int(lost[0])}, which is not among its ground-truth categories "
                            "but is among another sequence's")
    offsets = np.cumsum([0] + [s.num_images for s in states])
    cat = np.concatenate([s.cat for s in states])
    order = np.argsort(cat, kind="stable")
    npig = np.zeros((len(cat_ids), states[0].npig.shape[1]), dtype=np.int64)
    for s in states:
        npig[np.searchsorted(cat_ids, s.category_ids)] += s.npig
    pick = (lambda name: np.concatenate([getattr(s, name) for s in states])[order])
    return CocoState(
        iou_type=iou_type, category_ids=cat_ids,
        category_names=np.asarray([names[c][0] for c in cat_ids.tolist()], dtype=str),
        category_named=np.asarray([names[c][1] for c in cat_ids.tolist()], dtype=bool),
        num_images=int(offsets[-1]), npig=npig, cat=cat[order],
        image=np.concatenate([s.image + off for s, off in zip(states, offsets)])[order],
        rank=pick("rank"), score=pick("score"), matched=pick("matched"),
        ignored=pick("ignored"), loadres_branch=next(iter(branches), ""),
        dropped_categories=np.unique(np.concatenate([s.dropped_categories for s in states])))


def _recall_steps(tps: np.ndarray, npig: np.ndarray, rec_thresholds: np.ndarray) -> np.ndarray:
    """``np.searchsorted(rc, recThrs, side='left')`` of every (area range, threshold) column of
    ``tps`` (D, A', T) at once, where ``rc = cumsum(tps) / npig``, exactly.

    ``rc[i] = c_i / npig`` with ``c_i`` the running TP count; correctly rounded division is
    monotone, so ``rc[i] >= r`` iff ``c_i >= c*(r)``, the least count ``c`` with
    ``c / npig >= r`` (found by the same division on ``0..npig``). The first index reaching
    ``c* >= 1`` is the position of the column's ``c*``-th TP; ``c* = 0`` is index 0; a count
    never reached is ``D`` (past the end, as searchsorted)."""
    n_d, n_a, n_t = tps.shape
    out = np.empty((n_a, n_t, len(rec_thresholds)), dtype=np.int64)
    cols = tps.transpose(1, 2, 0).reshape(n_a * n_t, n_d)
    row, pos = np.nonzero(cols)                       # TP positions, column by column
    n_tp = np.bincount(row, minlength=n_a * n_t)
    first = np.r_[0, np.cumsum(n_tp)[:-1]]
    for a in range(n_a):
        counts = np.arange(int(npig[a]) + 1, dtype=float) / int(npig[a])
        need = np.searchsorted(counts, rec_thresholds, side="left")   # c*(r), (R,)
        rows = a * n_t + np.arange(n_t)
        reach = need[None, :] <= n_tp[rows][:, None]
        at = first[rows][:, None] + np.maximum(need[None, :] - 1, 0)
        idx = np.where(reach, pos[np.minimum(at, max(len(pos) - 1, 0))] if len(pos) else 0,
                       n_d)
        out[a] = np.where(need[None, :] == 0, 0, idx)
    return out


def accumulate(state: CocoState, rec_thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``COCOeval.accumulate``: precision ``(T, R, K, A, M)`` and recall ``(T, K, A, M)``,
    -1 where a (category, area range) has no GT that is not ignored."""
    n_t = _N_THRESHOLDS
    n_r = len(rec_thresholds)
    n_k, n_a = state.npig.shape
    m_list = max_dets(state.iou_type)
    precision = -np.ones((n_t, n_r, n_k, n_a, len(m_list)))
    recall = -np.ones((n_t, n_k, n_a, len(m_list)))
    # concatenated in (category, image, rank) order, then sorted by score (stable): the
    # category-major lexsort keeps each category's concatenation order on ties
    order = np.lexsort((-state.score, state.cat))
    cat_sorted = state.cat[order]
    k_of = np.searchsorted(state.category_ids, cat_sorted)
    bounds = np.searchsorted(k_of, np.arange(n_k + 1))
    eps = np.spacing(1)
    for k in range(n_k):
        counted = np.flatnonzero(state.npig[k] > 0)   # area ranges with GT: the others stay -1
        if not counted.size:
            continue
        npig = state.npig[k, counted]
        sel = order[bounds[k]:bounds[k + 1]]
        rank = state.rank[sel]
        for m, max_det in enumerate(m_list):
            keep = sel[rank < max_det]
            nd = len(keep)
            if not nd:
                recall[:, k, counted, m] = 0
                precision[:, :, k, counted, m] = 0
                continue
            # (D, A', T): each column is one (area range, threshold) of the reference's loop,
            # computed with its operations (elementwise, so batching columns changes no bit)
            dtm = state.matched[keep[:, None], counted[None, :], :]
            not_ig = ~state.ignored[keep[:, None], counted[None, :], :]
            tps = dtm & not_ig
            fps = ~dtm & not_ig
            # cumulative counts are exact integers in float64, as the reference's int cumsum
            tp_sum = np.cumsum(tps, axis=0, dtype=float)
            fp_sum = np.cumsum(fps, axis=0, dtype=float)
            rc = tp_sum / npig[None, :, None]
            pr = tp_sum / (fp_sum + tp_sum + eps)
            recall[:, k, counted, m] = rc[-1].T
            # the running maximum from the right is what the reference's loop computes
            pr = np.maximum.accumulate(pr[::-1], axis=0)[::-1]
            inds = _recall_steps(tps, npig, rec_thresholds)          # (A', T, R)
            valid = inds < nd
            a_i, t_i, _ = np.indices(inds.shape)
            q = np.where(valid, pr[np.minimum(inds, nd - 1), a_i, t_i], 0.0)
            precision[:, :, k, counted, m] = q.transpose(1, 2, 0)
    return precision, recall
