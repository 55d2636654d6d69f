"""Hand-worked cases, one per rule of the Open Images Challenge metric, plus the AP computation
checked against an independent brute-force formulation.

Boxes are written [ymin, xmin, ymax, xmax] in the comments; coordinates are dyadic fractions so
every IoU below is exact in binary floating point.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vcmctc.datasets.openimages import (
    encode_mask_string,
    load_ground_truth,
    load_predictions,
)
from vcmctc.evaluators.openimages import average_precision, evaluate

BOX_HEADER = "ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf"
PRED_HEADER = "ImageID,LabelName,Score,XMin,XMax,YMin,YMax"


def box_row(image, label, yxyx, group_of=0):
    y0, x0, y1, x1 = yxyx
    return f"{image},{label},{x0},{x1},{y0},{y1},{group_of}"


def pred_row(image, label, score, yxyx):
    y0, x0, y1, x1 = yxyx
    return f"{image},{label},{score},{x0},{x1},{y0},{y1}"


def run(tmp_path, boxes, labels, preds, **kw):
    (tmp_path / "b.csv").write_text("\n".join([BOX_HEADER, *boxes]) + "\n")
    (tmp_path / "l.csv").write_text("\n".join(["ImageID,LabelName,Confidence", *labels]) + "\n")
    (tmp_path / "p.csv").write_text("\n".join([PRED_HEADER, *preds]) + "\n")
    hierarchy = kw.pop("hierarchy", None)
    gt = load_ground_truth(tmp_path / "b.csv", tmp_path / "l.csv", hierarchy=hierarchy)
    return evaluate(gt, load_predictions(tmp_path / "p.csv", gt), **kw)


def test_rule1_verified_labels(tmp_path):
    """Image A: a cat box, dog verified negative, fish not verified. Image B: a dog box and a fish
    box, no image-level labels (GT classes are implicitly verified).

    cat: A TP 0.9                                  -> AP 1
    dog: A FP 0.8 (negative label), B TP 0.7       -> precision 1/2 at recall 1 -> AP 0.5
    fish: A 0.95 ignored (unverified), B TP 0.6    -> AP 1 (it would be 0.5 if A counted)
    mAP = (1 + 0.5 + 1) / 3
    """
    res = run(tmp_path,
              [box_row("A", "cat", (0, 0, .5, .5)), box_row("B", "dog", (0, 0, .5, .5)),
               box_row("B", "fish", (.5, .5, 1, 1))],
              ["A,cat,1", "A,dog,0"],
              [pred_row("A", "cat", 0.9, (0, 0, .5, .5)),
               pred_row("A", "dog", 0.8, (0, 0, .5, .5)),
               pred_row("A", "fish", 0.95, (0, 0, .5, .5)),
               pred_row("B", "dog", 0.7, (0, 0, .5, .5)),
               pred_row("B", "fish", 0.6, (.5, .5, 1, 1))])
    assert res.per_class() == {"cat": 1.0, "dog": 0.5, "fish": 1.0}
    assert res.map == pytest.approx(2.5 / 3, abs=1e-15)
    assert res.counts["unverified"] == 1


def test_rule1_negative_label_without_gt_class_is_fp_only(tmp_path):
    """A class verified negative everywhere has no GT instance: no AP, not in the mean."""
    res = run(tmp_path, [box_row("A", "cat", (0, 0, .5, .5))], ["A,dog,0"],
              [pred_row("A", "dog", 0.9, (0, 0, .5, .5)),
               pred_row("A", "cat", 0.5, (0, 0, .5, .5))])
    assert res.per_class() == {"cat": 1.0}
    assert res.num_entries[res.classes.index("dog")] == 1  # counted as FP, AP undefined
    assert res.map == 1.0


def test_rule2_sorting_matching_duplicates(tmp_path):
    """Three GT boxes of one class: G1 (0,0,.5,.5), G2 (0,.25,.5,.75), G3 (.5,.5,.75,.75).

    d1 0.9 = G1                      IoU 1 with G1                        -> TP (G1)
    d2 0.8 = (0,.125,.5,.625)        IoU 0.6 with G1 and 0.6 with G2: the first best GT (G1) is
                                     taken, the evaluator does not fall back to G2 -> FP
    d3 0.7 = G2                                                            -> TP (G2)
    d4 0.6 = (.5,.5,.75,.625)        IoU 0.03125/0.0625 = 0.5 exactly with G3 -> TP (>=)
    d5 0.5 far away                                                        -> FP
    Rows are given in shuffled order: sorting by score is the evaluator's job.
    TP FP TP TP FP, 3 GT: precision 1, 1/2, 2/3, 3/4, 3/5; recall 1/3, 1/3, 2/3, 1, 1.
    Envelope at recall 1/3, 2/3, 1: 1, 3/4, 3/4 -> AP = 1/3 + 1/3*3/4 + 1/3*3/4 = 5/6.
    """
    g1, g2, g3 = (0, 0, .5, .5), (0, .25, .5, .75), (.5, .5, .75, .75)
    res = run(tmp_path, [box_row("A", "c", b) for b in (g1, g2, g3)], [],
              [pred_row("A", "c", 0.6, (.5, .5, .75, .625)),
               pred_row("A", "c", 0.8, (0, .125, .5, .625)),
               pred_row("A", "c", 0.5, (.875, .875, 1, 1)),
               pred_row("A", "c", 0.9, g1),
               pred_row("A", "c", 0.7, g2)])
    assert res.per_class()["c"] == pytest.approx(5 / 6, abs=1e-15)
    assert res.num_tp[0] == 3 and res.num_gt[0] == 3 and res.num_entries[0] == 5


def test_rule2_just_below_threshold_is_fp(tmp_path):
    """IoU 0.4921875 (63/128) < 0.5: FP; the GT stays unmatched -> AP 0."""
    res = run(tmp_path, [box_row("A", "c", (0, 0, .5, .5))], [],
              [pred_row("A", "c", 0.9, (0, 0, .5, .25 - 1 / 256))])
    assert res.per_class() == {"c": 0.0}


@pytest.mark.parametrize("weight, expected_ap, expected_gt", [(1.0, 2 / 3, 3), (0.0, 1.0, 1)])
def test_rule3_group_of(tmp_path, weight, expected_ap, expected_gt):
    """Image A: group-of box G (0,0,.5,.5) and a regular box R (.5,.5,1,1). Image B: a group-of
    box nobody detects.

    g1 0.9 (0,0,.25,.25) inside G (IoA 1)                    -> group hit
    g2 0.8 (.25,.25,.5,.5) inside G                          -> group hit
    g3 0.7 (0,.25,.25,.75): IoA = 0.0625/0.125 = 0.5 with G  -> group hit (IoU would be 0.2)
    r1 0.6 = R -> TP;  dup 0.5 = R -> duplicate FP;  f 0.4 outside both -> FP
    weight 1: one entry for G (score 0.9, TP); num_gt = R + G + B's box = 3.
      entries 0.9 TP, 0.6 TP, 0.5 FP, 0.4 FP -> precision 1, 1 at recall 1/3, 2/3 -> AP 2/3.
    weight 0: group hits are ignored (not FP) and group-of boxes do not count; num_gt = 1.
      entries 0.6 TP, 0.5 FP, 0.4 FP -> AP 1.
    """
    res = run(tmp_path,
              [box_row("A", "c", (0, 0, .5, .5), 1), box_row("A", "c", (.5, .5, 1, 1)),
               box_row("B", "c", (0, 0, 1, 1), 1)], [],
              [pred_row("A", "c", 0.9, (0, 0, .25, .25)),
               pred_row("A", "c", 0.8, (.25, .25, .5, .5)),
               pred_row("A", "c", 0.7, (0, .25, .25, .75)),
               pred_row("A", "c", 0.6, (.5, .5, 1, 1)),
               pred_row("A", "c", 0.5, (.5, .5, 1, 1)),
               pred_row("A", "c", 0.4, (.5, 0, .75, .25))],
              group_of_weight=weight)
    assert res.per_class()["c"] == pytest.approx(expected_ap, abs=1e-15)
    assert res.num_gt[0] == expected_gt
    assert res.num_entries[0] == (4 if weight else 3)


def test_rule3_true_positive_is_not_rescued_and_group_score_is_max(tmp_path):
    """A detection that is a TP on a regular box is not also a group hit; the group-of entry
    takes the highest score among its hits (0.7, not 0.3)."""
    res = run(tmp_path,
              [box_row("A", "c", (0, 0, 1, 1), 1), box_row("A", "c", (0, 0, .5, .5))], [],
              [pred_row("A", "c", 0.9, (0, 0, .5, .5)),  # TP on the regular box
               pred_row("A", "c", 0.3, (.5, .5, .75, .75)),  # group hit
               pred_row("A", "c", 0.7, (.5, 0, .75, .25)),  # group hit
               pred_row("A", "c", 0.8, (0, 0, .5, .5))])  # duplicate: group hit, not FP
    # entries: 0.9 TP, group 0.8 TP (max of 0.8, 0.7, 0.3) -> 2 TP / 2 GT -> AP 1
    assert res.per_class() == {"c": 1.0}
    assert res.num_entries[0] == 2


def test_rule4_average_precision_by_hand():
    """TP FP TP FP with 3 GT: precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3.
    Envelope 1 at recall 1/3, 2/3 at recall 2/3, nothing beyond -> AP = 1/3 + 1/3*2/3 = 5/9."""
    ap = average_precision(np.array([0.6, 0.9, 0.7, 0.8]), np.array([0.0, 1.0, 1.0, 0.0]), 3)
    assert ap == pytest.approx(5 / 9, abs=1e-15)
    assert math.isnan(average_precision(np.array([0.5]), np.array([0.0]), 0))
    assert average_precision(np.zeros(0), np.zeros(0), 2) == 0.0


def test_rule4_classes_without_gt_are_excluded(tmp_path):
    """Class 'b' only has detections (on a verified negative label): no AP, mAP = AP of 'a'."""
    res = run(tmp_path, [box_row("A", "a", (0, 0, .5, .5))], ["A,b,0"],
              [pred_row("A", "a", 0.5, (0, 0, .5, .5)), pred_row("A", "b", 0.9, (0, 0, 1, 1))])
    assert res.per_class() == {"a": 1.0}
    assert math.isnan(res.ap[res.classes.index("b")])
    assert res.map == 1.0


def brute_force_ap(scores, labels, num_gt):
    """Independent formulation: AP = sum over each recall level r reached of
    (r - previous level) * (best precision at any rank whose recall is >= r)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    ranks, tp, fp = [], 0.0, 0
    for i in order:
        if labels[i] > 0:
            tp += labels[i]
        else:
            fp += 1
        ranks.append((tp / (tp + fp), tp / num_gt))
    levels = sorted({r for _, r in ranks if r > 0})
    total, previous = 0.0, 0.0
    for r in levels:
        total += (r - previous) * max(p for p, rr in ranks if rr >= r)
        previous = r
    return total


