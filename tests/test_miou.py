"""mIoU: a hand-worked 3x3 case, random comparison with a direct per-class set computation,
the ignore index and both absent-class policies, file inputs and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vcmctc.errors import UserError
from vcmctc.datasets.labelmaps import evaluate_files, pair_label_files, read_label_map
from vcmctc.evaluators.miou import confusion_matrix, evaluate_pairs, miou_from_confusion

GT = np.array([[0, 0, 1], [1, 1, 2], [255, 2, 2]])
PRED = np.array([[0, 1, 1], [1, 1, 1], [0, 2, 0]])


def test_hand_worked_3x3():
    """The 255 pixel is ignored; 8 pixels remain, as (gt, pred) pairs:
    (0,0) (0,1) (1,1) (1,1) (1,1) (2,1) (2,2) (2,0).
    class 0: TP 1, GT 2, predicted 2 -> IoU 1 / (2 + 2 - 1) = 1/3
    class 1: TP 3, GT 3, predicted 5 -> IoU 3 / (3 + 5 - 3) = 3/5
    class 2: TP 1, GT 3, predicted 1 -> IoU 1 / (3 + 1 - 1) = 1/3
    mIoU = (1/3 + 3/5 + 1/3) / 3 = 19/45; pixel accuracy 5/8; mean accuracy (1/2+1+1/3)/3."""
    conf = confusion_matrix(GT, PRED, 3, ignore_index=255)
    np.testing.assert_array_equal(conf, [[1, 1, 0, 0], [0, 3, 0, 0], [1, 1, 1, 0]])
    res = miou_from_confusion(conf)
    assert res.per_class() == {0: 1 / 3, 1: 3 / 5, 2: 1 / 3}
    assert res.miou == pytest.approx(19 / 45, abs=1e-15)
    assert res.pixel_accuracy == 5 / 8
    assert res.mean_accuracy == pytest.approx((1 / 2 + 1 + 1 / 3) / 3, abs=1e-15)


def test_absent_policies_and_out_of_range_predictions():
    """With 5 classes: class 3 is only predicted (one pixel, was a correct class-0 pixel),
    class 4 appears nowhere, one prediction is 9 (outside the classes).
    union: class 3 IoU 0 counts, class 4 left out; gt: both left out."""
    pred = PRED.copy()
    pred[0, 0] = 3  # class 0 loses its TP: IoU 0/3
    pred[1, 2] = 9  # the class-2 pixel predicted 1 now predicted 9: still a FN for class 2,
    # no longer a FP for class 1, a FP for nobody
    conf = confusion_matrix(GT, pred, 5)
    assert conf[2, 5] == 1  # the out-of-range column
    union = miou_from_confusion(conf, absent="union")
    # class 1: TP 3, GT 3, predicted 4 -> 3/4; class 2: TP 1, GT 3, predicted 1 -> 1/3
    assert union.per_class() == {0: 0.0, 1: 3 / 4, 2: 1 / 3, 3: 0.0}
    gt_only = miou_from_confusion(conf, absent="gt")
    assert gt_only.per_class() == {0: 0.0, 1: 3 / 4, 2: 1 / 3}
    subset = miou_from_confusion(conf, absent="union", classes=[1, 3])
    assert subset.per_class() == {1: 3 / 4, 3: 0.0}
    assert subset.miou == 0.375


def test_ignore_index_and_errors():
    with pytest.raises(ValueError, match="ground-truth label 255 is outside 0..2"):
        confusion_matrix(GT, PRED, 3, ignore_index=None)
    conf = confusion_matrix(GT, PRED, 256, ignore_index=None)  # 255 as a real class
    assert conf[255].sum() == 1 and conf[255, 0] == 1
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(GT, PRED[:2], 3)
    with pytest.raises(UserError, match="unknown absent-class policy"):
        miou_from_confusion(confusion_matrix(GT, PRED, 3), absent="pred")


def direct_iou(pairs, num_classes, ignore, absent):
    """Per-class IoU from sets of (image, pixel) positions, independent of any matrix."""
    gt_sets = {c: set() for c in range(num_classes)}
    pred_sets = {c: set() for c in range(num_classes)}
    for k, (g, p) in enumerate(pairs):
        for i, (gv, pv) in enumerate(zip(g.ravel().tolist(), p.ravel().tolist())):
            if ignore is not None and gv == ignore:
                continue
            gt_sets[gv].add((k, i))
            if 0 <= pv < num_classes:
                pred_sets[pv].add((k, i))
    out = {}
    for c in range(num_classes):
        union = gt_sets[c] | pred_sets[c]
        if absent == "union" and not union or absent == "gt" and not gt_sets[c]:
            continue
        out[c] = len(gt_sets[c] & pred_sets[c]) / len(union)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_random_against_direct_sets(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 7))
    pairs = []
    for _ in range(int(rng.integers(1, 4))):
        shape = tuple(int(v) for v in rng.integers(1, 9, 2))
        g = rng.integers(0, c, shape)
        g[rng.random(shape) < 0.1] = 255
        p = np.where(rng.random(shape) < 0.6, g, rng.integers(0, c + 2, shape))
        p[p == 255] = 0
        pairs.append((g, p))
    absent = ["union", "gt"][seed % 2]
    res = evaluate_pairs(pairs, c, ignore_index=255, absent=absent)
    expected = direct_iou(pairs, c, 255, absent)
    assert res.per_class() == expected  # same integer ratios: exact
    if expected:
        assert res.miou == pytest.approx(sum(expected.values()) / len(expected), abs=1e-12)


def compressai_vision_style(gt, pred, categories):
    """CompressAI-Vision's Pandaset convention written out: per listed class present in the GT,
    IoU (percent) = TP / (TP + FP + FN) on the pooled arrays, averaged; no ignore index."""
    ious = []
    for c in categories:
        if np.any(gt == c):
            tp = np.sum((gt == c) & (pred == c))
            fp = np.sum((gt != c) & (pred == c))
            fn = np.sum((gt == c) & (pred != c))
            ious.append(tp / (tp + fp + fn) * 100)
    return sum(ious) / len(ious)


@pytest.mark.parametrize("seed", range(10))
def test_matches_compressai_vision_convention(seed):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 13, (3, 40, 50))
    pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, 13, gt.shape))
    cats = [1, 3, 4, 5, 6, 7, 8, 10, 12]
    res = evaluate_pairs(zip(gt, pred), 13, ignore_index=None, absent="gt", classes=cats)
    assert res.miou * 100 == pytest.approx(compressai_vision_style(gt, pred, cats), abs=1e-9)


def _png(path, arr, mode="L"):
    img = Image.fromarray(arr.astype(np.uint8), mode="L")
    if mode == "P":
        img = img.convert("P")
    elif mode == "RGB":
        img = img.convert("RGB")
    img.save(path)


def test_files_png_npy_and_pairing(tmp_path):
    gdir, pdir = tmp_path / "gt", tmp_path / "pred"
    gdir.mkdir()
    pdir.mkdir()
    _png(gdir / "a.png", GT)
    np.save(pdir / "a.npy", PRED)
    _png(gdir / "b.png", GT, mode="P")
    _png(pdir / "b.png", GT)
    assert read_label_map(gdir / "b.png").tolist() == GT.tolist()
    pairs = pair_label_files(gdir, pdir)
    assert [p[0].name for p in pairs] == ["a.png", "b.png"]
    res = evaluate_files(pairs)
    # b is perfect: add 8 correct pixels (2, 3, 3 of classes 0, 1, 2) to the 3x3 counts
    # class 0: 3 / (4 + 4 - 3) = 3/5; class 1: 6 / (6 + 8 - 6) = 3/4; class 2: 4 / (6 + 4 - 4)
    assert res.confusion.shape == (3, 4)  # num_classes inferred from the GT
    assert res.per_class() == {0: 3 / 5, 1: 3 / 4, 2: 4 / 6}
    np.save(pdir / "a.npy", PRED[:2])
    with pytest.raises(UserError, match=r"a\.npy: prediction is \(2, 3\)"):
        evaluate_files(pair_label_files(gdir, pdir))
    (pdir / "b.png").unlink()
    with pytest.raises(UserError, match="no prediction for b.png"):
        pair_label_files(gdir, pdir)


def test_cli(cli, tmp_path):
    gdir, pdir = tmp_path / "gt", tmp_path / "pred"
    gdir.mkdir()
    pdir.mkdir()
    _png(gdir / "x.png", GT)
    _png(pdir / "x.png", PRED)
    r = cli("score", "miou", "--gt", gdir, "--pred", pdir, "--format", "json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["mIoU"] == pytest.approx(19 / 45 * 100, abs=1e-12)
    assert out["pixel_accuracy"] == 62.5
    assert out["per_class"] == {"0": pytest.approx(100 / 3), "1": 60.0,
                                "2": pytest.approx(100 / 3)}
    assert out["settings"] == {"num_classes": 3, "ignore_index": 255, "absent": "union",
                               "classes": None}
    r = cli("score", "miou", "--gt", gdir / "x.png", "--pred", pdir / "x.png",
            "--classes", "1,2", "--num-classes", "4")
    assert r.code == 0 and "mIoU 46.667" in r.out
    r = cli("score", "miou", "--gt", gdir, "--pred", pdir, "--format", "csv")
    assert r.out.splitlines()[0] == "class,IoU,accuracy,gt_pixels"


@pytest.mark.parametrize("args, message", [
    (["--ignore-index", "-1"], "ground-truth label 255 is outside 0..2"),
    (["--classes", "1,x"], "--classes: 'x' is not an integer"),
    (["--classes", "7"], "class 7 is outside 0..2"),
    (["--num-classes", "0"], "--num-classes must be >= 1"),
    (["--rgb"], "must be single-channel"),
])
def test_cli_errors(cli, tmp_path, args, message):
    gdir, pdir = tmp_path / "gt", tmp_path / "pred"
    gdir.mkdir()
    pdir.mkdir()
    _png(gdir / "x.png", GT, mode="RGB" if "--rgb" in args else "L")
    _png(pdir / "x.png", PRED)
    extra = [a for a in args if a != "--rgb"]
    if "--ignore-index" in extra:
        extra += ["--num-classes", "3"]
    r = cli("score", "miou", "--gt", gdir, "--pred", pdir, *extra)
    assert r.code == 2
    assert message in r.err and r.err.count("\n") == 1


def test_states_pool_to_the_evaluation_of_all_pairs(tmp_path):
    from vcmctc.evaluators.miou import (MIoUState, evaluate_pairs, miou_finalize, miou_pool,
                                        miou_state)

    rng = np.random.default_rng(5)
    pairs = [(rng.integers(0, 4, (6, 7)), rng.integers(-1, 5, (6, 7))) for _ in range(5)]
    pairs[0][0][0, :] = 255
    whole = evaluate_pairs(pairs, 4, absent="gt")
    a, b = miou_state(pairs[:2], 4), miou_state(pairs[2:], 4)
    np.savez(tmp_path / "a.npz", **a.to_arrays())
    with np.load(tmp_path / "a.npz", allow_pickle=False) as f:
        a = MIoUState.from_arrays(f)
    pooled = miou_finalize(miou_pool([a, b]), absent="gt")
    assert np.array_equal(pooled.confusion, whole.confusion)
    assert np.array_equal(pooled.iou, whole.iou, equal_nan=True)
    assert pooled.num_images == whole.num_images == 5
    with pytest.raises(UserError, match="different numbers of classes"):
        miou_pool([a, miou_state(pairs[:1], 5)])
