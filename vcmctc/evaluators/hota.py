"""HOTA (Luiten et al., IJCV 2021) as additive per-sequence sums, following TrackEval.

TrackEval's ``HOTA.eval_sequence`` is reproduced: IoU similarity without threshold, a global
alignment score per (GT id, tracker id) pair accumulated over the sequence, one Hungarian matching
per frame on ``alignment * similarity``, and per-alpha TP/FN/FP, LocA and association sums for the
19 thresholds ``alpha = 0.05, 0.10, ..., 0.95``. Only sums are kept, so a combined row (class,
overall) is the sum of its sequences' sums; that is exactly how TrackEval's ``combine_sequences``
combines HOTA (summed HOTA_TP/FN/FP, HOTA_TP-weighted AssA/AssRe/AssPr and LocA).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

# Exactly TrackEval's thresholds (np.arange keeps its floating-point values).
HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps
SUM_FIELDS = ("tp", "fn", "fp", "loc", "ass", "ass_re", "ass_pr")


def trackeval_iou_matrix(g: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``(..., n, m)`` IoU between ``(..., n, 4)`` and ``(..., m, 4)`` ``x, y, w, h`` rows with
    TrackEval's ``_calculate_box_ious`` arithmetic and degenerate-box rules (zero area or zero
    union give 0)."""
    g1 = g[..., :2] + g[..., 2:]
    p1 = p[..., :2] + p[..., 2:]
    inter = None
    for c in (0, 1):
        side = np.minimum(g1[..., :, None, c], p1[..., None, :, c])
        side -= np.maximum(g[..., :, None, c], p[..., None, :, c])
        np.maximum(side, 0, out=side)
        inter = side if inter is None else np.multiply(inter, side, out=inter)
    area_g = (g1[..., 0] - g[..., 0]) * (g1[..., 1] - g[..., 1])
    area_p = (p1[..., 0] - p[..., 0]) * (p1[..., 1] - p[..., 1])
    union = area_g[..., :, None] + area_p[..., None, :]
    union -= inter
    small = union <= 0 + _EPS
    inter[small | (area_g <= 0 + _EPS)[..., :, None] | (area_p <= 0 + _EPS)[..., None, :]] = 0
    union[small] = 1
    return np.divide(inter, union, out=inter)


def frame_order(rank: np.ndarray) -> np.ndarray:
    """``np.argsort(rank, kind="stable")`` for frame positions ``rank >= 0``; 16-bit keys let
    numpy use its radix sort (the same permutation: a stable sort has only one)."""
    if len(rank) and int(rank.max()) < 2 ** 15:
        rank = rank.astype(np.int16)
    return np.argsort(rank, kind="stable")


def empty_sums() -> dict[str, np.ndarray]:
    n = len(HOTA_ALPHAS)
    return {f: np.zeros(n, np.int64) if f in ("tp", "fn", "fp") else np.zeros(n)
            for f in SUM_FIELDS}


