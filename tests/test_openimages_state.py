"""Open Images per-set states: oid_state / oid_finalize / oid_pool against the per-image
route (accumulate / image_records, the challenge rules image by image)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pycocotools import mask as mask_utils
from test_openimages_synth import make_dataset, write_dataset
from vcmctc.datasets.openimages import ImageGT, ImagePred, OpenImagesGT, load_ground_truth, \
    load_predictions
from vcmctc.errors import UserError
from vcmctc.evaluators.openimages import OIParams, OIState, accumulate, count_gt, evaluate, \
    finalize, image_records, oid_finalize, oid_pool, oid_state


def _per_image(gt, preds, params):
    """The result of the per-image route (what ``evaluate`` computed before ``oid_state``)."""
    counts: dict = {}
    pooled = accumulate(gt, preds, params, counts)
    return finalize(gt.classes, pooled, count_gt(gt, params), params, counts)


def _load(tmp_path, seed, masks=False):
    data = make_dataset(seed, n_images=60, masks=masks, score_digits=2)  # 2 digits: ties
    paths = write_dataset(data, tmp_path / f"d{seed}")
    gt = load_ground_truth(paths["boxes"], paths["labels"],
                           masks=paths.get("masks") if masks else None)
    return gt, load_predictions(paths["preds"], gt, masks=masks)


def _same(a, b):
    assert a.classes == b.classes and a.counts == b.counts
    for name in ("ap", "num_gt", "num_tp", "num_entries"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


@pytest.mark.parametrize("seed,masks", [(s, False) for s in range(6)] + [(100, True)])
def test_state_round_trip_and_pool_equal_evaluate(seed, masks, tmp_path):
    gt, preds = _load(tmp_path, seed, masks)
    params = OIParams(masks=masks)
    full = _per_image(gt, preds, params)
    _same(evaluate(gt, preds, params), full)
    state = oid_state(gt, preds, params)
    np.savez(tmp_path / "s.npz", **state.to_arrays())
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        back = OIState.from_arrays({k: f[k] for k in f.files})
    _same(oid_finalize(back), full)
    # three disjoint sets, images interleaved in key order: the pool restores one run's order
    keys = sorted(gt.images)
    rng = np.random.default_rng(seed)
    part = rng.integers(0, 3, len(keys))
    states = []
    for k in range(3):
        mine = {key for key, p in zip(keys, part) if p == k}
        sub_gt = dataclasses.replace(gt, images={key: gt.images[key] for key in mine})
        sub_preds = {key: v for key, v in preds.items()
                     if key in mine or (k == 0 and key not in gt.images)}
        states.append(oid_state(sub_gt, sub_preds, params))
    _same(oid_pool(states), full)


def test_pool_refuses_overlap_and_mixed_settings(tmp_path):
    gt, preds = _load(tmp_path, 3)
    state = oid_state(gt, preds)
    with pytest.raises(UserError, match="share images"):
        oid_pool([state, state])
    with pytest.raises(UserError, match="different settings"):
        oid_pool([state, oid_state(dataclasses.replace(gt, images={}), {},
                                   OIParams(iou_threshold=0.6))])


# ------------------------------------------------------------------ oid_state vs image_records


def _per_image_state(gt, preds, params):
    """The state assembled image by image from :func:`image_records` (the per-image reference
    path that ``evaluate`` runs), to compare ``oid_state``'s all-at-once computation with."""
    counts: dict[str, int] = {}
    images = sorted(gt.images)
    parts = []
    for key in sorted(preds):
        pred = preds[key]
        if key not in gt.images:
            counts["unknown_image_detections"] = (counts.get("unknown_image_detections", 0)
                                                  + len(pred.scores))
            continue
        counts["unknown_class"] = counts.get("unknown_class", 0) + int((pred.labels < 0).sum())
        for c, (s, lab) in image_records(gt.images[key], pred, params, counts).items():
            parts.append((c, images.index(key), s, lab))
    parts.sort(key=lambda p: (p[0], p[1]))
    return {"cls": [p[0] for p in parts for _ in p[2]],
            "image": [p[1] for p in parts for _ in p[2]],
            "score": [float(v) for p in parts for v in p[2]],
            "label": [float(v) for p in parts for v in p[3]], "counts": counts}


