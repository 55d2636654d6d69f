"""Hand-worked COCO cases: each expected value is derived in the test's docstring or comment."""

from __future__ import annotations

import math
import sys

import pytest

from vcmctc.errors import UserError
from vcmctc.evaluators.coco import (
    COCO_BACKENDS,
    DETECTION_STATS,
    KEYPOINT_STATS,
    backend_version,
    evaluate_coco,
    pool_sequences,
    stat_names,
)

BACKENDS = ["pycocotools", "faster-coco-eval", "vcmctc"]


def gt_of(boxes, crowd=(), categories=(1,), size=(1000, 1000)):
    """One image (id 7); ``boxes`` = [(category, [x, y, w, h]), ...]; area = w*h."""
    anns = [{"id": i + 1, "image_id": 7, "category_id": c, "bbox": list(b), "area": b[2] * b[3],
             "iscrowd": int(i in crowd)} for i, (c, b) in enumerate(boxes)]
    return {"images": [{"id": 7, "width": size[0], "height": size[1]}], "annotations": anns,
            "categories": [{"id": c, "name": f"c{c}"} for c in categories]}


def det(box, score, cat=1, image=7):
    return {"image_id": image, "category_id": cat, "bbox": list(box), "score": score}


def approx(value):
    """pycocotools divides by tp + fp + eps, so a perfect precision is 1 - 2e-16, not 1."""
    return pytest.approx(value, abs=1e-9, rel=0)


def defined(stats):
    return {k: v for k, v in stats.items() if not math.isnan(v)}


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def test_perfect_detection(backend):
    """One medium GT box (50x50 = 2500 px) found exactly: every defined stat is 100; the small
    and large ranges have no GT and no detection, so APs/APl/ARs/ARl are undefined (NaN)."""
    stats = evaluate_coco(gt_of([(1, [10, 10, 50, 50])]), [det([10, 10, 50, 50], 0.9)],
                          backend=backend)
    assert list(stats) == list(DETECTION_STATS)
    assert defined(stats) == pytest.approx(
        {k: 100.0 for k in DETECTION_STATS if k not in ("APs", "APl", "ARs", "ARl")}, abs=1e-9)


def test_false_positive_ranked_first(backend):
    """FP (score .9) then TP (.8) for one GT: precision 1/2 at recall 1, and the interpolated
    precision is 1/2 at every recall threshold -> AP = 50 at every IoU. With 1 detection per image
    only the FP counts -> AR1 = 0; AR10 = AR100 = 100."""
    stats = evaluate_coco(gt_of([(1, [10, 10, 50, 50])]),
                          [det([500, 500, 50, 50], 0.9), det([10, 10, 50, 50], 0.8)],
                          backend=backend)
    assert stats["AP"] == approx(50.0)
    assert stats["AP50"] == approx(50.0)
    assert stats["AP75"] == approx(50.0)
    assert stats["AR1"] == 0.0
    assert stats["AR10"] == approx(100.0) and stats["AR100"] == approx(100.0)


def test_iou_thresholds(backend):
    """GT 100x100, detection 100x78 inside it: IoU = 0.78, a match at the thresholds .50 ... .75
    (6 of 10) only -> AP = AR = 60, AP50 = AP75 = 100. The GT (10000 px >= 96^2) is large, so
    APl = 60 too."""
    stats = evaluate_coco(gt_of([(1, [0, 0, 100, 100])]), [det([0, 0, 100, 78], 0.5)],
                          backend=backend)
    assert stats["AP"] == approx(60.0)
    assert stats["AR100"] == approx(60.0)
    assert stats["AP50"] == approx(100.0) and stats["AP75"] == approx(100.0)
    assert stats["APl"] == approx(60.0)


