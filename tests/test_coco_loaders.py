"""COCO GT / results loading: normalisation, and every bad input named by file and entry."""

from __future__ import annotations

import copy
import json

import pytest

from vcmctc.datasets.coco import (
    CONTIGUOUS_TO_COCO_ID,
    load_coco_gt,
    load_coco_results,
    validate_coco_gt,
    validate_coco_results,
)
from vcmctc.errors import UserError

GT = {
    "info": {"description": "toy"},
    "images": [{"id": 1.0, "width": 100, "height": 80}, {"id": 2, "width": 100, "height": 80}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 30, 40], "area": 1200,
         "iscrowd": 0, "segmentation": [[1, 2, 31, 2, 31, 42]]},
        {"id": 2, "image_id": 2.0, "category_id": 1, "bbox": [5, 5, 10, 10], "area": 100,
         "iscrowd": 1, "segmentation": {"size": [80, 100], "counts": [505, 10, 70]}},
    ],
    "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
}
RESULTS = [{"image_id": 1.0, "category_id": 3, "bbox": [1, 2, 30, 40], "score": 0.9},
           {"image_id": 2, "category_id": 1, "bbox": [5, 5, 10, 10], "score": 0.4}]


def write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return path


def test_gt_is_normalised_and_input_untouched(tmp_path):
    gt = load_coco_gt(write(tmp_path, "gt.json", GT))
    assert [i["id"] for i in gt["images"]] == [1, 2]
    assert all(type(i["id"]) is int for i in gt["images"])
    assert gt["annotations"][1]["image_id"] == 2 and type(gt["annotations"][1]["image_id"]) is int
    assert gt["info"] == {"description": "toy"}
    raw = copy.deepcopy(GT)
    validate_coco_gt(raw)
    assert raw == GT


def test_results_are_normalised(tmp_path):
    gt = validate_coco_gt(GT)
    dets = load_coco_results(write(tmp_path, "r.json", RESULTS), gt)
    assert [(d["image_id"], type(d["image_id"])) for d in dets] == [(1, int), (2, int)]
    assert load_coco_results(write(tmp_path, "e.json", []), gt) == []


def test_contiguous_prediction_ids_are_mapped():
    gt = validate_coco_gt({**GT, "categories": [{"id": c, "name": ""} for c in (1, 3)]})
    dets = [{**RESULTS[0], "category_id": 2}, {**RESULTS[1], "category_id": 0}]
    out = validate_coco_results(dets, gt, category_map=CONTIGUOUS_TO_COCO_ID)
    assert [d["category_id"] for d in out] == [3, 1]


def test_unknown_categories_fail_or_are_dropped():
    gt = validate_coco_gt(GT)
    dets = RESULTS + [{**RESULTS[0], "category_id": 2}]
    with pytest.raises(UserError, match=r"<results>: results\[2\]\.category_id: category_id 2 is "
                                        "not a ground-truth category"):
        validate_coco_results(dets, gt)
    assert len(validate_coco_results(dets, gt, drop_unknown_categories=True)) == 2


def _gt_with(path_edit):
    gt = copy.deepcopy(GT)
    path_edit(gt)
    return gt


