"""Open Images loaders: every bad input is a UserError naming the file and line (or entry); the
JSON routes (MPEG ``oic_annotations``, plain COCO, COCO results) score like the CSV route."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from vcmctc.datasets.openimages import (
    decode_mask_string,
    encode_mask_string,
    load_coco_ground_truth,
    load_ground_truth,
    load_label_map,
    load_predictions,
)
from vcmctc.errors import UserError
from vcmctc.evaluators.openimages import evaluate

from test_openimages_synth import make_dataset, write_dataset

BOXES = "ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf\n"
LABELS = "ImageID,LabelName,Confidence\n"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, message, line", [
    ("ImageID,LabelName,XMin,XMax,YMin,YMax\nA,c,0,1,0,1\n", "missing column(s) IsGroupOf", 1),
    (BOXES + "A,c,0,1,0,1,0\nA,c,zero,1,0,1,0\n", "XMin: 'zero' is not a number", 3),
    (BOXES + "A,c,0,1,0,1,0\n\nA,c,0,1,0,oops,0\n", "YMax: 'oops' is not a number", 4),
    (BOXES + "A,c,0,1,0,1,0\nA,c,0,1,0,1,0,7\n", "Expected 7 fields", 3),
    (BOXES + "A,c,0,1,0,1,0\nA,c,0,1,0\n", "YMax: missing value", 3),
    (BOXES + "A,c,0,1,0,1,0.5\n", "IsGroupOf: 0.5 is not an integer", 2),
    (BOXES + "A,,0,1,0,1,0\n", "LabelName: missing value", 2),
    (BOXES + "A,c,0,inf,0,1,0\n", "XMax: inf is not a finite number", 2),
    ("", "empty file", 1),
])
def test_bad_boxes_csv(tmp_path, text, message, line):
    path = write(tmp_path, "boxes.csv", text)
    with pytest.raises(UserError) as err:
        load_ground_truth(path)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(err.value)


def test_bad_labels_and_predictions(tmp_path):
    boxes = write(tmp_path, "b.csv", BOXES + "A,c,0,1,0,1,0\n")
    labels = write(tmp_path, "l.csv", LABELS + "A,c,1\nA,d,yes\n")
    with pytest.raises(UserError, match=r"l\.csv:3: Confidence: 'yes' is not a number"):
        load_ground_truth(boxes, labels)
    gt = load_ground_truth(boxes)
    pred = write(tmp_path, "p.csv", "ImageID,LabelName,XMin,XMax,YMin,YMax\nA,c,0,1,0,1\n")
    with pytest.raises(UserError, match=r"p\.csv:1: missing column\(s\) Score"):
        load_predictions(pred, gt)
    pred = write(tmp_path, "p.csv",
                 "ImageID,LabelName,Score,XMin,XMax,YMin,YMax\nA,c,high,0,1,0,1\n")
    with pytest.raises(UserError, match=r"p\.csv:2: Score: 'high' is not a number"):
        load_predictions(pred, gt)
    with pytest.raises(UserError, match="file not found"):
        load_predictions(tmp_path / "nope.csv", gt)
    with pytest.raises(UserError, match="needs COCO-style ground truth"):
        load_predictions(write(tmp_path, "r.json", "[]"), gt)


def test_bad_masks(tmp_path):
    boxes = write(tmp_path, "b.csv", BOXES + "A,c,0,1,0,1,0\n")
    header = "ImageID,LabelName,ImageWidth,ImageHeight,XMin,YMin,XMax,YMax,IsGroupOf,Mask\n"
    masks = write(tmp_path, "m.csv", header + "A,c,4,4,0,0,1,1,0,@@notbase64@@\n")
    with pytest.raises(UserError, match=r"m\.csv:2: Mask: not base64/zlib"):
        load_ground_truth(boxes, masks=masks)
    good = encode_mask_string(np.ones((4, 4), np.uint8))
    masks = write(tmp_path, "m.csv", header + f"A,c,4,4,0,0,1,1,0,{good}\n")
    gt = load_ground_truth(boxes, masks=masks)
    pred = write(tmp_path, "p.csv", "ImageID,ImageWidth,ImageHeight,LabelName,Score,Mask\n"
                 f"A,8,8,c,0.9,{encode_mask_string(np.ones((8, 8), np.uint8))}\n")
    with pytest.raises(UserError, match="detection masks are"):
        evaluate(gt, load_predictions(pred, gt, masks=True), masks=True)
    with pytest.raises(UserError, match="mask evaluation needs ground truth masks"):
        evaluate(load_ground_truth(boxes), {}, masks=True)


def test_mask_string_round_trip():
    rng = np.random.default_rng(0)
    m = (rng.random((7, 9)) < 0.4).astype(np.uint8)
    rle = decode_mask_string(encode_mask_string(m), 7, 9)
    np.testing.assert_array_equal(mask_utils.decode(rle), m)


def test_label_maps(tmp_path):
    pbtxt = write(tmp_path, "m.pbtxt", 'item {\n  name: "/m/01g317"\n  id: 2\n'
                  '  display_name: "Person"\n}\nitem { name: \'car\' id: 1 }\n')
    lm = load_label_map(pbtxt)
    assert lm.names == ["car", "/m/01g317"] and lm.ids == [1, 2]
    js = write(tmp_path, "m.json", json.dumps({"oic_labelmap": [{"id": 1, "name": "cell phone"}]}))
    assert load_label_map(js).keys == ["cell_phone"]
    txt = write(tmp_path, "selected_classes.txt", "person\ncell phone\n\n")
    assert load_label_map(txt).names == ["person", "cell phone"]
    with pytest.raises(UserError, match="needs 'name' and 'id'"):
        load_label_map(write(tmp_path, "bad.pbtxt", "item { name: 'x' }\n"))
    with pytest.raises(UserError, match="duplicate class"):
        load_label_map(write(tmp_path, "dup.txt", "cell phone\ncell_phone\n"))
    with pytest.raises(UserError, match=r"entry 0"):
        load_label_map(write(tmp_path, "bad.json", json.dumps([{"id": "x", "name": "a"}])))


def test_label_map_restricts_and_normalises_names(tmp_path):
    """Names are matched as lower case with underscores ('Cell Phone' == 'cell_phone'); GT rows
    outside the label map are dropped and counted, detections of unknown classes ignored."""
    boxes = write(tmp_path, "b.csv", BOXES + "A,cell_phone,0,1,0,1,0\nA,zebra,0,1,0,1,0\n")
    lm = write(tmp_path, "lm.txt", "Cell Phone\n")
    gt = load_ground_truth(boxes, label_map=lm)
    assert gt.classes == ["Cell Phone"] and gt.num_boxes == 1
    assert gt.dropped == {"boxes outside label map": 1}
    pred = write(tmp_path, "p.csv", "ImageID,LabelName,Score,XMin,XMax,YMin,YMax\n"
                 "A,cell phone,0.9,0,1,0,1\nA,zebra,0.95,0,1,0,1\n")
    res = evaluate(gt, load_predictions(pred, gt))
    assert res.per_class() == {"Cell Phone": 1.0}
    assert res.counts["unknown_class"] == 1


def test_hierarchy_unknown_label(tmp_path):
    boxes = write(tmp_path, "b.csv", BOXES + "A,Cat,0,1,0,1,0\nA,Cow,0,1,0,1,0\n")
    h = write(tmp_path, "h.json", json.dumps({"LabelName": "r", "Subcategory": [
        {"LabelName": "Cat"}]}))
    with pytest.raises(UserError, match=r"b\.csv:3: LabelName 'Cow' is not in the hierarchy"):
        load_ground_truth(boxes, hierarchy=h)
    with pytest.raises(UserError, match="expected a hierarchy object"):
        load_ground_truth(boxes, hierarchy=write(tmp_path, "bad.json", "[]"))


def test_predictions_for_unknown_images_are_ignored(tmp_path):
    boxes = write(tmp_path, "b.csv", BOXES + "A,c,0,1,0,1,0\n")
    gt = load_ground_truth(boxes)
    pred = write(tmp_path, "p.csv", "ImageID,LabelName,Score,XMin,XMax,YMin,YMax\n"
                 "Z,c,0.9,0,1,0,1\nA,c,0.5,0,1,0,1\n")
    res = evaluate(gt, load_predictions(pred, gt))
    assert res.per_class() == {"c": 1.0}
    assert res.counts["unknown_image_detections"] == 1


def test_masks_only_gt_and_exact_merge(tmp_path):
    """A mask row whose coordinates differ from its box (e.g. 6 vs 8 decimals) does not merge:
    the reference's outer merge then holds a box-only and a mask instance."""
    boxes = write(tmp_path, "b.csv", BOXES + "A,c,0.12345678,1,0,1,0\n")
    header = "ImageID,LabelName,ImageWidth,ImageHeight,XMin,YMin,XMax,YMax,IsGroupOf,Mask\n"
    m = encode_mask_string(np.ones((4, 4), np.uint8))
    masks = write(tmp_path, "m.csv", header + f"A,c,4,4,0.123457,0,1,1,0,{m}\n")
    merged = load_ground_truth(boxes, masks=masks)
    assert merged.num_boxes == 2
    assert sum(x is None for x in merged.images["A"].masks) == 1
    assert load_ground_truth(None, masks=masks).num_boxes == 1
    exact = write(tmp_path, "m2.csv", header + f"A,c,4,4,0.12345678,0,1,1,0,{m}\n")
    assert load_ground_truth(boxes, masks=exact).num_boxes == 1