def _random_set(rng, masks: bool):
    """GT and predictions drawn directly: duplicate and degenerate (inverted) GT boxes, exact
    score ties, detections identical to GT boxes, invalid boxes, unknown classes and images."""
    n_classes = 3  # few: many detections and GT boxes of one class per image
    h, w = 12, 16
    images, preds = {}, {}

    def rle(box):
        m = np.zeros((h, w), dtype=np.uint8)
        y0, x0, y1, x1 = (np.asarray(box) * [h, w, h, w]).astype(int)
        m[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)] = 1
        return mask_utils.encode(np.asfortranarray(m))

    def boxes(n):
        b = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=(n, 4))  # coarse: exact overlaps
        return np.where(rng.random((n, 1)) < 0.9, np.sort(b.reshape(n, 2, 2), axis=1)
                        .reshape(n, 4)[:, [0, 2, 1, 3]], b)

    for i in range(int(rng.integers(1, 40))):
        key = f"img{int(rng.integers(0, 60)):02d}"
        m = int(rng.integers(0, 8))
        gb = boxes(m)
        if m and rng.random() < 0.3:
            gb[-1] = gb[0]  # a duplicate GT box
        labels = rng.integers(0, n_classes, m)
        gmasks = [rle(b) if rng.random() < 0.7 else None for b in gb] if masks else None
        images[key] = ImageGT(boxes=gb, labels=labels, group_of=rng.random(m) < 0.4,
                              verified=np.unique(rng.integers(0, n_classes, 2)), masks=gmasks)
    for key in list(images) + ["unknown_a", "unknown_b"]:
        if rng.random() < 0.2:
            continue
        n = int(rng.integers(0, 16))
        db = boxes(n)
        scores = rng.choice([0.1, 0.3, 0.5, 0.5, 0.7, 0.9, -20.0, 0.0], n)  # ties, dropped, 0
        labels = rng.integers(-1, n_classes, n)
        if key in images and len(images[key].boxes) and n:  # half copy a GT box and class
            pick = rng.integers(0, len(images[key].boxes), (n + 1) // 2)
            db[:len(pick)] = images[key].boxes[pick]
            labels[:len(pick)] = images[key].labels[pick]
        preds[key] = ImagePred(boxes=db, scores=scores, labels=labels,
                               masks=[rle(b) for b in db] if masks else None)
    gt = OpenImagesGT(classes=[f"c{k}" for k in range(n_classes)], images=images,
                      has_masks=masks)
    return gt, preds


@pytest.mark.parametrize("seed", range(100))
def test_oid_state_equals_per_image_records(seed):
    rng = np.random.default_rng(seed)
    masks = seed % 3 == 0
    gt, preds = _random_set(rng, masks)
    params = OIParams(masks=masks, iou_threshold=float(rng.choice([0.5, 0.3, 0.7])),
                      group_of_weight=float(rng.choice([1.0, 1.0, 0.5, 0.0])),
                      max_detections=int(rng.choice([10000, 3, 1])))
    state = oid_state(gt, preds, params)
    ref = _per_image_state(gt, preds, params)
    assert state.cls.tolist() == ref["cls"] and state.image.tolist() == ref["image"]
    assert state.score.tolist() == ref["score"] and state.label.tolist() == ref["label"]
    assert dict(zip(state.counts_keys.tolist(), state.counts_values.tolist())) == ref["counts"]
    assert state.counts_keys.tolist() == list(ref["counts"])
    assert state.cls.dtype == np.int64 and state.score.dtype == np.float64


@pytest.mark.parametrize("seed,masks", [(7, False), (8, True)])
def test_oid_state_equals_per_image_records_on_files(seed, masks, tmp_path):
    gt, preds = _load(tmp_path, seed, masks)
    for params in (OIParams(masks=masks), OIParams(masks=masks, max_detections=2,
                                                  group_of_weight=0.0)):
        state = oid_state(gt, preds, params)
        ref = _per_image_state(gt, preds, params)
        assert state.cls.tolist() == ref["cls"] and state.image.tolist() == ref["image"]
        assert state.score.tolist() == ref["score"] and state.label.tolist() == ref["label"]
        assert state.counts_keys.tolist() == list(ref["counts"])