def test_crowd_region_ignores_detections_inside(backend):
    """GT A (50x50) and a region B (300x300); the top detection (30x30) lies inside B.

    B a crowd region: the detection's crowd IoU (intersection / detection area) is 1, so it is
    matched to B and ignored; the TP on A gives AP = 100.
    B an ordinary box: IoU 900/90000 is no match, so the detection is an FP ranked first.
    Precision 0 then 1/2 at recall 1/2; B is never found. The interpolated precision is 1/2 for
    the recall thresholds 0, .01, ..., .50 (51 of 101) and 0 above -> AP = 100 * 0.5 * 51/101.
    """
    boxes = [(1, [0, 0, 50, 50]), (1, [200, 200, 300, 300])]
    dets = [det([210, 210, 30, 30], 0.9), det([0, 0, 50, 50], 0.8)]
    assert evaluate_coco(gt_of(boxes, crowd=(1,)), dets, backend=backend)["AP"] == approx(100.0)
    assert evaluate_coco(gt_of(boxes), dets, backend=backend)["AP"] == approx(100 * 0.5 * 51 / 101)


def test_category_without_gt_is_left_out_of_the_mean(backend):
    """Category 2 is listed and detected but has no GT: COCOeval leaves it undefined and averages
    over category 1 only (AP 100), instead of counting it as 0 (which would give AP 50)."""
    gt = gt_of([(1, [10, 10, 50, 50])], categories=(1, 2))
    stats = evaluate_coco(gt, [det([10, 10, 50, 50], 0.9), det([300, 300, 40, 40], 0.95, cat=2)],
                          backend=backend)
    assert stats["AP"] == approx(100.0)


def test_more_than_100_detections_per_image(backend):
    """COCOeval keeps the 100 best-scored detections per image and category. 99 FPs above the
    TP: the TP is 100th -> precision 1/100 at recall 1 -> AP = 1. With one more FP the TP is
    cut -> AP = 0 and AR100 = 0 (AR1/AR10 are 0 in both)."""
    fps = [det([2000 + 60 * i, 10, 50, 50], 0.99 - i * 1e-4) for i in range(100)]
    tp = det([10, 10, 50, 50], 0.5)
    gt = gt_of([(1, [10, 10, 50, 50])], size=(10000, 1000))
    kept = evaluate_coco(gt, fps[:99] + [tp], backend=backend)
    assert kept["AP"] == approx(1.0)
    assert kept["AR100"] == approx(100.0) and kept["AR10"] == 0.0
    cut = evaluate_coco(gt, fps + [tp], backend=backend)
    assert cut["AP"] == 0.0 and cut["AR100"] == 0.0


def test_image_without_gt_only_adds_false_positives(backend):
    """A second image with no GT and one detection scored above the TP: as in
    test_false_positive_ranked_first, AP = 50."""
    gt = gt_of([(1, [10, 10, 50, 50])])
    gt["images"].append({"id": 8, "width": 1000, "height": 1000})
    stats = evaluate_coco(gt, [det([10, 10, 50, 50], 0.9, image=8), det([10, 10, 50, 50], 0.8)],
                          backend=backend)
    assert stats["AP"] == approx(50.0)


def test_keypoint_stat_names(backend):
    """Exact keypoints on one person: OKS = 1 -> AP = 100 (10 keypoint stats, own names)."""
    kps = [float(v) for i in range(17) for v in (100 + 5 * i, 200 + 3 * i, 2)]
    gt = {"images": [{"id": 1, "width": 640, "height": 480}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": kps,
                           "num_keypoints": 17, "bbox": [90, 190, 100, 120], "area": 12000,
                           "iscrowd": 0}],
          "categories": [{"id": 1, "name": "person"}]}
    stats = evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "keypoints": kps, "score": 1.0}],
                          iou_type="keypoints", backend=backend)
    assert list(stats) == list(KEYPOINT_STATS)
    assert stats["AP"] == approx(100.0) and stats["AP50"] == approx(100.0)
    assert math.isnan(stats["APm"])  # area 12000 px is large: no medium GT