def _to_mpeg_json(gt, with_masks):
    """The GT in the MPEG/CompressAI-Vision JSON layout (oic_labelmap + oic_annotations)."""
    oic = []
    for key, img in gt.images.items():
        ann = {"bbox": img.boxes.tolist(), "cls": [int(c) + 1 for c in img.labels],
               "group_of": img.group_of.astype(int).tolist(),
               "img_cls": [gt.classes[c] for c in img.verified]}
        if with_masks:
            ann["mask"] = ["nan" if m is None else encode_mask_string(mask_utils.decode(m))
                           for m in img.masks]
            ann["img_size"] = [{"img_height": 24, "img_width": 32}] * len(img.labels)
        oic.append({"image_id": key, "annotations": ann})
    return {"oic_labelmap": [{"id": i + 1, "name": n} for i, n in enumerate(gt.classes)],
            "oic_annotations": oic}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("masks", [False, True])
def test_mpeg_json_gt_scores_like_csv(tmp_path, seed, masks):
    data = make_dataset(seed, masks=masks)
    paths = write_dataset(data, tmp_path)
    gt = load_ground_truth(paths["boxes"], paths["labels"],
                           masks=paths.get("masks") if masks else None)
    js = write(tmp_path, "gt.json", json.dumps(_to_mpeg_json(gt, masks)))
    gt_json = load_coco_ground_truth(js, masks=masks)
    a = evaluate(gt, load_predictions(paths["preds"], gt, masks=masks), masks=masks)
    b = evaluate(gt_json, load_predictions(paths["preds"], gt_json, masks=masks), masks=masks)
    assert a.per_class() == b.per_class()
    assert a.map == b.map


