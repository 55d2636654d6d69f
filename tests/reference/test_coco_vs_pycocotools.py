"""vcmctc's COCO evaluation against a plain pycocotools run, on many seeded generated cases.

Each case is compared through one helper parametrised over vcmctc's backends: every summary
statistic must equal pycocotools to 1e-9 on the 0-100 scale, and a statistic pycocotools leaves
undefined (-1) must be NaN. The reference side below uses pycocotools directly, the way public
reference scripts do (COCO, loadRes, COCOeval), and shares no code with vcmctc.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math

import numpy as np
import pytest

pycocotools = pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

from vcmctc.evaluators.coco import (  # noqa: E402
    COCO_BACKENDS,
    evaluate_coco,
    evaluate_coco_pooled,
    stat_names,
)

BACKENDS = ["pycocotools", "faster-coco-eval", "vcmctc"]
CATEGORY_POOL = [1, 2, 3, 13, 18, 44, 62, 90]


# ------------------------------------------------------------------------------ reference side

def reference_stats(gt: dict, dets: list, iou_type: str) -> np.ndarray:
    """Raw pycocotools stats (0-1 scale, -1 undefined) for non-empty ``dets``."""
    assert dets, "pycocotools' loadRes cannot take an empty result list"
    gt = copy.deepcopy(gt)
    dets = copy.deepcopy(dets)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=float)


def assert_matches_reference(ours: dict, ref: np.ndarray, iou_type: str) -> None:
    names = stat_names(iou_type)
    assert list(ours) == list(names)
    assert len(ref) == len(names)
    for name, r in zip(names, ref):
        if r == -1:
            assert math.isnan(ours[name]), (name, ours[name])
        else:
            assert ours[name] == pytest.approx(100.0 * r, abs=1e-9, rel=0), name


def check_case(gt: dict, dets: list, iou_type: str, backend: str) -> dict:
    gt_before, dets_before = copy.deepcopy(gt), copy.deepcopy(dets)
    ours = evaluate_coco(gt, dets, iou_type=iou_type, backend=backend)
    assert gt == gt_before and dets == dets_before, "evaluate_coco must not modify its inputs"
    assert_matches_reference(ours, reference_stats(gt, dets, iou_type), iou_type)
    return ours


# ------------------------------------------------------------------------------ generators

def _box_size(rng: np.random.Generator) -> tuple[float, float]:
    """Box sizes spread over COCO's small (<32^2), medium and large (>96^2) area ranges."""
    side = math.exp(rng.uniform(math.log(4), math.log(300)))
    aspect = math.exp(rng.uniform(-0.7, 0.7))
    return side * aspect, side / aspect


def _jitter(rng, box, scale):
    x, y, w, h = box
    return [x + rng.normal(0, scale * w), y + rng.normal(0, scale * h),
            max(1.0, w * math.exp(rng.normal(0, scale))),
            max(1.0, h * math.exp(rng.normal(0, scale)))]


def _score(rng, ties: bool) -> float:
    # with ties, scores take few distinct values so that many detections share a score
    return float(rng.integers(1, 5) / 4) if ties else float(rng.random())


def gen_bbox_case(seed: int) -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    width, height = 640, 480
    n_images = int(rng.integers(1, 25))
    cats = sorted(rng.choice(CATEGORY_POOL, size=int(rng.integers(1, 6)), replace=False).tolist())
    categories = [{"id": c, "name": f"c{c}"} for c in cats]
    crowd_rate = rng.choice([0.0, 0.1, 0.3])
    empty_rate = rng.choice([0.0, 0.2, 0.5])
    ties = bool(rng.random() < 0.4)
    many = bool(rng.random() < 0.2)  # some images get more than 100 detections
    images, anns, dets = [], [], []
    for img_id in rng.permutation(np.arange(100, 100 + 3 * n_images, 3)).tolist():
        images.append({"id": img_id, "width": width, "height": height})
        n_gt = 0 if rng.random() < empty_rate else int(rng.integers(1, 12))
        for _ in range(n_gt):
            w, h = _box_size(rng)
            box = [float(rng.uniform(-10, width - w / 2)),
                   float(rng.uniform(-10, height - h / 2)), w, h]
            cat = int(rng.choice(cats))
            crowd = int(rng.random() < crowd_rate)
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat, "bbox": box,
                         "area": w * h * float(rng.uniform(0.6, 1.0)), "iscrowd": crowd})
            if rng.random() < 0.85:
                dets.append({"image_id": img_id, "category_id": cat,
                             "bbox": _jitter(rng, box, rng.choice([0.02, 0.1, 0.3])),
                             "score": _score(rng, ties)})
        crowded = many and rng.random() < 0.5
        n_fp = int(rng.integers(110, 160)) if crowded else int(rng.integers(0, 6))
        for _ in range(n_fp):
            w, h = _box_size(rng)
            dets.append({"image_id": img_id, "category_id": int(rng.choice(cats)),
                         "bbox": [float(rng.uniform(0, width)), float(rng.uniform(0, height)),
                                  w, h],
                         "score": _score(rng, ties)})
    # a category listed in the GT with detections but no GT box, now and then
    if rng.random() < 0.3:
        lonely = max(cats) + 1
        categories.append({"id": lonely, "name": "lonely"})
        dets.append({"image_id": images[0]["id"], "category_id": lonely,
                     "bbox": [1.0, 2.0, 30.0, 40.0], "score": 0.7})
    order = rng.permutation(len(dets))
    dets = [dets[i] for i in order]
    if not dets:
        dets = [{"image_id": images[0]["id"], "category_id": cats[0], "bbox": [0, 0, 10, 10],
                 "score": 0.5}]
    return {"images": images, "annotations": anns, "categories": categories}, dets


