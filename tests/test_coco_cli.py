"""``vcmctc score coco``."""

from __future__ import annotations

import json
import math

import pytest

from vcmctc.evaluators.coco import DETECTION_STATS, evaluate_coco, evaluate_coco_pooled

GT = {
    "images": [{"id": 1, "width": 200, "height": 100}, {"id": 2, "width": 200, "height": 100}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "area": 2500,
         "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 3, "bbox": [0, 0, 100, 100], "area": 10000,
         "iscrowd": 0},
    ],
    "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
}
PRED = [{"image_id": 1, "category_id": 1, "bbox": [12, 10, 50, 50], "score": 0.9},
        {"image_id": 2, "category_id": 3, "bbox": [0, 0, 100, 78], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [150, 50, 20, 20], "score": 0.7}]


@pytest.fixture
def files(tmp_path):
    gt, pred = tmp_path / "gt.json", tmp_path / "pred.json"
    gt.write_text(json.dumps(GT))
    pred.write_text(json.dumps(PRED))
    return gt, pred


@pytest.mark.parametrize("backend", ["pycocotools", "faster-coco-eval"])
def test_json_output(cli, files, backend):
    gt, pred = files
    r = cli("score", "coco", "--gt", gt, "--pred", pred, "--backend", backend, "--format", "json")
    assert r.code == 0, r.err
    out = r.json()
    assert list(out) == list(DETECTION_STATS)
    expected = evaluate_coco(GT, PRED, backend="pycocotools")
    for name, value in expected.items():
        if math.isnan(value):
            assert out[name] is None  # NaN is written as null
        else:
            assert out[name] == pytest.approx(value, abs=1e-9)
    assert out["APs"] is None  # no small GT box


def test_text_and_csv_output(cli, files):
    gt, pred = files
    r = cli("score", "coco", "--gt", gt, "--pred", pred)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    # the default backend is the one evaluate uses, named in the output
    from vcmctc.evaluators.coco import DEFAULT_BACKEND

    assert lines[0].startswith(f"COCO bbox: 2 images, 2 GT, 3 results; backend {DEFAULT_BACKEND} ")
    assert [line.split()[0] for line in lines[1:]] == list(DETECTION_STATS)
    assert lines[4].split() == ["APs", "n/a"]
    r = cli("score", "coco", "--gt", gt, "--pred", pred, "--format", "csv")
    header, values = r.out.splitlines()
    assert header.split(",") == list(DETECTION_STATS)
    assert values.split(",")[3] == ""
    assert float(values.split(",")[0]) == pytest.approx(
        evaluate_coco(GT, PRED, backend="pycocotools")["AP"], abs=1e-12)


def test_sfu_txt_folder_and_contiguous_ids(cli, tmp_path):
    """SFU txt GT with contiguous-id predictions: one horse (index 17 -> COCO 19) found exactly."""
    folder = tmp_path / "RaceHorses"
    folder.mkdir()
    (folder / "RaceHorses_000.txt").write_text("17 0.5 0.25 0.25 0.5\n")
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"image_id": 0.0, "category_id": 17,
                                 "bbox": [156.0, 0.0, 104.0, 120.0], "score": 0.9}]))
    r = cli("score", "coco", "--gt", folder, "--width", 416, "--height", 240, "--pred", pred,
            "--pred-ids", "contiguous", "--format", "json")
    assert r.code == 0, r.err
    assert r.json()["AP"] == pytest.approx(100.0, abs=1e-9)
    # without --pred-ids, 17 is read as the COCO id 17 (cat): listed, never annotated, so the
    # horse is missed. (Real contiguous outputs nearly always hold a person, id 0, which is no
    # COCO id and fails loudly; see test_bad_input_exit_2_one_line.)
    r = cli("score", "coco", "--gt", folder, "--width", 416, "--height", 240, "--pred", pred,
            "--format", "json")
    assert r.code == 0 and r.json()["AP"] == 0.0


def test_repeated_pairs_are_pooled(cli, files, tmp_path):
    """Two --gt/--pred pairs give the pooled evaluation (not the mean of the two)."""
    gt, pred = files
    pred2 = tmp_path / "pred2.json"
    worse = [{**PRED[0], "score": 0.2}, {**PRED[1], "bbox": [50, 0, 100, 100]}]
    pred2.write_text(json.dumps(worse))
    r = cli("score", "coco", "--gt", gt, "--pred", pred, "--gt", gt, "--pred", pred2,
            "--format", "json")
    assert r.code == 0, r.err
    expected = evaluate_coco_pooled([(GT, PRED), (GT, worse)])
    assert r.json()["AP"] == pytest.approx(expected["AP"], abs=1e-9)
    mean = (evaluate_coco(GT, PRED)["AP"] + evaluate_coco(GT, worse)["AP"]) / 2
    assert abs(r.json()["AP"] - mean) > 1
    r = cli("score", "coco", "--gt", gt, "--pred", pred, "--gt", gt, "--pred", pred2)
    assert "(pooled over 2 ground truths): 4 images, 4 GT, 5 results" in r.out


@pytest.mark.parametrize("args, message", [
    (["--pred", "{pred}", "--gt", "{tmp}/missing.json"], "missing.json: file not found"),
    (["--pred", "{gt}", "--gt", "{gt}"], "got a COCO dataset object"),
    (["--pred", "{pred}", "--gt", "{gt}", "--backend", "detectron"], "unknown COCO backend"),
    (["--pred", "{pred}", "--gt", "{gt}", "--iou-type", "mask"], "unknown IoU type 'mask'"),
    (["--pred", "{bad}", "--gt", "{gt}"], r"results\[1\]\.image_id: image_id 9"),
    (["--pred", "{pred}", "--gt", "{tmp}"], "--width and --height are required"),
    (["--pred", "{pred}", "--gt", "{gt}", "--gt-format", "sfu-json", "--iou-type", "segm"],
     "SFU-HW ground truth has boxes only"),
    (["--pred", "{person0}", "--gt", "{gt}"], r"category_id 0 is not a ground-truth category"),
    (["--pred", "{pred}", "--gt", "{gt}", "--gt", "{gt}"], "2 --gt but 1 --pred"),
    (["--pred", "{pred}", "--gt", "{gt}", "--pred", "{pred}", "--gt", "{gt}", "--frames", "1",
      "--frames", "2", "--frames", "3"], "--frames given 3 times; give it once or once per --gt"),
])
def test_bad_input_exit_2_one_line(cli, files, tmp_path, args, message):
    import re

    gt, pred = files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([PRED[0], {**PRED[1], "image_id": 9}]))
    person0 = tmp_path / "person0.json"
    person0.write_text(json.dumps([{**PRED[0], "category_id": 0}]))
    args = [a.format(gt=gt, pred=pred, bad=bad, person0=person0, tmp=tmp_path) for a in args]
    r = cli("score", "coco", *args)
    assert r.code == 2
    assert r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("vcmctc: error: ")
    assert re.search(message, r.err), r.err