def test_plain_coco_gt_and_coco_results(tmp_path):
    """Plain COCO: iscrowd = group-of, neg_category_ids = verified negative; COCO results are
    normalised by the image size. Hand-worked: image 1 (64x32): a cat box and a crowd of dogs;
    image 2: dog verified negative.
    cat: TP 0.9 -> AP 1. dog: image 2 FP 0.95, image 1 group hit 0.8 -> AP 1/2. mAP 3/4."""
    coco = {"images": [{"id": 1, "width": 64, "height": 32},
                       {"id": 2, "width": 64, "height": 32, "neg_category_ids": [18]}],
            "categories": [{"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 17, "bbox": [0, 0, 32, 16], "iscrowd": 0},
                {"id": 2, "image_id": 1, "category_id": 18, "bbox": [32, 0, 32, 32],
                 "iscrowd": 1}]}
    gt = load_coco_ground_truth(write(tmp_path, "gt.json", json.dumps(coco)))
    results = [{"image_id": 1, "category_id": 17, "bbox": [0, 0, 32, 16], "score": 0.9},
               {"image_id": 1, "category_id": 18, "bbox": [40, 8, 8, 8], "score": 0.8},
               {"image_id": 2, "category_id": 18, "bbox": [0, 0, 8, 8], "score": 0.95}]
    preds = load_predictions(write(tmp_path, "r.json", json.dumps(results)), gt)
    res = evaluate(gt, preds)
    assert res.per_class() == {"cat": 1.0, "dog": 0.5}
    assert res.map == 0.75
    bad = [{"image_id": 3, "category_id": 17, "bbox": [0, 0, 1, 1], "score": 0.5}]
    with pytest.raises(UserError, match=r"result 0: image_id 3 is not in the ground truth"):
        load_predictions(write(tmp_path, "bad.json", json.dumps(bad)), gt)
    with pytest.raises(UserError, match=r"annotations\[0\]: category_id 5 is not in"):
        coco["annotations"][0]["category_id"] = 5
        load_coco_ground_truth(write(tmp_path, "bad_gt.json", json.dumps(coco)))


def test_many_masks_in_one_call(tmp_path):
    """More than 255 masks in one file (pycocotools 2.0.11 ``area`` breaks past 255 on NumPy 2:
    the loader chunks the call); an all-zero GT mask counts as no mask."""
    header = "ImageID,LabelName,ImageWidth,ImageHeight,XMin,YMin,XMax,YMax,IsGroupOf,Mask\n"
    full = encode_mask_string(np.ones((4, 4), np.uint8))
    empty = encode_mask_string(np.zeros((4, 4), np.uint8))
    rows = [f"I{k},c,4,4,0,0,1,1,0,{empty if k == 299 else full}" for k in range(300)]
    gt = load_ground_truth(None, masks=write(tmp_path, "m.csv", header + "\n".join(rows) + "\n"))
    assert gt.num_boxes == 300
    assert gt.images["I299"].masks == [None] and gt.images["I0"].masks[0] is not None


def test_csv_predictions_against_coco_gt_use_file_name_stems(tmp_path):
    """A COCO GT keyed by integer ids accepts challenge-CSV detections keyed by the Open Images
    ImageID (the image's file-name stem)."""
    coco = {"images": [{"id": 7, "width": 10, "height": 10, "file_name": "0001eeaf4aed83f9.jpg"}],
            "categories": [{"id": 1, "name": "airplane"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5]}]}
    gt = load_coco_ground_truth(write(tmp_path, "gt.json", json.dumps(coco)))
    pred = write(tmp_path, "p.csv", "ImageID,LabelName,Score,XMin,XMax,YMin,YMax\n"
                 "0001eeaf4aed83f9,airplane,0.9,0,0.5,0,0.5\n7,airplane,0.8,0.5,1,0.5,1\n")
    res = evaluate(gt, load_predictions(pred, gt))
    # both rows reach image 7: the TP first (0.9), then a FP -> AP 1
    assert res.per_class() == {"airplane": 1.0}
    assert res.num_entries[0] == 2