def _random_mask(rng, height, width) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    w, h = (max(2, int(v)) for v in _box_size(rng))
    w, h = min(w, width), min(h, height)
    x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    yy, xx = np.mgrid[0:h, 0:w]
    ellipse = ((xx - w / 2 + 0.5) / (w / 2)) ** 2 + ((yy - h / 2 + 0.5) / (h / 2)) ** 2 <= 1
    mask[y0:y0 + h, x0:x0 + w] = ellipse if rng.random() < 0.5 else 1
    return mask


def _shift(mask, rng) -> np.ndarray:
    dy, dx = (int(v) for v in rng.integers(-3, 4, size=2))
    return np.roll(np.roll(mask, dy, axis=0), dx, axis=1)


def _rle(mask) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _uncompressed_rle(mask) -> dict:
    flat = mask.flatten(order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def gen_segm_case(seed: int) -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    width, height = 200, 150  # large enough for all three area ranges
    cats = sorted(rng.choice(CATEGORY_POOL, size=int(rng.integers(1, 4)), replace=False).tolist())
    images, anns, dets = [], [], []
    ties = bool(rng.random() < 0.4)
    with_bbox = bool(rng.random() < 0.5)  # results with a bbox take loadRes' box-area branch
    for img_id in range(int(rng.integers(1, 8))):
        images.append({"id": img_id, "width": width, "height": height})
        for _ in range(0 if rng.random() < 0.2 else int(rng.integers(1, 6))):
            mask = _random_mask(rng, height, width)
            crowd = int(rng.random() < 0.15)
            ys, xs = np.nonzero(mask)
            box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                   float(ys.max() - ys.min() + 1)]
            if crowd:
                seg = _uncompressed_rle(mask)
            elif rng.random() < 0.5:
                x, y, w, h = box
                seg = [[x, y, x + w, y, x + w, y + h * 0.7, x + w * 0.3, y + h]]  # polygon
            else:
                seg = _rle(mask)
            cat = int(rng.choice(cats))
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat,
                         "segmentation": seg, "area": float(mask.sum()), "bbox": box,
                         "iscrowd": crowd})
            if rng.random() < 0.8:
                dmask = _shift(mask, rng)
                det = {"image_id": img_id, "category_id": cat, "segmentation": _rle(dmask),
                       "score": _score(rng, ties)}
                dets.append(det)
        for _ in range(int(rng.integers(0, 4))):
            dets.append({"image_id": img_id, "category_id": int(rng.choice(cats)),
                         "segmentation": _rle(_random_mask(rng, height, width)),
                         "score": _score(rng, ties)})
    if not dets:
        dets.append({"image_id": 0, "category_id": cats[0],
                     "segmentation": _rle(_random_mask(rng, height, width)), "score": 0.3})
    if with_bbox:
        for det in dets:
            det["bbox"] = [float(v) for v in mask_utils.toBbox(det["segmentation"])]
    return {"images": images, "annotations": anns,
            "categories": [{"id": c, "name": f"c{c}"} for c in cats]}, dets