@pytest.mark.parametrize("seed", range(200))
def test_rule4_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    scores = rng.permutation(n).astype(float) / n + rng.uniform(0, 1e-3)  # distinct
    labels = (rng.random(n) < rng.uniform(0.1, 0.9)).astype(float)
    if rng.random() < 0.3:  # group-of style weights
        labels[labels > 0] = rng.choice([0.5, 1.0], int((labels > 0).sum()))
    num_gt = float(labels.sum() + rng.integers(0, 5)) or 1.0
    assert average_precision(scores, labels, num_gt) == pytest.approx(
        brute_force_ap(list(scores), list(labels), num_gt), abs=1e-12)


def _mask(rows, cols, h=4, w=4):
    m = np.zeros((h, w), dtype=np.uint8)
    m[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = 1
    return encode_mask_string(m)


def test_rule5_masks(tmp_path):
    """4x4 image A: M1 = a GT with a mask (rows 0-1, cols 0-1), B1 = a GT box without a mask
    (.5,.5,1,1). 4x4 image B: G = a group-of GT whose mask is rows 0-3, cols 0-1.

    A d2 0.97 rows 2-3 cols 2-3: misses M1, its mask box equals B1 -> ignored (would be FP)
    A d3 0.95 rows 0-1 cols 1-3: mask IoU with M1 = 2/8; box (0,.25,.5,1) misses B1 -> FP
    A d1 0.90 rows 0-1 cols 0-2: mask IoU with M1 = 4/6 -> TP
    A d4 0.60 = M1 again: duplicate -> FP
    B e1 0.85 rows 0-1 col 0: mask IoA 2/2 with G -> group hit
    B e2 0.75 rows 0-3 cols 1-2: mask IoA 4/8 = 0.5 with G -> group hit
    num_gt = M1 + G = 2 (B1 has no mask). Entries FP .95, TP .90, TP .85 (group), FP .60:
    precision 0, 1/2, 2/3, 1/2 at recall 0, 1/2, 1, 1 -> AP = 1/2*2/3 + 1/2*2/3 = 2/3.
    """
    header = "ImageID,LabelName,ImageWidth,ImageHeight,XMin,YMin,XMax,YMax,IsGroupOf,Mask"
    (tmp_path / "b.csv").write_text("\n".join([
        BOX_HEADER, box_row("A", "c", (0, 0, .5, .5)), box_row("A", "c", (.5, .5, 1, 1)),
        box_row("B", "c", (0, 0, 1, .5), 1)]) + "\n")
    (tmp_path / "m.csv").write_text("\n".join([
        header, f"A,c,4,4,0,0,0.5,0.5,0,{_mask((0, 1), (0, 1))}",
        f"B,c,4,4,0,0,0.5,1,1,{_mask((0, 3), (0, 1))}"]) + "\n")
    (tmp_path / "l.csv").write_text("ImageID,LabelName,Confidence\n")
    preds = [("A", 0.97, (2, 3), (2, 3)), ("A", 0.95, (0, 1), (1, 3)), ("A", 0.9, (0, 1), (0, 2)),
             ("A", 0.6, (0, 1), (0, 1)), ("B", 0.85, (0, 1), (0, 0)), ("B", 0.75, (0, 3), (1, 2))]
    (tmp_path / "p.csv").write_text("\n".join(
        ["ImageID,ImageWidth,ImageHeight,LabelName,Score,Mask"]
        + [f"{i},4,4,c,{s},{_mask(r, c)}" for i, s, r, c in preds]) + "\n")
    gt = load_ground_truth(tmp_path / "b.csv", tmp_path / "l.csv", masks=tmp_path / "m.csv")
    res = evaluate(gt, load_predictions(tmp_path / "p.csv", gt, masks=True), masks=True)
    assert res.num_gt[0] == 2
    assert res.num_entries[0] == 4
    assert res.per_class()["c"] == pytest.approx(2 / 3, abs=1e-15)
    # the same detections scored on boxes: d2 is then a plain TP on B1
    box_gt = load_ground_truth(tmp_path / "b.csv", tmp_path / "l.csv")
    assert box_gt.num_boxes == 3


def test_rule6_hierarchy_expansion(tmp_path):
    """Hierarchy: Animal -> {Cat, Dog}, Pet -> {Cat} (Cat has two parents).

    Image A: a Cat box (expanded to Animal and Pet boxes). Image B: Animal verified negative
    (expanded to Cat and Dog negative). Image C: Cat verified positive (expanded to Animal, Pet).
    Cat: B 0.99 FP (negative via expansion), no TP            -> AP 0
    Animal: C 0.95 FP (positive via expansion), A 0.8 TP      -> AP 1/2
    Pet: A 0.7 TP                                             -> AP 1
    mAP = 1/2. Without expansion Animal and Pet have no GT, Cat's B detection is unverified,
    so only Cat counts, with no detection: mAP 0.
    """
    hierarchy = {"LabelName": "root", "Subcategory": [
        {"LabelName": "Animal", "Subcategory": [{"LabelName": "Cat"}, {"LabelName": "Dog"}]},
        {"LabelName": "Pet", "Subcategory": [{"LabelName": "Cat"}]}]}
    (tmp_path / "h.json").write_text(json.dumps(hierarchy))
    args = ([box_row("A", "Cat", (0, 0, .5, .5))], ["B,Animal,0", "C,Cat,1"],
            [pred_row("B", "Cat", 0.99, (0, 0, .5, .5)),
             pred_row("C", "Animal", 0.95, (0, 0, .5, .5)),
             pred_row("A", "Animal", 0.8, (0, 0, .5, .5)),
             pred_row("A", "Pet", 0.7, (0, 0, .5, .5))])
    expanded = run(tmp_path, *args, hierarchy=tmp_path / "h.json")
    assert expanded.per_class() == {"Cat": 0.0, "Animal": 0.5, "Pet": 1.0}
    assert expanded.map == 0.5
    plain = run(tmp_path, *args)
    assert plain.per_class() == {"Cat": 0.0}


def test_hierarchy_order_and_relatives(tmp_path):
    from vcmctc.datasets.openimages import load_hierarchy

    hierarchy = {"LabelName": "root", "Subcategory": [
        {"LabelName": "Animal", "Subcategory": [
            {"LabelName": "Mammal", "Subcategory": [{"LabelName": "Cat"}]}]},
        {"LabelName": "Pet", "Subcategory": [{"LabelName": "Cat"}]}]}
    (tmp_path / "h.json").write_text(json.dumps(hierarchy))
    ancestors, descendants = load_hierarchy(tmp_path / "h.json")
    assert ancestors["Cat"] == ["Mammal", "Animal", "Pet"]  # nearest first, root excluded
    assert ancestors["Animal"] == [] and "root" not in ancestors
    assert descendants["Animal"] == ["Mammal", "Cat"]
    assert descendants["Pet"] == ["Cat"]