def test_oiv6_segmentations_csv_with_png_masks(tmp_path):
    """Open Images V6 ``segmentations.csv``: Box* columns, masks as PNG files (non-zero = on);
    IsGroupOf is 0. The row merges with the identical box of the boxes CSV."""
    from PIL import Image

    boxes = write(tmp_path, "b.csv", BOXES + "A,c,0,0.5,0,0.5,0\n")
    mask = np.zeros((4, 4), np.uint8)
    mask[:2, :2] = 255
    (tmp_path / "masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "masks" / "A_c_1.png")
    seg = write(tmp_path, "segmentations.csv",
                "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,"
                "PredictedIoU,Clicks\nA_c_1.png,A,c,1,0,0.5,0,0.5,0.9,\n")
    gt = load_ground_truth(boxes, masks=seg, mask_dir=tmp_path / "masks")
    assert gt.num_boxes == 1
    np.testing.assert_array_equal(mask_utils.decode(gt.images["A"].masks[0]), mask > 0)
    write(tmp_path, "segmentations.csv",
          "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax\n"
          "A_c_1.png,A,c,1,0,0.5,0,0.5\nnope.png,A,c,2,0,0.5,0,0.5\n")
    with pytest.raises(UserError, match=r"segmentations\.csv:3: mask PNG not found"):
        load_ground_truth(boxes, masks=seg, mask_dir=tmp_path / "masks")


def test_prediction_masks_first_bad_row_is_reported(tmp_path):
    boxes = write(tmp_path, "b.csv", BOXES + "A,c,0,1,0,1,0\n")
    gt = load_ground_truth(boxes)
    good = encode_mask_string(np.ones((4, 4), np.uint8))
    head = "ImageID,ImageWidth,ImageHeight,LabelName,Score,Mask\n"
    rows = [f"A,4,4,c,0.9,{good}", "A,4,4,c,0.8,", "A,4,4,c,0.7,@@notbase64@@",
            f"A,0,4,c,0.6,{good}"]
    with pytest.raises(UserError, match=r"p\.csv:4: Mask: not base64/zlib"):
        load_predictions(write(tmp_path, "p.csv", head + "\n".join(rows) + "\n"), gt,
                         masks=True)
    rows[2], rows[3] = rows[3], rows[2]
    with pytest.raises(UserError, match=r"p\.csv:4: ImageWidth/ImageHeight must be positive"):
        load_predictions(write(tmp_path, "p.csv", head + "\n".join(rows) + "\n"), gt,
                         masks=True)
    # an empty Mask needs no size; a bad zlib stream after valid base64 is an error too
    rows = ["A,,,c,0.9,", f"A,4,4,c,0.8,{base64.b64encode(b'not zlib').decode()}"]
    with pytest.raises(UserError, match=r"p\.csv:3: Mask: not base64/zlib"):
        load_predictions(write(tmp_path, "p.csv", head + "\n".join(rows) + "\n"), gt,
                         masks=True)


@pytest.mark.parametrize("seed", range(3))
def test_prediction_mask_boxes_of_evaluated_detections(seed, tmp_path):
    """Tight boxes (pycocotools toBbox, one mask at a time) for every detection the evaluation
    looks at (image in the GT, class verified there), zeros for the others."""
    data = make_dataset(seed, n_images=25, masks=True)
    paths = write_dataset(data, tmp_path)
    gt = load_ground_truth(paths["boxes"], paths["labels"], masks=paths["masks"])
    preds = load_predictions(paths["preds"], gt, masks=True)
    looked_at = 0
    for key, pred in preds.items():
        image = gt.images.get(key)
        verified = set() if image is None else set(image.verified.tolist()) | set(
            image.labels.tolist())
        for box, label, rle in zip(pred.boxes, pred.labels.tolist(), pred.masks):
            if label in verified and rle is not None:
                looked_at += 1
                x, y, w, h = mask_utils.toBbox(rle)
                H, W = rle["size"]
                expected = [y / H, x / W, (y + h) / H, (x + w) / W] if w > 0 and h > 0 \
                    else [0.0] * 4
                assert box.tolist() == expected
            else:
                assert box.tolist() == [0.0] * 4
    assert looked_at > 0