def gen_keypoint_case(seed: int) -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    ties = bool(rng.random() < 0.3)
    for img_id in range(int(rng.integers(1, 10))):
        images.append({"id": img_id, "width": 640, "height": 480})
        for _ in range(int(rng.integers(0, 6))):
            w, h = _box_size(rng)
            w, h = w + 20, h + 40
            x0, y0 = float(rng.uniform(0, 640 - w)), float(rng.uniform(0, 480 - h))
            xs, ys = rng.uniform(x0, x0 + w, 17), rng.uniform(y0, y0 + h, 17)
            vis = rng.choice([0, 1, 2], size=17, p=[0.2, 0.3, 0.5])
            if rng.random() < 0.1:
                vis[:] = 0  # num_keypoints 0: ignored by COCOeval
            kps = np.stack([np.where(vis > 0, xs, 0), np.where(vis > 0, ys, 0), vis], 1)
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": 1,
                         "keypoints": [float(v) for v in kps.ravel()],
                         "num_keypoints": int((vis > 0).sum()), "bbox": [x0, y0, w, h],
                         "area": w * h * 0.7, "iscrowd": int(rng.random() < 0.05)})
            if rng.random() < 0.85:
                noise = rng.normal(0, rng.choice([2.0, 8.0, 20.0]), size=(17, 2))
                dk = np.stack([xs + noise[:, 0], ys + noise[:, 1], np.ones(17)], 1)
                dets.append({"image_id": img_id, "category_id": 1,
                             "keypoints": [float(v) for v in dk.ravel()],
                             "score": _score(rng, ties)})
        for _ in range(int(rng.integers(0, 3))):
            dk = np.stack([rng.uniform(0, 640, 17), rng.uniform(0, 480, 17), np.ones(17)], 1)
            dets.append({"image_id": img_id, "category_id": 1,
                         "keypoints": [float(v) for v in dk.ravel()], "score": _score(rng, ties)})
    if not dets:
        dk = np.stack([rng.uniform(0, 640, 17), rng.uniform(0, 480, 17), np.ones(17)], 1)
        dets.append({"image_id": 0, "category_id": 1, "keypoints": [float(v) for v in dk.ravel()],
                     "score": 0.5})
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person"}]}, dets


# ------------------------------------------------------------------------------ tests

@pytest.fixture(params=BACKENDS)
def backend(request):
    assert request.param in COCO_BACKENDS
    return request.param


@pytest.mark.parametrize("seed", range(40))
def test_bbox_matches_pycocotools(seed, backend):
    gt, dets = gen_bbox_case(seed)
    check_case(gt, dets, "bbox", backend)


@pytest.mark.parametrize("seed", range(12))
def test_segm_matches_pycocotools(seed, backend):
    gt, dets = gen_segm_case(1000 + seed)
    check_case(gt, dets, "segm", backend)


@pytest.mark.parametrize("seed", range(12))
def test_keypoints_matches_pycocotools(seed, backend):
    gt, dets = gen_keypoint_case(2000 + seed)
    check_case(gt, dets, "keypoints", backend)


def test_generators_cover_the_edge_cases():
    """The seeds above really include the cases they are meant to exercise."""
    cases = [gen_bbox_case(s) for s in range(40)]
    per_image = [max(np.unique([d["image_id"] for d in dets], return_counts=True)[1])
                 for _, dets in cases]
    assert max(per_image) > 100                                          # > maxDets per image
    assert any(a["iscrowd"] for gt, _ in cases for a in gt["annotations"])  # crowd GT
    assert any({i["id"] for i in gt["images"]} - {a["image_id"] for a in gt["annotations"]}
               for gt, _ in cases)                                        # images without GT
    scores = [[d["score"] for d in dets] for _, dets in cases]
    assert any(len(set(s)) < len(s) / 2 for s in scores)                  # score ties
    areas = [a["area"] for gt, _ in cases for a in gt["annotations"]]
    assert min(areas) < 32**2 and max(areas) > 96**2 and any(32**2 < a < 96**2 for a in areas)
    assert any({c["id"] for c in gt["categories"]} - {a["category_id"] for a in gt["annotations"]}
               for gt, _ in cases)                                        # category with no GT
    # some statistic is undefined (NaN) somewhere, e.g. APs with no small GT
    assert any((reference_stats(gt, dets, "bbox") == -1).any() for gt, dets in cases[:15])
    segm = [gen_segm_case(1000 + s)[0] for s in range(12)]
    kinds = {("rle-list" if isinstance(a["segmentation"], dict) and isinstance(
        a["segmentation"]["counts"], list) else "rle" if isinstance(a["segmentation"], dict)
        else "polygon") for gt in segm for a in gt["annotations"]}
    assert kinds == {"rle-list", "rle", "polygon"}