@pytest.mark.parametrize("edit, iou_type, message", [
    (lambda g: g.pop("images"), "bbox", "missing or non-list 'images'"),
    (lambda g: g["images"][1].pop("id"), "bbox", r"images\[1\]: missing key 'id'"),
    (lambda g: g["images"][1].pop("width"), "segm", r"images\[1\]: missing key 'width'"),
    (lambda g: g["images"].append({"id": 2}), "bbox", r"images\[2\]: duplicate image id 2"),
    (lambda g: g["images"][0].update(id="a"), "bbox", r"images\[0\]\.id: id must be an integer"),
    (lambda g: g["images"][0].update(height=0), "bbox", r"images\[0\]\.height: height must be"),
    (lambda g: g["categories"].append({"id": 3}), "bbox", r"categories\[2\]: duplicate category"),
    (lambda g: g["annotations"][1].pop("iscrowd"), "bbox",
     r"annotations\[1\]: missing key 'iscrowd'"),
    (lambda g: g["annotations"][1].pop("bbox"), "bbox", r"annotations\[1\]: missing key 'bbox'"),
    (lambda g: g["annotations"][0].pop("segmentation"), "segm",
     r"annotations\[0\]: missing key 'segmentation'"),
    (lambda g: g["annotations"][0].update(id=0), "bbox", r"annotations\[0\]\.id: annotation id "
     "must be >= 1"),
    (lambda g: g["annotations"][1].update(id=1), "bbox", r"annotations\[1\]: duplicate annotation"),
    (lambda g: g["annotations"][1].update(image_id=9), "bbox",
     r"annotations\[1\]\.image_id: image_id 9 is not in 'images'"),
    (lambda g: g["annotations"][1].update(category_id=2), "bbox",
     r"annotations\[1\]\.category_id: category_id 2 is not in 'categories'"),
    (lambda g: g["annotations"][0].update(bbox=[1, 2, -3, 4]), "bbox",
     r"annotations\[0\]\.bbox: bbox width and height must be >= 0"),
    (lambda g: g["annotations"][0].update(bbox=[1, 2, "3", 4]), "bbox",
     r"annotations\[0\]\.bbox: bbox must be 4 finite numbers"),
    (lambda g: g["annotations"][0].update(area=-1), "bbox", r"annotations\[0\]\.area"),
    (lambda g: g["annotations"][0].update(iscrowd=2), "bbox", r"annotations\[0\]\.iscrowd"),
    (lambda g: g["annotations"][0].update(segmentation=[[1, 2, 3]]), "segm",
     r"annotations\[0\]\.segmentation: polygon 0"),
    (lambda g: g["annotations"][1].update(segmentation={"counts": "x"}), "segm",
     r"annotations\[1\]\.segmentation: RLE segmentation needs 'size'"),
    (lambda g: g["annotations"][0].update(keypoints=[0] * 51), "keypoints",
     r"annotations\[0\]: missing key 'num_keypoints'"),
    (lambda g: g["annotations"][0].update(keypoints=[0] * 50, num_keypoints=0), "keypoints",
     r"annotations\[0\]\.keypoints: keypoints must be 51 numbers"),
])
def test_bad_gt_names_file_and_entry(tmp_path, edit, iou_type, message):
    path = write(tmp_path, "gt.json", _gt_with(edit))
    with pytest.raises(UserError, match=message) as err:
        load_coco_gt(path, iou_type=iou_type)
    assert str(err.value).startswith(f"{path}: ")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("results, iou_type, message", [
    ({"annotations": []}, "bbox", "got a COCO dataset object"),
    ({"x": 1}, "bbox", "expected a COCO results list, got dict"),
    ([{"image_id": 1, "category_id": 3, "score": 0.5}], "bbox",
     r"results\[0\]: missing key 'bbox'"),
    ([RESULTS[0], {"image_id": 7, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.5}], "bbox",
     r"results\[1\]\.image_id: image_id 7 is not a ground-truth image"),
    ([{**RESULTS[0], "score": "high"}], "bbox", r"results\[0\]\.score: score must be a finite"),
    ([{**RESULTS[0], "score": float("nan")}], "bbox", r"results\[0\]\.score"),
    ([{**RESULTS[0], "bbox": [0, 0, 1]}], "bbox", r"results\[0\]\.bbox: bbox must be 4"),
    ([{**RESULTS[0], "image_id": True}], "bbox", r"results\[0\]\.image_id: id must be an integer"),
    ([{"image_id": 1, "category_id": 3, "segmentation": [[0, 0, 1, 0, 1, 1]], "score": 0.5}],
     "segm", r"results\[0\]\.segmentation: result segmentation must be an RLE dict"),
    ([{"image_id": 1, "category_id": 3, "segmentation": {"size": [80, 100], "counts": "a"},
       "score": 0.5, "bbox": [0, 0, 1, 1]},
      {"image_id": 1, "category_id": 3, "segmentation": {"size": [80, 100], "counts": "a"},
       "score": 0.5}], "segm", r"results\[1\]: either every segm result has a bbox or none"),
    ([{"image_id": 1, "category_id": 3, "keypoints": [1, 2], "score": 0.5}], "keypoints",
     r"results\[0\]\.keypoints: keypoints must be 51"),
])
def test_bad_results_name_file_and_entry(tmp_path, results, iou_type, message):
    gt = validate_coco_gt(GT, iou_type="segm")
    path = write(tmp_path, "r.json", results)
    with pytest.raises(UserError, match=message) as err:
        load_coco_results(path, gt, iou_type=iou_type)
    assert str(err.value).startswith(f"{path}: ")


