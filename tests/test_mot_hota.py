"""HOTA: hand-worked tiny cases, and agreement with TrackEval (PyPI ``trackeval``) when installed."""

from __future__ import annotations

import numpy as np
import pytest

from vcmctc.datasets.mot import MotTable
from vcmctc.evaluators.hota import HOTA_ALPHAS, trackeval_iou_matrix
from vcmctc.evaluators.mot import evaluate_mot, finalize, mot_counts, sum_counts

A = [0, 0, 10, 10]


def test_alphas_are_trackevals():
    assert len(HOTA_ALPHAS) == 19
    assert HOTA_ALPHAS[0] == pytest.approx(0.05) and HOTA_ALPHAS[-1] == pytest.approx(0.95)


def test_perfect_boxes_with_an_id_change():
    # GT 1 on A in two frames, tracker 10 then tracker 20 on A (IoU 1).
    # Every alpha: 2 TP, no FN/FP -> DetA 1, LocA 1.
    # Each (GT, tracker) pair has 1 match, GT 1 has 2 detections, each tracker 1:
    # A(c) = 1 / (2 + 1 - 1) = 1/2; AssA = (1 * 1/2 + 1 * 1/2) / 2 TP = 1/2; HOTA = sqrt(1/2).
    # AssRe = (1 * 1/2 + 1 * 1/2) / 2 = 1/2, AssPr = (1 * 1 + 1 * 1) / 2 = 1.
    gt = MotTable.from_rows([(1, 1, *A), (2, 1, *A)])
    pred = MotTable.from_rows([(1, 10, *A), (2, 20, *A)])
    s = evaluate_mot(gt, pred)
    assert s["DetA"] == pytest.approx(100.0) and s["LocA"] == pytest.approx(100.0)
    assert s["AssA"] == pytest.approx(50.0)
    assert s["AssRe"] == pytest.approx(50.0) and s["AssPr"] == pytest.approx(100.0)
    assert s["HOTA"] == pytest.approx(100 * np.sqrt(0.5))


def test_partial_overlap_counts_only_for_small_alphas():
    # One frame, IoU 0.62: the match counts for the 12 alphas 0.05..0.60 and not for the 7
    # alphas 0.65..0.95 (there: 1 FN and 1 FP). DetA per alpha is 1 or 0 -> mean 12/19; AssA per
    # alpha 1 or 0 (0 / max(1, 0)) -> 12/19; HOTA = mean(sqrt(DetA * AssA)) = 12/19.
    # LocA: 0.62 where matched, and TrackEval's max(1e-10, 0) / max(1e-10, 0) = 1 elsewhere.
    gt = MotTable.from_rows([(1, 1, 0, 0, 10, 10)])
    pred = MotTable.from_rows([(1, 10, 0, 0, 10, 6.2)])
    s = evaluate_mot(gt, pred)
    assert s["DetA"] == pytest.approx(100 * 12 / 19)
    assert s["AssA"] == pytest.approx(100 * 12 / 19)
    assert s["HOTA"] == pytest.approx(100 * 12 / 19)
    assert s["LocA"] == pytest.approx(100 * (12 * 0.62 + 7) / 19)
    c = mot_counts(gt, pred)
    assert c.hota["tp"].tolist() == [1] * 12 + [0] * 7
    assert c.hota["fn"].tolist() == [0] * 12 + [1] * 7


def test_no_predictions_and_pooling():
    # No predictions: DetA 0, AssA 0, HOTA 0, LocA 1 (TrackEval's convention).
    gt = MotTable.from_rows([(1, 1, *A)])
    empty = MotTable.from_rows([])
    s = evaluate_mot(gt, empty)
    assert (s["HOTA"], s["DetA"], s["AssA"], s["LocA"]) == (0.0, 0.0, 0.0, 100.0)
    # Pooled with a perfect sequence: per alpha TP 1, FN 1 -> DetA 1/2; AssA 1 -> HOTA sqrt(1/2)
    perfect = mot_counts(gt, MotTable.from_rows([(1, 10, *A)]))
    pooled = finalize(sum_counts([perfect, mot_counts(gt, empty)]))
    assert pooled["DetA"] == pytest.approx(50.0) and pooled["AssA"] == pytest.approx(100.0)
    assert pooled["HOTA"] == pytest.approx(100 * np.sqrt(0.5))