def test_no_detections_at_all(backend):
    """No results: each category with GT scores 0; ranges without GT stay undefined (NaN).

    pycocotools' loadRes cannot take an empty list, so the expectation is worked by hand: every
    precision/recall of a category with GT is 0. GT here has only medium boxes (30x40 = 1200 px),
    so APs/APl/ARs/ARl have no GT and are undefined.
    """
    gt = {"images": [{"id": i, "width": 100, "height": 100} for i in (1, 2)],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [0, 0, 30, 40],
                           "area": 1200, "iscrowd": 0}],
          "categories": [{"id": 5, "name": "x"}, {"id": 6, "name": "y"}]}
    stats = evaluate_coco(gt, [], backend=backend)
    undefined = {"APs", "APl", "ARs", "ARl"}
    for name, value in stats.items():
        if name in undefined:
            assert math.isnan(value), name
        else:
            assert value == 0.0, name


# ------------------------------------------------------------------------------ pooled class rows

def _offset_merge(sequences):
    """Hand-merged class dataset as the public reference script builds it: image ids offset by
    10000 per sequence, annotation ids renumbered from 1, categories of the first sequence."""
    images, anns, dets = [], [], []
    for k, (gt, seq_dets) in enumerate(sequences):
        offset = 10000 * (k + 1)
        images += [{**img, "id": img["id"] + offset} for img in gt["images"]]
        for ann in gt["annotations"]:
            anns.append({**ann, "id": len(anns) + 1, "image_id": ann["image_id"] + offset})
        dets += [{**d, "image_id": d["image_id"] + offset} for d in seq_dets]
    return {"images": images, "annotations": anns,
            "categories": sequences[0][0]["categories"]}, dets


def _sequence(seed: int, ties: bool):
    rng = np.random.default_rng(seed)
    gt, dets = gen_bbox_case(seed)
    # SFU-like: frames numbered 0..N-1 in every sequence (so ids collide across sequences) and
    # the same category list everywhere
    remap = {img["id"]: i for i, img in enumerate(sorted(gt["images"], key=lambda im: im["id"]))}
    gt["images"] = [{**img, "id": remap[img["id"]]} for img in gt["images"]]
    gt["annotations"] = [{**a, "image_id": remap[a["image_id"]]} for a in gt["annotations"]]
    gt["categories"] = [{"id": c, "name": f"c{c}"} for c in CATEGORY_POOL + [91]]
    dets = [{**d, "image_id": remap[d["image_id"]],
             "score": float(rng.integers(1, 4) / 4) if ties else d["score"]} for d in dets]
    return gt, dets


@pytest.mark.parametrize("seed", range(8))
def test_pooled_equals_one_pycocotools_run_on_hand_merged_data(seed, backend):
    n_seq = 2 + seed % 3
    sequences = [_sequence(100 * seed + k, ties=seed % 2 == 1) for k in range(n_seq)]
    ours = evaluate_coco_pooled(sequences, backend=backend)
    merged_gt, merged_dets = _offset_merge(sequences)
    assert_matches_reference(ours, reference_stats(merged_gt, merged_dets, "bbox"), "bbox")


def test_pooled_is_not_the_mean_of_sequence_aps():
    """Worked by hand. Sequence A: 1 GT, its TP detection scores 0.9 -> AP 100. Sequence B: 1 GT,
    an FP at 0.95 then the TP at 0.5 -> precision 1/2 at recall 1 -> AP 50. Mean 75.

    Pooled, by score: FP(B, .95), TP(A, .9), TP(B, .5); precision 0, 1/2, 2/3 at recall 0, 1/2,
    1; the interpolated precision is 2/3 at every recall threshold -> AP 66.67 (all IoUs).
    """
    def seq(dets):
        gt = {"images": [{"id": 0, "width": 400, "height": 400}],
              "annotations": [{"id": 1, "image_id": 0, "category_id": 1, "bbox": [10, 10, 50, 50],
                               "area": 2500, "iscrowd": 0}],
              "categories": [{"id": 1, "name": "person"}]}
        return gt, dets

    tp = {"image_id": 0, "category_id": 1, "bbox": [10, 10, 50, 50]}
    a = seq([{**tp, "score": 0.9}])
    b = seq([{**tp, "bbox": [300, 300, 50, 50], "score": 0.95}, {**tp, "score": 0.5}])
    for backend_name in BACKENDS:
        ap_a = evaluate_coco(*a, backend=backend_name)["AP"]
        ap_b = evaluate_coco(*b, backend=backend_name)["AP"]
        pooled = evaluate_coco_pooled([a, b], backend=backend_name)["AP"]
        assert ap_a == pytest.approx(100.0, abs=1e-12)
        assert ap_b == pytest.approx(50.0, abs=1e-12)
        assert pooled == pytest.approx(200.0 / 3.0, abs=1e-9)
        assert abs(pooled - (ap_a + ap_b) / 2) > 8