def test_inputs_are_not_modified_and_repeat_runs_agree(backend):
    gt = gt_of([(1, [10, 10, 50, 50])])
    dets = [det([12, 10, 50, 50], 0.9)]
    first = evaluate_coco(gt, dets, backend=backend)
    assert gt == gt_of([(1, [10, 10, 50, 50])]) and dets == [det([12, 10, 50, 50], 0.9)]
    assert evaluate_coco(gt, dets, backend=backend) == first


def test_unknown_names_are_user_errors():
    gt = gt_of([(1, [10, 10, 50, 50])])
    with pytest.raises(UserError, match="unknown COCO backend 'pycoco'.*did you mean pycocotools"):
        evaluate_coco(gt, [], backend="pycoco")
    with pytest.raises(UserError, match="unknown IoU type 'box'"):
        evaluate_coco(gt, [], iou_type="box")
    with pytest.raises(UserError, match=r"results\[0\].*image_id 99"):
        evaluate_coco(gt, [det([0, 0, 1, 1], 0.5, image=99)])
    assert stat_names("segm") == DETECTION_STATS


def test_backends_are_registered_lazily():
    assert COCO_BACKENDS.names() == ["faster-coco-eval", "pycocotools", "vcmctc"]
    for name in BACKENDS:
        assert backend_version(name)[0].isdigit()


def test_import_vcmctc_stays_light():
    import subprocess

    code = ("import sys, vcmctc, vcmctc.evaluators.coco, vcmctc.datasets.coco, "
            "vcmctc.datasets.sfu; heavy = [m for m in ('pycocotools', 'faster_coco_eval', "
            "'pandas', 'numpy') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_pool_sequences_keeps_ids_distinct():
    a = gt_of([(1, [0, 0, 10, 10])])
    b = gt_of([(1, [5, 5, 10, 10]), (1, [50, 50, 10, 10])])
    b["images"].append({"id": 3, "width": 1000, "height": 1000})
    gt, dets = pool_sequences([(a, [det([0, 0, 10, 10], 0.5)]), (b, [det([5, 5, 10, 10], 0.6)])])
    # a's image 7 -> 1; b's images 3, 7 (sorted) -> 2, 3
    assert [(i["id"], i["source_index"], i["source_id"]) for i in gt["images"]] == [
        (1, 0, 7), (2, 1, 3), (3, 1, 7)]
    assert [(a["id"], a["image_id"]) for a in gt["annotations"]] == [(1, 1), (2, 3), (3, 3)]
    assert [d["image_id"] for d in dets] == [1, 3]
    assert a["images"][0]["id"] == 7  # inputs untouched


def test_pool_sequences_rejects_conflicting_categories():
    a = gt_of([(1, [0, 0, 10, 10])])
    b = gt_of([(1, [0, 0, 10, 10])])
    b["categories"][0]["name"] = "other"
    with pytest.raises(UserError, match="category 1 is named"):
        pool_sequences([(a, []), (b, [])])
    with pytest.raises(UserError, match="sequence 1"):
        pool_sequences([(a, []), (gt_of([]), [det([0, 0, 1, 1], 0.5, image=3)])])


@pytest.mark.parametrize("backend", ["pycocotools", "faster-coco-eval", "vcmctc"])
def test_parallel_evaluations_leave_stdout_alone(backend):
    """The pipeline scores rate points in threads: silencing the libraries must not leave
    another thread's StringIO in sys.stdout (regression: interleaved redirect_stdout)."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from vcmctc.evaluators.coco import evaluate_coco

    gt = {"images": [{"id": i, "width": 100, "height": 100} for i in range(20)],
          "annotations": [{"id": i + 1, "image_id": i, "category_id": 1, "bbox": [10, 10, 30, 30],
                           "area": 900, "iscrowd": 0} for i in range(20)],
          "categories": [{"id": 1, "name": "person"}]}
    dets = [{"image_id": i, "category_id": 1, "bbox": [12, 10, 30, 30], "score": 0.9}
            for i in range(20)]
    before = sys.stdout
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: evaluate_coco(gt, dets, backend=backend), range(32)))
    assert sys.stdout is before
    assert all(r == results[0] for r in results)