def test_iou_matrix_degenerate_boxes():
    g = np.array([[0, 0, 10, 10], [0, 0, 0, 10]], float)  # second has zero width
    p = np.array([[5, 0, 10, 10], [0, 0, 10, 10]], float)
    iou = trackeval_iou_matrix(g, p)
    assert iou.tolist() == [[50 / 150, 1.0], [0.0, 0.0]]
    batched = trackeval_iou_matrix(np.stack([g, g]), np.stack([p, p]))
    assert np.array_equal(batched[1], iou)


# --------------------------------------------------------------------------- TrackEval
def _random_sequence(rng):
    """Tracks with jitter, misses, id changes and false positives; ids unique per frame."""
    n_frames, n_tracks = int(rng.integers(1, 30)), int(rng.integers(0, 10))
    gt, pred = [], []
    next_id = 100
    for tid in range(1, n_tracks + 1):
        start = int(rng.integers(0, n_frames))
        x, y, w, h = *rng.uniform(0, 200, 2), *rng.uniform(10, 60, 2)
        pid = next_id
        next_id += 1
        for f in range(start, min(n_frames, start + int(rng.integers(1, n_frames + 1)))):
            x, y = x + rng.normal(0, 3), y + rng.normal(0, 3)
            gt.append((f, tid, x, y, w, h))
            if rng.random() < 0.8:
                if rng.random() < 0.1:
                    pid, next_id = next_id, next_id + 1
                j = rng.normal(0, 0.15, 4) * [w, h, w, h]
                pred.append((f, pid, x + j[0], y + j[1], w + j[2], h + j[3]))
    for f in range(n_frames):
        if rng.random() < 0.3:
            pred.append((f, 10_000 + f, *rng.uniform(0, 200, 2), *rng.uniform(10, 60, 2)))
    return MotTable.from_rows(gt), MotTable.from_rows(pred)


def _trackeval_data(gt: MotTable, pred: MotTable):
    """TrackEval's per-sequence input, built with its own IoU function."""
    from trackeval.datasets._base_dataset import _BaseDataset

    frames = np.union1d(gt.frame, pred.frame)
    _, g_idx = np.unique(gt.id, return_inverse=True)
    _, t_idx = np.unique(pred.id, return_inverse=True)
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    for f in frames:
        a, b = gt.frame == f, pred.frame == f
        data["gt_ids"].append(g_idx[a])
        data["tracker_ids"].append(t_idx[b])
        data["similarity_scores"].append(_BaseDataset._calculate_box_ious(gt.boxes[a],
                                                                          pred.boxes[b]))
    data.update(num_gt_dets=len(gt), num_tracker_dets=len(pred), num_timesteps=len(frames),
                num_gt_ids=len(np.unique(gt.id)), num_tracker_ids=len(np.unique(pred.id)))
    return data


def test_against_trackeval():
    trackeval = pytest.importorskip("trackeval")
    metric = trackeval.metrics.HOTA()
    rng = np.random.default_rng(11)
    results, counts = {}, []
    fields = ["HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr"]
    for seq in range(60):
        gt, pred = _random_sequence(rng)
        ref = metric.eval_sequence(_trackeval_data(gt, pred))
        c = mot_counts(gt, pred)
        got = finalize(c)
        for f in fields:
            assert got[f] == pytest.approx(100 * float(np.mean(ref[f])), abs=1e-9), (seq, f)
        for f in ("HOTA_TP", "HOTA_FN", "HOTA_FP"):
            assert c.hota[f[5:].lower()].tolist() == ref[f].astype(int).tolist(), (seq, f)
        results[seq] = ref
        counts.append(c)
    combined = metric.combine_sequences(results)
    pooled = finalize(sum_counts(counts))
    for f in fields:
        assert pooled[f] == pytest.approx(100 * float(np.mean(combined[f])), abs=1e-9), f