def hota_sums(gt_idx: np.ndarray, tr_idx: np.ndarray,
              groups: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
              ) -> dict[str, np.ndarray]:
    """Per-alpha HOTA sums of one sequence.

    ``gt_idx`` / ``tr_idx``: contiguous id index (0..n-1) of every GT / tracker box of the
    sequence. The frames with boxes on both sides come in groups of frames of one shape: each
    ``(rank, g, t, sim)`` holds ``B`` frames, ``rank`` their ``(B,)`` positions in frame order
    (every position 0..F-1 in exactly one group), ``g`` ``(B, n)`` and ``t`` ``(B, m)`` the
    boxes' id indices and ``sim`` the ``(B, n, m)`` IoU matrices. Frames with boxes on one side
    only add FN or FP, which follow from the totals.

    The numbers are bit for bit those of TrackEval's frame loop: a group stacks frames of equal
    shape, so each row or column sum reduces the same values in the same way as one frame's
    ``sim.sum``; the rest is elementwise; sums over frames run in frame order.
    """
    from scipy.optimize import linear_sum_assignment

    out = empty_sums()
    n_gt, n_tr = len(gt_idx), len(tr_idx)
    out["fn"][:] = n_gt
    out["fp"][:] = n_tr
    groups = [grp for grp in groups if len(grp[0])]
    if n_gt == 0 or n_tr == 0 or not groups:
        return out

    gt_count = np.bincount(gt_idx).astype(float)
    tr_count = np.bincount(tr_idx).astype(float)
    n_g, n_t = len(gt_count), len(tr_count)

    # Pass 1: global alignment between ids, with TrackEval's per-frame arithmetic; bincount adds
    # the frames' contributions to each (gt, tracker) cell in frame order, like its loop (an id
    # pair occurs once per frame; a zero contribution changes no sum, so only overlaps count).
    parts, cells = [], []
    for rank, g, t, sim in groups:
        col_sum, row_sum = sim.sum(1), sim.sum(2)
        q, i, j = np.nonzero(sim > 0)  # IoU >= 0: the nonzero ones
        v = sim[q, i, j]
        denom = col_sum[q, j] + row_sum[q, i] - v
        w = np.zeros_like(v)
        mask = denom > 0 + _EPS
        w[mask] = v[mask] / denom[mask]
        key = g[q, i] * n_t + t[q, j]
        parts.append((rank[q], key, w))
        cells.append((q, i, j, key, v))
    rank_all, key_all, w_all = (np.concatenate(c) for c in zip(*parts))
    in_order = frame_order(rank_all)
    potential = np.bincount(key_all[in_order], w_all[in_order],
                            minlength=n_g * n_t).reshape(n_g, n_t)
    alignment = potential / (gt_count[:, None] + tr_count[None, :] - potential)

    # Pass 2: one matching per frame maximising score = alignment * similarity (zero off the
    # overlapping cells); the matched pairs in frame order, row order within a frame.
    parts = []
    for (rank, g, t, sim), (q, i, j, key, v) in zip(groups, cells):
        b, n, m = sim.shape
        score = alignment.ravel()[key] * v
        pos = score > 0
        qp, ip, jp = q[pos], i[pos], j[pos]
        # When each positive pair is alone in its row and column, every optimal matching
        # contains all of them; the other matched pairs have similarity 0 and never count.
        clash = ((np.bincount(qp * n + ip, minlength=b * n) > 1).reshape(b, n).any(1)
                 | (np.bincount(qp * m + jp, minlength=b * m) > 1).reshape(b, m).any(1))
        alone = ~clash[qp]
        parts.append((rank[qp[alone]], key[pos][alone], v[pos][alone]))
        solve = np.flatnonzero(clash)
        if len(solve):
            # The frames' full cost matrices; a zero's sign cannot change the solver's choice.
            costs = np.zeros((len(solve), n, m))
            sel = clash[q]
            costs[(np.cumsum(clash) - 1)[q[sel]], i[sel], j[sel]] = -score[sel]
            found = [linear_sum_assignment(c) for c in costs]
            fq = np.repeat(solve, [len(r) for r, _ in found])
            fr = np.concatenate([r for r, _ in found])
            fc = np.concatenate([c for _, c in found])
            parts.append((rank[fq], g[fq, fr] * n_t + t[fq, fc], sim[fq, fr, fc]))
    rank_all, key_all, sim_all = (np.concatenate(c) for c in zip(*parts))
    in_order = frame_order(rank_all)
    ms, mk = sim_all[in_order], key_all[in_order]

    # Per alpha: a match counts when its similarity reaches alpha (TrackEval's eps rule).
    matched = ms[None, :] >= (HOTA_ALPHAS - _EPS)[:, None]  # (alphas, matches)
    out["tp"] = matched.sum(axis=1).astype(np.int64)
    out["fn"] = n_gt - out["tp"]
    out["fp"] = n_tr - out["tp"]
    out["loc"] = np.where(matched, ms[None, :], 0.0).sum(axis=1)
    pair, pair_inv = np.unique(mk, return_inverse=True)
    pg, pt = pair // n_t, pair % n_t
    for a in range(len(HOTA_ALPHAS)):
        count = np.bincount(pair_inv, weights=matched[a], minlength=len(pair))
        out["ass"][a] = np.sum(count * (count / np.maximum(1, gt_count[pg] + tr_count[pt] - count)))
        out["ass_re"][a] = np.sum(count * (count / np.maximum(1, gt_count[pg])))
        out["ass_pr"][a] = np.sum(count * (count / np.maximum(1, tr_count[pt])))
    return out


def hota_scores(sums: dict[str, np.ndarray]) -> dict[str, float]:
    """HOTA, DetA, AssA, LocA, ... (0..1, averaged over alpha) from summed counts."""
    tp, fn, fp = (sums[k].astype(float) for k in ("tp", "fn", "fp"))
    det_re = tp / np.maximum(1, tp + fn)
    det_pr = tp / np.maximum(1, tp + fp)
    det_a = tp / np.maximum(1, tp + fn + fp)
    ass_a = sums["ass"] / np.maximum(1, tp)
    ass_re = sums["ass_re"] / np.maximum(1, tp)
    ass_pr = sums["ass_pr"] / np.maximum(1, tp)
    loc_a = np.maximum(1e-10, sums["loc"]) / np.maximum(1e-10, tp)
    hota = np.sqrt(det_a * ass_a)
    return {"HOTA": float(np.mean(hota)), "DetA": float(np.mean(det_a)),
            "AssA": float(np.mean(ass_a)), "LocA": float(np.mean(loc_a)),
            "DetRe": float(np.mean(det_re)), "DetPr": float(np.mean(det_pr)),
            "AssRe": float(np.mean(ass_re)), "AssPr": float(np.mean(ass_pr)),
            "HOTA(0)": float(hota[0]), "LocA(0)": float(loc_a[0])}
