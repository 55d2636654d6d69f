"""Hand-worked tiny cases for the MOT evaluator (CLEAR-MOT, identity, protocols, pooling).

Every expected number below is derived by hand in the comments, following motmetrics'
MOTAccumulator rules: (1) keep each GT's last-ever matched tracker id if present and within
IoU >= 0.5, (2) LAP on the rest, where a GT matched to another id than its last-ever one is a
switch, (3) unmatched GT are misses, (4) unmatched predictions false positives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vcmctc.datasets.mot import MotTable
from vcmctc.errors import UserError
from vcmctc.evaluators.mot import (
    COUNT_METRICS,
    PERCENT_METRICS,
    MotCounts,
    evaluate_mot,
    finalize,
    mot_counts,
    sum_counts,
)

A = [0, 0, 10, 10]
A_80 = [0, 0, 10, 8]  # IoU with A = 80 / 100 = 0.8, distance 0.2


def table(rows):
    return MotTable.from_rows(rows)


def box(x):
    return [x, 0, 10, 10]


def test_switches_against_last_ever_match():
    # GT 1 stays on A. Predictions: 10, then 11, then 10 again.
    # f1: match (1,10). f2: 10 absent, LAP gives (1,11): last-ever is 10 -> switch, and 11 was
    # never matched -> ascend. f3: last-ever is now 11, absent; (1,10) -> switch (not an ascend).
    gt = table([(1, 1, *A), (2, 1, *A), (3, 1, *A)])
    pred = table([(1, 10, *A), (2, 11, *A), (3, 10, *A)])
    s = evaluate_mot(gt, pred)
    assert (s["Matches"], s["IDSW"], s["FP"], s["FN"], s["Ascend"]) == (1, 2, 0, 0, 1)
    assert s["MOTA"] == pytest.approx(100 * (1 - 2 / 3))
    assert s["MOTP"] == 0.0  # all boxes identical


def test_last_ever_match_is_kept_even_if_a_better_box_exists():
    # f1: GT1 on A matched by 10, GT2 on box(100) matched by 20.
    # f2: only GT1 (on A) and prediction 20 (on A): LAP (1,20) contradicts last-ever 10 -> switch;
    #     20 was last matched to GT2 -> transfer (GT1 was matched before: no migrate).
    # f3: GT1 on A, predictions 10 on A (IoU 1) and 20 on A_80 (IoU 0.8): step 1 keeps the
    #     last-ever pair (1,20) although 10 fits better -> match; 10 is a false positive.
    # Totals: 4 GT boxes, matches 3 (f1: 2, f3: 1), 1 switch, 1 FP -> MOTA = 1 - 2/4 = 50 %.
    # Distances: 0, 0, 0 (switch), 0.2 -> MOTP = 0.2 / 4.
    gt = table([(1, 1, *A), (1, 2, *box(100)), (2, 1, *A), (3, 1, *A)])
    pred = table([(1, 10, *A), (1, 20, *box(100)), (2, 20, *A), (3, 10, *A), (3, 20, *A_80)])
    s = evaluate_mot(gt, pred)
    assert (s["Matches"], s["IDSW"], s["FP"], s["FN"]) == (3, 1, 1, 0)
    assert (s["Transfer"], s["Ascend"], s["Migrate"]) == (1, 0, 0)
    assert s["MOTA"] == pytest.approx(50.0)
    assert s["MOTP"] == pytest.approx((1 - 0.8) / 4)


def test_misses_fragmentation_and_track_ratios():
    # GT1 frames 1-5 tracked by 10 except frame 3          -> 4/5 = 0.8: mostly tracked, 1 frag
    # GT2 frames 1-5 tracked only in frame 5                -> 1/5 = 0.2: partially tracked
    # GT3 frames 1-5 never tracked                          -> mostly lost
    # GT4 frames 1-4 tracked only in frame 3 (misses before and after the span: no frag)
    #                                                       -> 1/4: partially tracked
    # Prediction 99 in frame 2 overlaps nothing             -> 1 FP
    # GT boxes 19, tracked 6 -> FN 13; MOTA = 1 - (13 + 0 + 1) / 19.
    rows, preds = [], []
    for f in range(1, 6):
        rows += [(f, 1, *box(0)), (f, 2, *box(100)), (f, 3, *box(200))]
        if f < 5:
            rows.append((f, 4, *box(300)))
        if f != 3:
            preds.append((f, 10, *box(0)))
    preds += [(5, 20, *box(100)), (3, 40, *box(300)), (2, 99, 500, 500, 10, 10)]
    s = evaluate_mot(table(rows), table(preds))
    assert (s["GT"], s["Pred"], s["TP"], s["FN"], s["FP"], s["IDSW"]) == (19, 7, 6, 13, 1, 0)
    assert (s["Frag"], s["MT"], s["PT"], s["ML"], s["GT_IDs"]) == (1, 1, 2, 1, 4)
    assert s["MOTA"] == pytest.approx(100 * (1 - 14 / 19))
    assert s["Recall"] == pytest.approx(100 * 6 / 19)
    assert s["Precision"] == pytest.approx(100 * 6 / 7)
    # Identity: pairs (1,10) x4, (2,20) x1, (4,40) x1, disjoint -> IDTP 6; GT id-frames 19,
    # tracker id-frames 7 -> IDFN 13, IDFP 1, IDF1 = 12 / 26.
    assert (s["IDTP"], s["IDFN"], s["IDFP"]) == (6, 13, 1)
    assert s["IDF1"] == pytest.approx(100 * 12 / 26)


def test_two_fragmentations_in_one_track():
    # tracked, miss, tracked, miss, miss, tracked -> two tracked->missed transitions
    gt = table([(f, 1, *A) for f in range(1, 7)])
    pred = table([(f, 10, *A) for f in (1, 3, 6)])
    s = evaluate_mot(gt, pred)
    assert (s["Frag"], s["FN"], s["PT"]) == (2, 3, 1)


def test_identity_global_matching_and_transfer_migrate():
    # GT1 frames 1-4, GT2 frames 5-10. Tracker 10 covers GT1 in frames 1-3, tracker 20 covers
    # GT1 in frame 4 and GT2 in frames 5-10. Best id matching: (1,10)=3, (2,20)=6 -> IDTP 9;
    # GT id-frames 10, tracker id-frames 3 + 7 = 10 -> IDFN 1, IDFP 1, IDF1 = 18 / 20.
    # CLEAR: frame 4 (1,20) is a switch and an ascend (20 never matched); frame 5 (2,20) is a
    # match for GT2 but a transfer of 20 away from GT1, and a migrate (GT2 never matched).
    gt = table([(f, 1, *A) for f in range(1, 5)] + [(f, 2, *box(50)) for f in range(5, 11)])
    pred = table([(f, 10, *A) for f in range(1, 4)] + [(4, 20, *A)]
                 + [(f, 20, *box(50)) for f in range(5, 11)])
    s = evaluate_mot(gt, pred)
    assert (s["IDTP"], s["IDFN"], s["IDFP"]) == (9, 1, 1)
    assert s["IDF1"] == pytest.approx(90.0)
    assert s["IDP"] == pytest.approx(90.0) and s["IDR"] == pytest.approx(90.0)
    assert (s["IDSW"], s["Ascend"], s["Transfer"], s["Migrate"]) == (1, 1, 1, 1)
    assert s["MOTA"] == pytest.approx(90.0)


def test_threshold_is_inclusive_at_iou_one_half():
    # IoU exactly 0.5 (distance 0.5) still matches; just below does not (motmetrics: dist > 0.5).
    gt = table([(1, 1, *A), (1, 2, *box(100))])
    pred = table([(1, 10, 0, 0, 10, 5), (1, 20, 100, 0, 10, 4.99)])
    s = evaluate_mot(gt, pred)
    assert (s["TP"], s["FN"], s["FP"]) == (1, 1, 1)
    assert s["MOTP"] == pytest.approx(0.5)


def test_frames_with_one_side_only_and_empty_inputs():
    # frame 1: GT only -> miss; frame 2: prediction only -> FP; frame 3: both, matched.
    gt = table([(1, 1, *A), (3, 1, *A)])
    pred = table([(2, 10, *A), (3, 10, *A)])
    s = evaluate_mot(gt, pred)
    assert (s["Frames"], s["FN"], s["FP"], s["TP"]) == (3, 1, 1, 1)
    empty = table([])
    s = evaluate_mot(gt, empty)
    assert (s["FN"], s["MOTA"], s["IDF1"]) == (2, 0.0, 0.0)
    assert math.isnan(s["MOTP"])  # 0 / 0, as motmetrics
    s = evaluate_mot(empty, pred)
    assert s["FP"] == 2 and s["MOTA"] == -math.inf  # 1 - 2/0


def test_hieve_protocol_ignores_zero_confidence_gt():
    # GT2 has confidence 0: plain keeps it (motmetrics' loader keeps conf >= -1), HiEve's
    # min_confidence=1 drops it, so prediction 20 on it becomes a false positive.
    gt = table([(1, 1, *A, 1, 1, 1), (1, 2, *box(100), 0, 1, 1)])
    pred = table([(1, 10, *A), (1, 20, *box(100))])
    plain, hieve = evaluate_mot(gt, pred), evaluate_mot(gt, pred, protocol="hieve")
    assert (plain["GT"], plain["TP"], plain["FP"]) == (2, 2, 0)
    assert (hieve["GT"], hieve["TP"], hieve["FP"]) == (1, 1, 1)


def test_tvd_protocol_mot16_preprocessing():
    # frame 1: GT1 pedestrian (matched by 10); GT2 distractor class 8 under 20 -> 20 removed;
    # GT3 car (class 3, not a distractor) under 30 -> 30 kept, GT3 not evaluated -> FP;
    # GT4 pedestrian with visibility < 0 under 40 -> 40 removed but GT4 still evaluated -> miss;
    # GT5 pedestrian with confidence 0 under 50 -> 50 kept, GT5 not evaluated -> FP.
    # Evaluated: GT {1, 4}, predictions {10, 30, 50}: TP 1, FN 1, FP 2, MOTA = 1 - 3/2.
    gt = table([(1, 1, *box(0), 1, 1, 1), (1, 2, *box(100), 1, 8, 1), (1, 3, *box(200), 1, 3, 1),
                (1, 4, *box(300), 1, 1, -0.5), (1, 5, *box(400), 0, 1, 1)])
    pred = table([(1, 10, *box(0)), (1, 20, *box(100)), (1, 30, *box(200)), (1, 40, *box(300)),
                  (1, 50, *box(400))])
    s = evaluate_mot(gt, pred, protocol="tvd")
    assert (s["GT"], s["Pred"], s["TP"], s["FN"], s["FP"]) == (2, 3, 1, 1, 2)
    assert s["MOTA"] == pytest.approx(-50.0)
    # motmetrics only preprocesses frames 1..seqLength: with seq_length=0 nothing is removed,
    # 40 now matches GT4, and 20, 30, 50 are false positives.
    s0 = evaluate_mot(gt, pred, protocol="tvd", seq_length=0)
    assert (s0["Pred"], s0["TP"], s0["FN"], s0["FP"]) == (5, 2, 0, 3)


def test_tvd_drops_every_row_of_a_removed_frame_id_label():
    # motmetrics drops predictions by (frame, id) label: a repeated id loses all its rows.
    gt = table([(1, 2, *box(100), 1, 8, 1)])
    pred = table([(1, 20, *box(100)), (1, 20, *box(300))])
    assert evaluate_mot(gt, pred, protocol="tvd")["Pred"] == 0


def test_tvd_needs_mot16_classes():
    gt = table([(1, 1, *A, 1, -1, -1)])
    with pytest.raises(UserError, match="protocol tvd needs MOT16 class ids"):
        mot_counts(gt, table([(1, 10, *A)]), protocol="tvd")


def test_prediction_offset():
    # GT at (10, 10), prediction written at (9, 9): offset (1, 1) aligns them exactly; without
    # it the IoU is 81 / 119.
    gt = table([(1, 1, 10, 10, 10, 10)])
    pred = table([(1, 10, 9, 9, 10, 10)])
    assert evaluate_mot(gt, pred)["MOTP"] == pytest.approx(1 - 81 / 119)
    assert evaluate_mot(gt, pred, pred_offset=(1, 1))["MOTP"] == 0.0


def test_pooled_rows_sum_counts_not_mean_of_mota():
    # Sequence a: 1 GT box, missed (MOTA 0 %). Sequence b: 3 GT boxes, all matched (100 %).
    # Pooled MOTA = 1 - 1/4 = 75 %, not the mean 50 %.
    a = mot_counts(table([(1, 1, *A)]), table([]))
    b = mot_counts(table([(f, 1, *A) for f in (1, 2, 3)]), table([(f, 9, *A) for f in (1, 2, 3)]))
    pooled = finalize(sum_counts([a, b]))
    assert finalize(a)["MOTA"] == 0.0 and finalize(b)["MOTA"] == 100.0
    assert pooled["MOTA"] == pytest.approx(75.0)
    assert (pooled["GT"], pooled["FN"], pooled["TP"], pooled["Frames"]) == (4, 1, 3, 4)
    assert finalize(a + b) == pooled
    assert sum_counts([]).num_sequences == 0 and (a + b).num_sequences == 2


def test_output_keys_and_types():
    s = evaluate_mot(table([(1, 1, *A)]), table([(1, 2, *A)]))
    assert set(s) == set(PERCENT_METRICS) | set(COUNT_METRICS) | {"MOTP"}
    assert all(isinstance(s[k], int) for k in COUNT_METRICS)
    assert all(isinstance(s[k], float) for k in PERCENT_METRICS)


def test_unknown_protocol_and_solver():
    t = table([(1, 1, *A)])
    with pytest.raises(UserError, match="unknown MOT protocol 'mot17'"):
        mot_counts(t, t, protocol="mot17")
    with pytest.raises(UserError, match="unknown LAP solver 'hungarian'.*known: lap, munkres"):
        mot_counts(t, t, solver="hungarian")


@pytest.mark.parametrize("solver", ["lap", "munkres"])
def test_optional_solvers_give_the_same_counts_without_ties(solver):
    pytest.importorskip(solver)
    rng = np.random.default_rng(5)
    gt = table([(f, i, *(rng.uniform(0, 200, 2)), 20, 30) for f in range(1, 20) for i in range(6)])
    pred = table([(r[0], r[1] + 100, r[2] + rng.normal(0, 3), r[3] + rng.normal(0, 3), 20, 30)
                  for r in zip(gt.frame, gt.id, gt.x, gt.y)])
    a = evaluate_mot(gt, pred, solver="scipy")
    b = evaluate_mot(gt, pred, solver=solver)
    assert a == b


def test_repeated_id_in_a_frame_makes_hota_undefined():
    # CLEAR metrics are defined (motmetrics accepts it); TrackEval refuses such files.
    gt = table([(1, 1, *A), (1, 1, *box(50))])
    s = evaluate_mot(gt, table([(1, 10, *A)]))
    assert (s["TP"], s["FN"]) == (1, 1)
    assert math.isnan(s["HOTA"]) and math.isnan(s["AssA"])
    ok = mot_counts(table([(1, 1, *A)]), table([(1, 10, *A)]))
    assert math.isnan(finalize(ok + mot_counts(gt, table([])))["HOTA"])
    assert math.isnan(evaluate_mot(table([(1, 1, *A)]), table([(1, 10, *A)]), hota=False)["HOTA"])


def test_counts_as_dict_roundtrip():
    import json

    c = mot_counts(table([(1, 1, *A)]), table([(1, 10, 0, 0, 10, 9)]))
    d = json.loads(json.dumps(c.as_dict()))
    assert d["num_matches"] == 1 and len(d["hota"]["tp"]) == 19
    back = MotCounts.from_dict(d)
    assert finalize(back) == finalize(c)
    assert back.hota["tp"].dtype == np.int64 and back.hota["loc"].dtype == float