# --------------------------------------------------------------------------- frame loop
def _frame_loop_sums(gt: MotTable, pred: MotTable) -> dict[str, np.ndarray]:
    """HOTA sums computed frame by frame, as TrackEval's eval_sequence walks a sequence (one
    IoU matrix, one alignment update and one matching per frame), with vcmctc's conventions
    (the matching is skipped when every positive score is alone in its row and column; per
    alpha sums over the matched pairs in frame order). The batched sums must equal it bit for
    bit."""
    from scipy.optimize import linear_sum_assignment

    eps = np.finfo("float").eps
    _, g_all = np.unique(gt.id, return_inverse=True)
    _, t_all = np.unique(pred.id, return_inverse=True)
    gt_count = np.bincount(g_all).astype(float)
    tr_count = np.bincount(t_all).astype(float)
    frames = []
    for f in np.union1d(gt.frame, pred.frame):
        a, b = gt.frame == f, pred.frame == f
        if a.any() and b.any():
            frames.append((g_all[a], t_all[b], trackeval_iou_matrix(gt.boxes[a], pred.boxes[b])))
    potential = np.zeros((len(gt_count), len(tr_count)))
    for g, t, sim in frames:
        denom = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
        sim_iou = np.zeros_like(sim)
        mask = denom > 0 + eps
        sim_iou[mask] = sim[mask] / denom[mask]
        potential[g[:, None], t[None, :]] += sim_iou
    alignment = potential / (gt_count[:, None] + tr_count[None, :] - potential)
    ms, mg, mt = [], [], []
    for g, t, sim in frames:
        score = alignment[g[:, None], t[None, :]] * sim
        rows, cols = np.nonzero(score > 0)
        if len(set(rows.tolist())) < len(rows) or len(set(cols.tolist())) < len(cols):
            rows, cols = linear_sum_assignment(-score)
        ms += sim[rows, cols].tolist()
        mg += g[rows].tolist()
        mt += t[cols].tolist()
    ms, mg, mt = np.array(ms), np.array(mg, dtype=np.int64), np.array(mt, dtype=np.int64)
    matched = ms[None, :] >= (HOTA_ALPHAS - eps)[:, None]
    tp = matched.sum(axis=1)
    out = {"tp": tp, "fn": len(gt) - tp, "fp": len(pred) - tp,
           "loc": np.where(matched, ms[None, :], 0.0).sum(axis=1)}
    pair, inv = np.unique(mg * len(tr_count) + mt, return_inverse=True)
    pg, pt = pair // len(tr_count), pair % len(tr_count)
    for name, size in (("ass", gt_count[pg] + tr_count[pt]), ("ass_re", gt_count[pg]),
                       ("ass_pr", tr_count[pt])):
        out[name] = np.array([
            np.sum(c * (c / np.maximum(1, size - (c if name == "ass" else 0))))
            for c in (np.bincount(inv, weights=matched[a], minlength=len(pair))
                      for a in range(len(HOTA_ALPHAS)))])
    return out


def _crowded_sequence(rng):
    """Crowded frames (rows and columns with many overlaps, up to 20 boxes a side), identical
    boxes (ties), frames with a single prediction or GT, frames with one side empty."""
    gt, pred = [], []
    n_tracks = int(rng.integers(1, 25))
    base = rng.uniform(0, 120, (n_tracks, 2))
    size = rng.uniform(15, 60, (n_tracks, 2))
    for f in range(int(rng.integers(1, 25))):
        mode = rng.random()
        present = np.flatnonzero(rng.random(n_tracks) < (0.1 if mode < 0.15 else 0.8))
        for tid in present.tolist():
            x, y = base[tid] + rng.normal(0, 4, 2)
            gt.append((f, tid, x, y, *size[tid]))
            if mode < 0.95 and rng.random() < 0.85:
                j = rng.normal(0, 0.1, 4) * [*size[tid], *size[tid]]
                box = (x, y, *size[tid]) if rng.random() < 0.1 else \
                    (x + j[0], y + j[1], size[tid][0] + j[2], size[tid][1] + j[3])
                pred.append((f, (tid * 7 + f // 6) % 30, *box))
        for k in range(int(rng.integers(0, 3))):
            pred.append((f, 100 + k, *rng.uniform(0, 150, 2), *rng.uniform(10, 60, 2)))
    return MotTable.from_rows(gt), MotTable.from_rows(pred)


def test_sums_equal_the_frame_loop_bit_for_bit():
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(150):
        gt, pred = _crowded_sequence(rng)
        counts = mot_counts(gt, pred)
        if counts.hota_undefined:  # an id twice in a frame: HOTA is not computed
            continue
        ref = _frame_loop_sums(gt, pred) if len(gt) and len(pred) else None
        if ref is None:
            continue
        for name, want in ref.items():
            got = counts.hota[name]
            assert got.tolist() == want.tolist(), name
        checked += 1
    assert checked > 100
