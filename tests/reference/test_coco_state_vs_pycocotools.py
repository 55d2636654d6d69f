"""COCO per-sequence states (coco_state / coco_finalize / coco_pool) against pycocotools.

The states computed by vcmctc's vectorised matching must equal, array for array, the records
read off pycocotools' own ``COCOeval.evaluate`` (``evalImgs``); the accumulated precision and
recall must equal ``COCOeval.accumulate``'s arrays bit for bit, and the summary statistics
pycocotools' exactly (==, not approx). Pooled states must equal one pycocotools run on the
hand-merged class data. Cases come from the generators of test_coco_vs_pycocotools.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math

import numpy as np
import pytest

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

from tests.reference.test_coco_vs_pycocotools import (  # noqa: E402
    _offset_merge,
    _sequence,
    gen_bbox_case,
    gen_keypoint_case,
    gen_segm_case,
    reference_stats,
)
from vcmctc.errors import UserError  # noqa: E402
from vcmctc.evaluators import _cocostate as cs  # noqa: E402
from vcmctc.evaluators.coco import (  # noqa: E402
    coco_finalize,
    coco_pool,
    coco_state,
    evaluate_coco,
    evaluate_coco_pooled,
    load_coco_state,
    save_coco_state,
    stat_names,
)

CASES = ([("bbox", gen_bbox_case, s) for s in range(40)]
         + [("segm", gen_segm_case, 1000 + s) for s in range(12)]
         + [("keypoints", gen_keypoint_case, 2000 + s) for s in range(12)])
ARRAYS = ("category_ids", "npig", "cat", "image", "rank", "score", "matched", "ignored")


def reference_eval(gt, dets, iou_type):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_same_state(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and np.array_equal(x, y), name
    assert a.num_images == b.num_images and a.loadres_branch == b.loadres_branch


def assert_bit_identical(ours: dict, ref_stats, iou_type):
    assert list(ours) == list(stat_names(iou_type))
    for name, r in zip(ours, ref_stats):
        if r == -1:
            assert math.isnan(ours[name]), name
        else:
            assert ours[name] == 100.0 * r, (name, ours[name], 100.0 * r)


@pytest.mark.parametrize("iou_type,gen,seed", CASES)
def test_state_equals_pycocotools_records_and_stats(iou_type, gen, seed):
    gt, dets = gen(seed)
    gt_before, dets_before = copy.deepcopy(gt), copy.deepcopy(dets)
    fast = coco_state(gt, dets, iou_type, "vcmctc")
    assert gt == gt_before and dets == dets_before, "coco_state must not modify its inputs"
    assert_same_state(fast, coco_state(gt, dets, iou_type, "pycocotools"))
    ref = reference_eval(gt, dets, iou_type)
    precision, recall = cs.accumulate(fast, ref.params.recThrs)
    assert np.array_equal(precision, ref.eval["precision"])
    assert np.array_equal(recall, ref.eval["recall"])
    assert_bit_identical(coco_finalize(fast), ref.stats, iou_type)
    assert_bit_identical(evaluate_coco(gt, dets, iou_type, backend="vcmctc"), ref.stats, iou_type)


def test_cases_reach_the_paths_that_matter():
    """Matches at some thresholds only, crowd re-matches, ignored matches and the maxDets cut."""
    states = [coco_state(*gen_bbox_case(s), "bbox") for s in range(40)]
    matched = np.concatenate([s.matched for s in states])
    ignored = np.concatenate([s.ignored for s in states])
    partial = matched.any(axis=2) & ~matched.all(axis=2)
    assert partial.any()                                    # IoU between two thresholds
    assert (matched & ignored).any()                        # matched to an ignored GT
    assert max(int(s.rank.max(initial=0)) for s in states) == 99      # cut at maxDets[-1]
    assert any(s.dropped_categories.size == 0 and len(s.score) for s in states)


@pytest.mark.parametrize("seed", range(10))
def test_pool_equals_one_pycocotools_run_on_hand_merged_data(seed, tmp_path):
    n_seq = 2 + seed % 3
    sequences = [_sequence(100 * seed + k, ties=seed % 2 == 1) for k in range(n_seq)]
    states = []
    for k, (gt, dets) in enumerate(sequences):  # through .npz files, without pickles
        save_coco_state(coco_state(gt, dets), tmp_path / f"{k}.npz")
        states.append(load_coco_state(tmp_path / f"{k}.npz"))
    ours = coco_pool(states)
    merged_gt, merged_dets = _offset_merge(sequences)
    assert_bit_identical(ours, reference_stats(merged_gt, merged_dets, "bbox"), "bbox")
    pooled_ref = evaluate_coco_pooled(sequences, backend="pycocotools")
    assert all(a == b or (math.isnan(a) and math.isnan(b))
               for a, b in zip(ours.values(), pooled_ref.values()))


def test_pool_of_one_is_the_sequence_and_order_matters_only_through_ties():
    gt, dets = _sequence(7, ties=True)
    state = coco_state(gt, dets)
    assert coco_pool([state]) == coco_finalize(state)
    other = coco_state(*_sequence(8, ties=True))
    ab = coco_pool([state, other])
    ba = coco_pool([other, state])
    ref_ab = reference_stats(*_offset_merge([(gt, dets), _sequence(8, ties=True)]), "bbox")
    ref_ba = reference_stats(*_offset_merge([_sequence(8, ties=True), (gt, dets)]), "bbox")
    assert_bit_identical(ab, ref_ab, "bbox")
    assert_bit_identical(ba, ref_ba, "bbox")


def test_empty_sequences_pool():
    """A sequence without detections and one without images pool like pycocotools."""
    gt, dets = _sequence(3, ties=False)
    no_dets = coco_state(gt, [])
    assert no_dets.num_detections == 0 and no_dets.npig.sum() > 0
    nothing = coco_state({"images": [], "annotations": [], "categories": gt["categories"]}, [])
    pooled = coco_pool([nothing, coco_state(gt, dets), no_dets])
    merged_gt, merged_dets = _offset_merge([(gt, dets), (gt, [])])
    assert_bit_identical(pooled, reference_stats(merged_gt, merged_dets, "bbox"), "bbox")


def test_pool_refuses_what_one_pycocotools_run_would_score_differently():
    gt, dets = _sequence(5, ties=False)
    renamed = {**gt, "categories": [{**c, "name": "other"} for c in gt["categories"]]}
    with pytest.raises(UserError, match="is named"):
        coco_pool([coco_state(gt, dets), coco_state(renamed, dets)])
    with pytest.raises(UserError, match="bbox"):
        coco_pool([coco_state(gen_bbox_case(1)[0], gen_bbox_case(1)[1], "bbox"),
                   coco_state(*gen_segm_case(1000), "segm")])
    few = {**gt, "categories": gt["categories"][:1]}
    lost = [d for d in dets if d["category_id"] != gt["categories"][0]["id"]][:3]
    state = coco_state(few, [{**d, "image_id": few["images"][0]["id"]} for d in lost])
    assert state.dropped_categories.size
    with pytest.raises(UserError, match="not among its ground-truth categories"):
        coco_pool([state, coco_state(gt, dets)])


def test_faster_coco_eval_gives_no_state():
    gt, dets = gen_bbox_case(0)
    with pytest.raises(UserError, match="faster-coco-eval"):
        coco_state(gt, dets, "bbox", "faster-coco-eval")


def test_state_file_round_trip_is_exact(tmp_path):
    gt, dets = gen_keypoint_case(2003)
    state = coco_state(gt, dets, "keypoints")
    save_coco_state(state, tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz", allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    back = load_coco_state(tmp_path / "s.npz")
    assert_same_state(back, state)
    assert back.category_names.tolist() == state.category_names.tolist()
    assert coco_finalize(back) == coco_finalize(state) or all(
        a == b or (math.isnan(a) and math.isnan(b))
        for a, b in zip(coco_finalize(back).values(), coco_finalize(state).values()))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot read COCO state"):
        load_coco_state(tmp_path / "bad.npz")
