"""Synthetic Open Images challenge data (used by the property tests here, the reference
cross-check and ``benchmarks/bench_openimages.py``), and randomized property tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vcmctc.datasets.openimages import (
    encode_mask_string,
    load_ground_truth,
    load_predictions,
)
from vcmctc.evaluators.openimages import evaluate

BOX_HEADER = "ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf"
LABEL_HEADER = "ImageID,LabelName,Confidence"
MASK_HEADER = "ImageID,LabelName,ImageWidth,ImageHeight,XMin,YMin,XMax,YMax,IsGroupOf,Mask"
PRED_HEADER = "ImageID,LabelName,Score,XMin,XMax,YMin,YMax"
PRED_MASK_HEADER = "ImageID,ImageWidth,ImageHeight,LabelName,Score,Mask"


def _rect_mask(h, w, y0, x0, y1, x1):
    m = np.zeros((h, w), dtype=np.uint8)
    r0, c0 = int(y0 * h), int(x0 * w)
    m[r0:max(int(y1 * h), r0 + 1), c0:max(int(x1 * w), c0 + 1)] = 1
    return m


def make_dataset(seed: int, n_images: int = 40, n_classes: int = 5, *, masks: bool = False,
                 mask_size: tuple[int, int] = (24, 32), dets_per_gt: float = 2.0,
                 score_digits: int | None = None, extra_classes: int = 1,
                 mask_coord_digits: int | None = None,
                 fp_per_image: float = 2.0, gt_per_image: float | None = None,
                 pred_seed: int | None = None) -> dict[str, str]:
    """CSV texts of a random data set: GT boxes (some group-of), image labels (positive and
    negative, some for classes without boxes), predictions (jittered GT, duplicates, random FPs,
    detections of unverified and unknown classes, invalid boxes) and, with ``masks``, GT/pred
    masks (rectangles with holes; some GT boxes without a mask). ``mask_coord_digits`` rounds the
    coordinates of the mask rows (as in the MPEG masks CSV), so they no longer merge with the
    boxes. ``pred_seed`` draws other predictions for the same GT (another "rate point")."""
    rng = np.random.default_rng(seed)
    prng = np.random.default_rng([seed, 0 if pred_seed is None else pred_seed + 1])
    names = [f"class_{k}" for k in range(n_classes)]
    h, w = mask_size
    boxes, labels, mask_rows, preds = [BOX_HEADER], [LABEL_HEADER], [MASK_HEADER], []
    preds.append(PRED_MASK_HEADER if masks else PRED_HEADER)

    def jitter(b, s):
        y0, x0, y1, x1 = b + prng.normal(0, s, 4)
        return [float(np.clip(v, 0, 1)) for v in (y0, x0, y1, x1)]

    def fmt(v):
        return repr(float(v))

    for i in range(n_images):
        img = f"{rng.integers(0, 16 ** 12):012x}{i:04d}"
        n_gt = int(rng.integers(0, 5) if gt_per_image is None else rng.poisson(gt_per_image))
        gts = []
        for _ in range(n_gt):
            c = names[int(rng.integers(0, n_classes))]
            y0, x0 = rng.uniform(0, 0.7, 2)
            y1, x1 = y0 + rng.uniform(0.1, 0.3), x0 + rng.uniform(0.1, 0.3)
            grp = int(rng.random() < 0.2)
            gts.append((c, np.array([y0, x0, y1, x1]), grp))
            boxes.append(f"{img},{c},{fmt(x0)},{fmt(x1)},{fmt(y0)},{fmt(y1)},{grp}")
            if masks:
                if rng.random() < 0.85:  # some instances have no mask
                    m = _rect_mask(h, w, y0, x0, y1, x1)
                    if rng.random() < 0.5:
                        m[rng.integers(0, h, 20), rng.integers(0, w, 20)] = 0
                    mc = [x0, y0, x1, y1] if mask_coord_digits is None else \
                        [round(float(v), mask_coord_digits) for v in (x0, y0, x1, y1)]
                    mask_rows.append(f"{img},{c},{w},{h},{','.join(fmt(v) for v in mc)},"
                                     f"{grp},{encode_mask_string(m)}")
        gt_classes = {c for c, _, _ in gts}
        for c in names:
            r = rng.random()
            if c in gt_classes and r < 0.7:
                labels.append(f"{img},{c},1")
            elif c not in gt_classes and r < 0.4:
                labels.append(f"{img},{c},{int(rng.random() < 0.3)}")
        det_rows = []
        for c, b, _ in gts:
            for _ in range(int(prng.poisson(dets_per_gt))):
                det_rows.append((c, jitter(b, 0.05)))
        for _ in range(int(prng.poisson(fp_per_image))):
            c = names[int(prng.integers(0, n_classes))] if prng.random() < 0.9 else \
                f"extra_{int(prng.integers(0, extra_classes))}"
            y0, x0 = prng.uniform(0, 0.8, 2)
            dy, dx = prng.uniform(0.02, 0.2, 2)
            det_rows.append((c, [y0, x0, y0 + dy, x0 + dx]))
        if prng.random() < 0.1:
            det_rows.append((names[0], [0.5, 0.5, 0.4, 0.6]))  # invalid box
        for c, (y0, x0, y1, x1) in det_rows:
            score = float(prng.uniform(0.01, 1.0))
            if score_digits is not None:
                score = round(score, score_digits)
            if masks:
                m = _rect_mask(h, w, y0, x0, max(y1, y0 + 1e-3), max(x1, x0 + 1e-3))
                if prng.random() < 0.3:
                    m[prng.integers(0, h, 10), prng.integers(0, w, 10)] = 1
                enc = encode_mask_string(m) if prng.random() > 0.03 else ""
                preds.append(f"{img},{w},{h},{c},{fmt(score)},{enc}")
            else:
                preds.append(f"{img},{c},{fmt(score)},{fmt(x0)},{fmt(x1)},{fmt(y0)},{fmt(y1)}")
    out = {"boxes": "\n".join(boxes) + "\n", "labels": "\n".join(labels) + "\n",
           "preds": "\n".join(preds) + "\n", "names": names}
    if masks:
        out["masks"] = "\n".join(mask_rows) + "\n"
    return out


def write_dataset(data: dict, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key in ("boxes", "labels", "masks", "preds"):
        if key in data:
            paths[key] = folder / f"{key}.csv"
            paths[key].write_text(data[key])
    return paths


def score(paths: dict, *, masks: bool = False, **kw):
    gt = load_ground_truth(paths["boxes"], paths["labels"],
                           masks=paths.get("masks") if masks else None, **kw)
    preds = load_predictions(paths["preds"], gt, masks=masks)
    return evaluate(gt, preds, masks=masks)


# --------------------------------------------------------------------------- properties


def _rewrite_preds(path: Path, transform) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *transform(lines[1:])]) + "\n")


@pytest.mark.parametrize("seed", range(6))
def test_row_permutation_invariance(tmp_path, seed):
    """Shuffling the prediction rows of different images changes nothing (scores are distinct)."""
    data = make_dataset(seed)
    paths = write_dataset(data, tmp_path)
    base = score(paths)
    rng = np.random.default_rng(100 + seed)
    _rewrite_preds(paths["preds"], lambda rows: [rows[i] for i in rng.permutation(len(rows))])
    shuffled = score(paths)
    np.testing.assert_array_equal(base.ap, shuffled.ap)
    assert base.map == shuffled.map


@pytest.mark.parametrize("seed", range(6))
def test_unverified_detection_changes_nothing(tmp_path, seed):
    """A detection of a class that is neither labelled nor boxed in its image is ignored."""
    data = make_dataset(seed)
    paths = write_dataset(data, tmp_path)
    base = score(paths)
    gt = load_ground_truth(paths["boxes"], paths["labels"])
    index = gt.class_index()
    rng = np.random.default_rng(seed)
    extra = []
    for key, img in gt.images.items():
        verified = set(img.verified.tolist()) | set(img.labels.tolist())
        free = [c for c in range(len(gt.classes)) if c not in verified]
        if free:
            c = gt.classes[free[int(rng.integers(0, len(free)))]]
            extra.append(f"{key},{c},0.999,0.1,0.5,0.1,0.5")
    assert extra and all(index for _ in extra)
    _rewrite_preds(paths["preds"], lambda rows: rows + extra)
    after = score(paths)
    np.testing.assert_array_equal(base.ap, after.ap)
    assert after.counts["unverified"] == base.counts.get("unverified", 0) + len(extra)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("masks", [False, True])
def test_perfect_detector_scores_100(tmp_path, seed, masks):
    """Predicting exactly the GT (one detection per instance, group-of boxes included) gives AP 1
    for every class with GT. Group-of boxes get the lower scores: a detection equal to a group-of
    box can overlap a regular box by IoU >= 0.5 and would take it first otherwise."""
    data = make_dataset(seed, masks=masks)
    paths = write_dataset(data, tmp_path)
    gt = load_ground_truth(paths["boxes"], paths["labels"],
                           masks=paths.get("masks") if masks else None)
    rows = [PRED_MASK_HEADER if masks else PRED_HEADER]
    rng = np.random.default_rng(seed)
    for key, img in gt.images.items():
        for j in range(len(img.labels)):
            c = gt.classes[img.labels[j]]
            s = float(rng.uniform(0.1, 0.4) if img.group_of[j] else rng.uniform(0.5, 1.0))
            if masks:
                m = img.masks[j]
                if m is None:
                    continue  # box-only GT does not count for masks
                from pycocotools import mask as mask_utils
                enc = encode_mask_string(mask_utils.decode(m))
                rows.append(f"{key},{m['size'][1]},{m['size'][0]},{c},{s!r},{enc}")
            else:
                y0, x0, y1, x1 = (float(v) for v in img.boxes[j])
                rows.append(f"{key},{c},{s!r},{x0!r},{x1!r},{y0!r},{y1!r}")
    paths["preds"].write_text("\n".join(rows) + "\n")
    result = evaluate(gt, load_predictions(paths["preds"], gt, masks=masks), masks=masks)
    assert result.per_class()
    # 1 up to the rounding of the summed recall steps (the reference sums them the same way)
    assert all(v == pytest.approx(1.0, abs=1e-12) for v in result.per_class().values())
    assert result.map == pytest.approx(1.0, abs=1e-12)
    assert np.array_equal(result.num_tp, result.num_gt)


@pytest.mark.parametrize("seed", range(4))
def test_image_split_is_additive(tmp_path, seed):
    """Entries are per image: evaluating the two halves of the images and pooling their entries
    equals evaluating everything at once."""
    from vcmctc.evaluators.openimages import OIParams, accumulate, count_gt, finalize

    data = make_dataset(seed)
    paths = write_dataset(data, tmp_path)
    gt = load_ground_truth(paths["boxes"], paths["labels"])
    preds = load_predictions(paths["preds"], gt)
    keys = sorted(preds)
    half = len(keys) // 2
    p = OIParams()
    a = accumulate(gt, {k: preds[k] for k in keys[:half]}, p)
    b = accumulate(gt, {k: preds[k] for k in keys[half:]}, p)
    pooled = [(sa + sb, la + lb) for (sa, la), (sb, lb) in zip(a, b)]
    split = finalize(gt.classes, pooled, count_gt(gt, p), p)
    whole = evaluate(gt, preds)
    np.testing.assert_array_equal(split.ap, whole.ap)
    np.testing.assert_array_equal(split.num_tp, whole.num_tp)