def test_unreadable_files(tmp_path):
    with pytest.raises(UserError, match=r"nope.json: file not found"):
        load_coco_gt(tmp_path / "nope.json")
    path = write(tmp_path, "broken.json", '{"images": [],\n  "annotations": [}')
    with pytest.raises(UserError, match=r"broken.json:2: invalid JSON"):
        load_coco_gt(path)
    with pytest.raises(UserError, match="expected a COCO object"):
        load_coco_gt(write(tmp_path, "list.json", []))
    with pytest.raises(UserError, match="is a directory"):
        load_coco_gt(tmp_path)


def _outcome(fn):
    try:
        return "ok", fn()
    except UserError as exc:
        return "error", str(exc)


def test_bulk_box_check_agrees_with_the_entry_by_entry_check(monkeypatch):
    """Random results lists, mostly plain, sometimes with one unusual entry (float or bool id,
    string score, NaN, negative size, short box, missing key, unknown image or category), with
    and without a category map: the one-loop check of plain lists gives what the entry-by-entry
    check alone gives, and ``copy=False`` returns the caller's own list when it is plain."""
    import math
    import random

    from vcmctc.datasets import coco

    def entry_by_entry(dets, gt, **kw):
        with monkeypatch.context() as m:
            m.setattr(coco, "_plain_box_results", lambda *a: None)
            return validate_coco_results(dets, gt, **kw)

    gt = validate_coco_gt(GT)
    swap = {1: 3, 3: 1, 2: 1}
    oddities = [("image_id", 1.0), ("image_id", True), ("image_id", 7), ("category_id", 2),
                ("category_id", 3.0), ("score", "0.5"), ("score", math.nan), ("score", 10**400),
                ("bbox", [1, 2, -3, 4]), ("bbox", [1, 2, 3]), ("bbox", (1, 2, 3, 4)),
                ("bbox", [1, 2, math.inf, 4]), ("bbox", [1, "2", 3, 4]), ("score", None)]
    rng = random.Random(3)
    for case in range(300):
        dets = [{"image_id": rng.choice([1, 2]), "category_id": rng.choice([1, 3]),
                 "bbox": [rng.uniform(0, 50), rng.randint(0, 9), rng.uniform(0, 9), 4],
                 "score": rng.random()} for _ in range(rng.randint(0, 6))]
        if dets and case % 3:
            i = rng.randrange(len(dets))
            key, value = rng.choice(oddities + [("delete", None)])
            if key == "delete":
                del dets[i][rng.choice(list(dets[i]))]
            else:
                dets[i][key] = value
        before = copy.deepcopy(dets)
        fast = _outcome(lambda: validate_coco_results(dets, gt))
        assert fast == _outcome(lambda: entry_by_entry(dets, gt)), (case, dets)
        mapped = _outcome(lambda: validate_coco_results(dets, gt, category_map=swap))
        assert mapped == _outcome(lambda: entry_by_entry(dets, gt, category_map=swap))
        assert dets == before                      # copies: the input is untouched
        owned = _outcome(lambda: validate_coco_results(dets, gt, copy=False))
        assert owned == fast
        if not (dets and case % 3):                # no oddity: a plain list, returned as is
            assert owned[1] is dets
