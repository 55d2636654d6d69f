"""Multi-object tracking metrics (MOTA, IDF1, HOTA...) with py-motmetrics 1.4.0 semantics.

The CTC tracking score is motmetrics' MOTA. This module re-implements what motmetrics does,
event for event, without pandas in the hot loop:

* distances: ``1 - IoU`` computed with motmetrics' arithmetic on boxes shifted by -1 like its
  MOTChallenge loader (so every distance is bit-identical); pairs with distance > 0.5 cannot match;
* per frame (``MOTAccumulator.update``): first keep every GT's last-ever matched tracker id if it
  is present and within the threshold (GT rows in file order), then solve the remaining pairs with
  the same LAP solver and cost handling as ``motmetrics.lap`` (NaN edges made expensive, the full
  matrix kept), an assignment that contradicts the GT's last-ever match is an ID switch;
* fragmentations, MT/PT/ML, transfers/ascends/migrations as in ``motmetrics.metrics``;
* IDF1: the global min-cost GT-id / tracker-id matching over every frame pair within the
  threshold (the optimal count is unique, so any exact solver gives motmetrics' numbers).

The distances are computed once, for frames stacked by shape, and kept as the pairs within the
threshold (all other distances are NaN): the ``tvd`` preprocessing and the matching share them,
each frame's events are found on its pairs, and a frame's full matrix is rebuilt from them only
where the LAP solver (or a tracker id repeated in the frame) needs it.

Every sequence yields a :class:`MotCounts` of additive counts; :func:`finalize` turns counts into
scores, for a sequence and for summed counts (class / overall rows) alike, like motmetrics'
``OVERALL`` row. HOTA (TrackEval semantics) lives in :mod:`vcmctc.evaluators.hota`.

Protocols (how public CTC evaluators call motmetrics):

* ``plain``: ``compare_to_groundtruth(gt, pred, 'iou', distth=0.5)`` with GT rows of confidence
  >= -1 (motmetrics' loader default);
* ``hieve``: the same with GT loaded with ``min_confidence=1``;
* ``tvd``: ``CLEAR_MOT_M``: predictions matched (one LAP per frame, frames 1..seqLength) to a
  distractor GT (classes 2, 7, 8, 12) or a GT with visibility < 0 are removed, then only GT with
  confidence >= 0.99 and class 1 is evaluated.

``pred_offset=(dx, dy)`` is added to the predicted x, y. Loading both files with motmetrics (or
CompressAI-Vision with ``apply_pred_offset=True``) is ``(0, 0)``; CompressAI-Vision's default
(in-memory predictions against GT shifted by motmetrics' loader) is ``(1, 1)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from vcmctc.datasets.mot import MotTable
from vcmctc.errors import UserError
from vcmctc.evaluators import hota as _hota
from vcmctc.registry import Registry

MAX_DISTANCE = 0.5  # motmetrics distth: pairs with 1 - IoU > 0.5 cannot be matched


@dataclass(frozen=True)
class Protocol:
    """How ground truth and predictions are filtered before matching."""

    name: str
    gt_min_confidence: float  # motmetrics loader: keep rows with conf >= this
    mot16_preprocess: bool  # CLEAR_MOT_M: distractor removal + (conf >= 0.99, class 1) GT
    description: str


PROTOCOLS = {
    "plain": Protocol("plain", -1.0, False,
                      "motmetrics compare_to_groundtruth, IoU distance <= 0.5"),
    "tvd": Protocol("tvd", -1.0, True,
                    "motmetrics CLEAR_MOT_M (MOT16 preprocessing), IoU distance <= 0.5"),
    "hieve": Protocol("hieve", 1.0, False,
                      "motmetrics compare_to_groundtruth, GT min_confidence=1, "
                      "IoU distance <= 0.5"),
}

# MOT16 labels (1-based): person_on_vhcl 2, static_person 7, distractor 8, reflection 12.
_MOT16_NUM_CLASSES = 13
_MOT16_DISTRACTORS = (2, 7, 8, 12)


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise UserError(f"unknown MOT protocol {name!r} (known: {', '.join(PROTOCOLS)})") from None


# --------------------------------------------------------------------------- LAP solvers
def _expensive_edges(costs: np.ndarray) -> np.ndarray:
    """Replace NaN (forbidden) edges by a cost no optimal assignment prefers (motmetrics.lap)."""
    valid = np.isfinite(costs)
    if valid.all():
        return costs.copy()
    if not valid.any():
        return np.zeros_like(costs)
    r = min(costs.shape)
    c = np.abs(costs[valid]).max() + 1
    return np.where(valid, costs, 2 * r * c + 1)


def _solve_scipy(finite: np.ndarray):
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(finite)


def _solve_lap(finite: np.ndarray):
    try:
        from lap import lapjv
    except ImportError:
        raise UserError("LAP solver 'lap' needs the 'lap' package (pip install lap)") from None
    row_to_col, _ = lapjv(finite, return_cost=False, extend_cost=True)
    rows = np.flatnonzero(row_to_col != -1)
    return rows, row_to_col[rows]


def _solve_munkres(finite: np.ndarray):
    try:
        from munkres import Munkres
    except ImportError:
        raise UserError("LAP solver 'munkres' needs the 'munkres' package (pip install "
                        "munkres)") from None
    n_rows, n_cols = finite.shape
    n = max(n_rows, n_cols)
    square = np.zeros((n, n), dtype=finite.dtype)
    square[:n_rows, :n_cols] = finite
    pairs = np.array(Munkres().compute(square), dtype=int).reshape(-1, 2)
    pairs = pairs[(pairs[:, 0] < n_rows) & (pairs[:, 1] < n_cols)]
    return pairs[:, 0], pairs[:, 1]


# The LAP solvers motmetrics can use; the choice matters only on exact cost ties.
LAP_SOLVERS: Registry[Callable] = Registry("LAP solver")
for _name in ("scipy", "lap", "munkres"):
    LAP_SOLVERS.register(_name, f"vcmctc.evaluators.mot:_solve_{_name}")


def _assign(costs: np.ndarray, solve: Callable) -> list[tuple[int, int]]:
    """motmetrics.lap.linear_sum_assignment: pairs on finite edges, in the solver's order.

    When every finite edge is alone in its row and its column, each of them is in every optimal
    assignment of the expensive-edge problem (dropping one costs at least one expensive edge),
    so they are returned, in row order as every solver lists them, without calling the solver.
    """
    valid = np.isfinite(costs)
    rows, cols = np.nonzero(valid)
    rows, cols = rows.tolist(), cols.tolist()
    if len(set(rows)) == len(rows) and len(set(cols)) == len(cols):
        return list(zip(rows, cols))
    rows, cols = solve(_expensive_edges(costs))
    rows = np.asarray(rows).astype(int)
    cols = np.asarray(cols).astype(int)
    keep = valid[rows, cols]
    return list(zip(rows[keep].tolist(), cols[keep].tolist()))


# --------------------------------------------------------------------------- counts
@dataclass(frozen=True, eq=False)
class MotCounts:
    """Additive counts of one or more sequences (``a + b`` pools two sets of sequences)."""

    num_sequences: int = 0
    num_frames: int = 0  # frames with a GT or predicted row in the inputs, before any filter
    num_objects: int = 0  # GT boxes evaluated
    num_predictions: int = 0  # predicted boxes evaluated
    num_unique_objects: int = 0  # GT ids
    num_matches: int = 0  # MATCH events (motmetrics num_matches; excludes switches)
    num_switches: int = 0
    num_false_positives: int = 0
    num_misses: int = 0
    num_fragmentations: int = 0
    num_transfer: int = 0
    num_ascend: int = 0
    num_migrate: int = 0
    mostly_tracked: int = 0
    partially_tracked: int = 0
    mostly_lost: int = 0
    distance_sum: float = 0.0  # sum of 1 - IoU over matches and switches
    idtp: int = 0
    idfp: int = 0
    idfn: int = 0
    hota: dict = field(default_factory=_hota.empty_sums)  # per-alpha HOTA sums
    # Sequences whose HOTA is undefined: an id repeated within a frame (TrackEval refuses
    # such files) or HOTA not computed. Pooled HOTA is NaN when any is.
    hota_undefined: int = 0

    def __add__(self, other: "MotCounts") -> "MotCounts":
        if not isinstance(other, MotCounts):
            return NotImplemented
        values = {f.name: getattr(self, f.name) + getattr(other, f.name)
                  for f in dataclasses.fields(self) if f.name != "hota"}
        values["hota"] = {k: self.hota[k] + other.hota[k] for k in self.hota}
        return MotCounts(**values)

    def as_dict(self) -> dict:
        """JSON-able form; :meth:`from_dict` reverses it."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "hota"}
        d["hota"] = {k: v.tolist() for k, v in self.hota.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MotCounts":
        values = dict(d)
        values["hota"] = {k: np.asarray(v, dtype=np.int64 if k in ("tp", "fn", "fp") else float)
                          for k, v in d["hota"].items()}
        return cls(**values)


def sum_counts(counts: Iterable[MotCounts]) -> MotCounts:
    """Pool the counts of several sequences (a class or overall row)."""
    total = MotCounts()
    for c in counts:
        total = total + c
    return total


def _ratio(a, b) -> float:
    """a / b with IEEE semantics (0/0 = NaN, x/0 = inf), like motmetrics' quiet_divide."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.true_divide(np.float64(a), np.float64(b)))


# Scores reported on a 0-100 scale; MOTP stays motmetrics' mean distance 1 - IoU in [0, 1].
PERCENT_METRICS = ("MOTA", "IDF1", "IDP", "IDR", "Recall", "Precision", "HOTA", "DetA", "AssA",
                   "LocA", "DetRe", "DetPr", "AssRe", "AssPr")
COUNT_METRICS = ("Frames", "GT", "Pred", "GT_IDs", "TP", "Matches", "FP", "FN", "IDSW", "Frag",
                 "MT", "PT", "ML", "IDTP", "IDFP", "IDFN", "Transfer", "Ascend", "Migrate")
HIGHER_IS_BETTER = {**{m: True for m in PERCENT_METRICS}, "MOTP": False}


def finalize(c: MotCounts) -> dict[str, float | int]:
    """Scores from counts (one sequence or pooled). Percent metrics are 0-100; ``MOTP`` is
    motmetrics' mean ``1 - IoU`` over matched pairs (0-1, lower is better); counts are ints."""
    detections = c.num_matches + c.num_switches
    errors = c.num_misses + c.num_switches + c.num_false_positives
    out: dict[str, float | int] = {
        "MOTA": 100.0 * (1.0 - _ratio(errors, c.num_objects)),
        "MOTP": _ratio(c.distance_sum, detections),
        "IDF1": 100.0 * _ratio(2 * c.idtp, c.num_objects + c.num_predictions),
        "IDP": 100.0 * _ratio(c.idtp, c.idtp + c.idfp),
        "IDR": 100.0 * _ratio(c.idtp, c.idtp + c.idfn),
        "Recall": 100.0 * _ratio(detections, c.num_objects),
        "Precision": 100.0 * _ratio(detections, c.num_false_positives + detections),
    }
    hota_scores = _hota.hota_scores(c.hota)
    out.update({k: (math.nan if c.hota_undefined else 100.0 * v)
                for k, v in hota_scores.items() if k in PERCENT_METRICS})
    out.update({
        "Frames": c.num_frames, "GT": c.num_objects, "Pred": c.num_predictions,
        "GT_IDs": c.num_unique_objects, "TP": detections, "Matches": c.num_matches,
        "FP": c.num_false_positives, "FN": c.num_misses, "IDSW": c.num_switches,
        "Frag": c.num_fragmentations, "MT": c.mostly_tracked, "PT": c.partially_tracked,
        "ML": c.mostly_lost, "IDTP": c.idtp, "IDFP": c.idfp, "IDFN": c.idfn,
        "Transfer": c.num_transfer, "Ascend": c.num_ascend, "Migrate": c.num_migrate,
    })
    return {k: (int(v) if k in COUNT_METRICS else float(v)) for k, v in out.items()}


# --------------------------------------------------------------------------- geometry
def _mm_distances(a: np.ndarray, b: np.ndarray, max_distance: float) -> np.ndarray:
    """``(..., n, m)`` matrices of ``1 - IoU`` between ``(..., n, 4)`` and ``(..., m, 4)``
    ``x, y, w, h`` rows, with the operations of motmetrics' ``iou_matrix`` (hence the same
    bits); NaN where the distance exceeds ``max_distance``."""
    a_max = a[..., :2] + a[..., 2:]
    b_max = b[..., :2] + b[..., 2:]
    i_vol = None
    for c in (0, 1):
        side = np.minimum(a_max[..., :, None, c], b_max[..., None, :, c])
        side -= np.maximum(a[..., :, None, c], b[..., None, :, c])
        np.maximum(side, 0, out=side)
        i_vol = side if i_vol is None else np.multiply(i_vol, side, out=i_vol)
    a_size = np.maximum(a_max - a[..., :2], 0)
    b_size = np.maximum(b_max - b[..., :2], 0)
    u_vol = ((a_size[..., 0] * a_size[..., 1])[..., :, None]
             + (b_size[..., 0] * b_size[..., 1])[..., None, :])
    u_vol -= i_vol
    zero = i_vol == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.divide(i_vol, u_vol, out=u_vol)
    dist[zero] = 0.0
    np.subtract(1, dist, out=dist)
    dist[dist > max_distance] = np.nan
    return dist


@dataclass
class _Frames:
    """Frame-sorted GT and predictions cut into frames: rows ``gs[k]:ge[k]``, ``ps[k]:pe[k]``."""

    frames: np.ndarray  # union of frame numbers, sorted
    gs: np.ndarray
    ge: np.ndarray
    ps: np.ndarray
    pe: np.ndarray

    @classmethod
    def cut(cls, g_frame: np.ndarray, p_frame: np.ndarray) -> "_Frames":
        frames = _dense_values(np.concatenate([g_frame, p_frame]))
        return cls(frames, *(np.searchsorted(f, frames, side)
                             for f in (g_frame, p_frame) for side in ("left", "right")))

    def both(self) -> np.ndarray:
        """Indices of the frames with boxes on both sides."""
        return np.flatnonzero((self.ge > self.gs) & (self.pe > self.ps))

    def shapes(self, ks: np.ndarray):
        """Frames ``ks`` grouped by shape: yields ``(q, gr, pr)`` per (GT count, prediction
        count): ``q`` the positions in ``ks`` of the group's ``B`` frames (ascending), ``gr``
        ``(B, n)`` and ``pr`` ``(B, m)`` their GT and prediction row numbers."""
        n_all, m_all = self.ge[ks] - self.gs[ks], self.pe[ks] - self.ps[ks]
        if not len(ks):
            return
        shape = n_all * (int(m_all.max()) + 1) + m_all
        order = np.argsort(shape, kind="stable")
        bounds = np.flatnonzero(np.r_[True, shape[order][1:] != shape[order][:-1], True])
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            q = order[lo:hi]
            kk = ks[q]
            yield (q, self.gs[kk][:, None] + np.arange(n_all[q[0]]),
                   self.ps[kk][:, None] + np.arange(m_all[q[0]]))


@dataclass
class _Pairs:
    """Every (GT row, prediction row) pair within the distance threshold with its distance, in
    frame order and row-major within a frame (the order of ``np.nonzero`` on each frame's
    matrix). The rest of each frame's matrix is NaN."""

    g: np.ndarray
    p: np.ndarray
    d: np.ndarray

    @classmethod
    def near(cls, fr: _Frames, gbox: np.ndarray, pbox: np.ndarray,
             max_distance: float) -> "_Pairs":
        parts = [(np.empty(0, np.int64),) * 3 + (np.empty(0),)]
        for q, gr, pr in fr.shapes(fr.both()):
            out = _mm_distances(gbox[gr], pbox[pr], max_distance)
            b, i, j = np.nonzero(out == out)  # finite
            parts.append((q[b], gr[b, i], pr[b, j], out[b, i, j]))
        rank, g, p, d = (np.concatenate(c) for c in zip(*parts))
        in_order = _hota.frame_order(rank)  # a frame is in one group, row-major
        return cls(g[in_order], p[in_order], d[in_order])

    def matrix(self, lo: int, hi: int, gs: int, ps: int, n: int, m: int) -> np.ndarray:
        """The ``(n, m)`` distance matrix of a frame whose pairs are ``lo:hi`` and whose rows
        start at GT row ``gs`` and prediction row ``ps``: NaN off the pairs, as
        :func:`_mm_distances` gives it."""
        D = np.full((n, m), np.nan)
        D[self.g[lo:hi] - gs, self.p[lo:hi] - ps] = self.d[lo:hi]
        return D

    def subset(self, g_keep: np.ndarray, p_keep: np.ndarray) -> "_Pairs":
        """The pairs between kept rows, numbered as rows of the subsets."""
        sel = g_keep[self.g] & p_keep[self.p]
        g_row, p_row = np.cumsum(g_keep) - 1, np.cumsum(p_keep) - 1
        return _Pairs(g_row[self.g[sel]], p_row[self.p[sel]], self.d[sel])


# --------------------------------------------------------------------------- preprocessing
def _mot16_keep(gt: MotTable, pred: MotTable, fr: _Frames, pairs: _Pairs,
                seq_length: int | None, solve: Callable) -> np.ndarray:
    """motmetrics.preprocess.preprocessResult: mask of the predictions to keep (``fr``: the
    frames of ``gt`` and ``pred``, ``pairs``: their pairs within the threshold)."""
    cls = gt.cls
    bad = (cls != np.round(cls)) | (cls < 1) | (cls > _MOT16_NUM_CLASSES)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"protocol tvd needs MOT16 class ids 1..{_MOT16_NUM_CLASSES} in column 8, "
                        f"got {float(cls[i])!r}", file=gt.source, line=int(gt.line[i]))
    flagged = np.isin(cls, _MOT16_DISTRACTORS) | (gt.visibility < 0.0)
    keep = np.ones(len(pred), dtype=bool)
    if not flagged.any() or len(pred) == 0:
        return keep
    last = seq_length if seq_length is not None else int(max(gt.frame.max(), pred.frame.max()))
    # motmetrics visits frames 1..seqLength; only a frame where a flagged GT has a pair within
    # the threshold can lose predictions, through that frame's assignment.
    frame = gt.frame[pairs.g]
    visited = (frame >= 1) & (frame <= last)
    hot = visited & np.isin(frame, frame[visited & flagged[pairs.g]])
    g_hot, p_hot = pairs.g[hot], pairs.p[hot]
    # A frame whose pairs share no row and no column is assigned those pairs (see _assign).
    shared = np.r_[gt.frame[g_hot[(np.bincount(g_hot, minlength=len(gt)) > 1)[g_hot]]],
                   pred.frame[p_hot[(np.bincount(p_hot, minlength=len(pred)) > 1)[p_hot]]]]
    shared = np.unique(shared)
    alone = ~np.isin(frame[hot], shared)
    dropped = [p_hot[alone & flagged[g_hot]]]  # prediction rows matched to a flagged GT
    ks = np.searchsorted(fr.frames, shared)
    for k, lo, hi in zip(ks.tolist(), np.searchsorted(frame, shared, "left").tolist(),
                         np.searchsorted(frame, shared, "right").tolist()):
        gs, ps = int(fr.gs[k]), int(fr.ps[k])
        costs = pairs.matrix(lo, hi, gs, ps, int(fr.ge[k]) - gs, int(fr.pe[k]) - ps)
        dropped.append(np.array([ps + j for i, j in _assign(costs, solve) if flagged[gs + i]],
                                dtype=np.int64))
    dropped = np.concatenate(dropped)
    if len(dropped):  # DataFrame.drop by (frame, id) label removes every row with that label
        ids, n_ids = _dense_index(pred.id)
        key = (pred.frame - pred.frame.min()) * n_ids + ids
        keep = ~np.isin(key, key[dropped])
    return keep


# --------------------------------------------------------------------------- main entry
def mot_counts(gt: MotTable, pred: MotTable, *, protocol: str = "plain",
               pred_offset: tuple[float, float] = (0.0, 0.0), seq_length: int | None = None,
               solver: str = "scipy", hota: bool = True,
               max_distance: float = MAX_DISTANCE) -> MotCounts:
    """Counts of one sequence (see the module docstring for the protocols and the offset).

    ``seq_length`` bounds the frames the ``tvd`` preprocessing visits (1..seq_length, as
    motmetrics reads it from seqinfo.ini); by default every frame >= 1. ``solver`` is the LAP
    solver motmetrics would use (``scipy``, ``lap`` or ``munkres``); solvers differ only on exact
    cost ties. ``hota=False`` skips HOTA (reported as NaN).
    """
    proto = get_protocol(protocol)
    solve = LAP_SOLVERS.get(solver)
    dx, dy = (float(v) for v in pred_offset)
    loaded_gt, loaded_pred = gt.frame, pred.frame
    gt = gt.subset(gt.conf >= proto.gt_min_confidence)
    pred = pred.subset(pred.conf >= -1.0)
    # motmetrics' loader subtracts 1 from x, y; the offset is applied on top of that.
    gbox = gt.boxes + np.array([-1.0, -1.0, 0.0, 0.0])
    pbox = pred.boxes + np.array([dx - 1.0, dy - 1.0, 0.0, 0.0])
    pairs = None
    if proto.mot16_preprocess:
        fr = _Frames.cut(gt.frame, pred.frame)
        pairs = _Pairs.near(fr, gbox, pbox, max_distance)
        keep = _mot16_keep(gt, pred, fr, pairs, seq_length, solve)
        pred, pbox = pred.subset(keep), pbox[keep]
        use = (gt.conf >= 0.99) & (gt.cls == 1)
        gt, gbox = gt.subset(use), gbox[use]
        pairs = pairs.subset(use, keep)  # the same distances as between the subsets

    # motmetrics counts the frames of the union of the two indexes it compares, whose levels
    # keep every frame of both loaded files even when rows were filtered out; but a union with
    # an empty side is the other side as it is (pandas checks the second side first).
    if len(pred) == 0:
        num_frames = len(_dense_values(loaded_gt))
    elif len(gt) == 0:
        num_frames = len(_dense_values(loaded_pred))
    else:
        num_frames = len(_dense_values(np.concatenate([loaded_gt, loaded_pred])))

    g, p = _Side.of(gt, gbox), _Side.of(pred, pbox)
    fr = _Frames.cut(gt.frame, pred.frame)
    if pairs is None:
        pairs = _Pairs.near(fr, gbox, pbox, max_distance)
    counts = dataclasses.replace(_clear_identity(g, p, fr, pairs, solve),
                                 num_sequences=1, num_frames=num_frames)
    if not hota or g.repeated or p.repeated:
        return dataclasses.replace(counts, hota_undefined=1)
    # TrackEval reads the files as they are: no -1 shift, only the offset.
    sums = _hota_for(g, p, pred.boxes + np.array([dx, dy, 0.0, 0.0]), fr)
    return dataclasses.replace(counts, hota=sums)


def evaluate_mot(gt: MotTable, pred: MotTable, **options) -> dict[str, float | int]:
    """Scores of one sequence: ``finalize(mot_counts(gt, pred, **options))``."""
    return finalize(mot_counts(gt, pred, **options))


def _presence(values: np.ndarray) -> tuple[int, np.ndarray] | None:
    """``(lo, present)``: which of ``lo, lo + 1, ...`` occur in the (non-empty) int64
    ``values``; None when they span too wide a range for a lookup table."""
    lo = int(values.min())
    span = int(values.max()) - lo + 1
    if span > 4 * len(values) + (1 << 21):
        return None
    present = np.zeros(span, bool)
    present[values - lo] = True
    return lo, present


def _dense_values(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of int64 values, by a lookup table when they span a small range."""
    if not len(values):
        return values[:0].astype(np.int64)
    table = _presence(values)
    if table is None:
        return np.unique(values)
    lo, present = table
    return np.flatnonzero(present) + lo


def _dense_index(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``np.unique(values, return_inverse=True)[1]`` (int64) and the number of distinct values;
    a lookup table when the values span a small range."""
    if not len(values):
        return np.zeros(0, np.int64), 0
    table = _presence(values)
    if table is None:
        _, idx = np.unique(values, return_inverse=True)
        idx = idx.astype(np.int64)
        return idx, int(idx.max()) + 1
    lo, present = table
    dense = np.cumsum(present, dtype=np.int64) - 1
    return dense[values - lo], int(dense[-1]) + 1


@dataclass
class _Side:
    """One side (GT or predictions) of a sequence, ready for matching."""

    table: MotTable
    box: np.ndarray  # x, y, w, h in motmetrics' coordinates
    idx: np.ndarray  # dense id index 0..n_ids-1 per row
    n_ids: int
    id_frames: int  # distinct (frame, id) pairs: an id counts once per frame it appears in

    @classmethod
    def of(cls, table: MotTable, box: np.ndarray) -> "_Side":
        idx, n_ids = _dense_index(table.id)
        if not len(idx):
            return cls(table, box, idx, 0, 0)
        key = np.sort((table.frame - table.frame.min()) * n_ids + idx)
        return cls(table, box, idx, n_ids, 1 + int(np.count_nonzero(key[1:] != key[:-1])))

    @property
    def repeated(self) -> bool:
        """An id occurs twice in one frame."""
        return self.id_frames < len(self.table)


def _hota_for(g: _Side, p: _Side, pbox: np.ndarray, fr: _Frames):
    gbox = g.table.boxes
    groups = [(q, g.idx[gr], p.idx[pr], _hota.trackeval_iou_matrix(gbox[gr], pbox[pr]))
              for q, gr, pr in fr.shapes(fr.both())]
    return _hota.hota_sums(g.idx, p.idx, groups)


def _carry_forward(D: np.ndarray, oids: list[int], hids: list[int], last: np.ndarray
                   ) -> list[tuple[int, int]]:
    """Step 1 of a frame on its full matrix ``D`` (GT id indices ``oids``, tracker id indices
    ``hids``): each GT row in order takes the first unused column of its GT's last-ever tracker
    id, if that pair is within the threshold."""
    cols_of: dict[int, list[int]] = {}
    for j, h in enumerate(hids):
        cols_of.setdefault(h, []).append(j)
    col_used = [False] * len(hids)
    out = []
    for i, o in enumerate(oids):
        cols = cols_of.get(int(last[o]))
        if cols is None:
            continue
        j = next((j for j in cols if not col_used[j]), None)
        if j is None or D[i, j] != D[i, j]:  # none left, or NaN: too far
            continue
        col_used[j] = True
        out.append((i, j))
    return out


def _distinct(values: np.ndarray) -> bool:
    items = values.tolist()
    return len(set(items)) == len(items)


def _clear_identity(g: _Side, p: _Side, fr: _Frames, pairs: _Pairs, solve: Callable
                    ) -> MotCounts:
    """CLEAR-MOT events (MOTAccumulator.update, frame by frame) and identity counts.

    Only frames with a pair within the threshold have matches. A frame is processed on its pairs
    (all other distances are NaN); its full matrix is built only when a tracker id repeats in
    the frame or the LAP solver is needed, exactly as motmetrics' dense update would see it.
    """
    num_objects, num_predictions = len(g.idx), len(p.idx)
    last = np.full(g.n_ids, -1, np.int64)  # motmetrics m: GT id -> last matched tracker id
    res_m = np.full(p.n_ids, -1, np.int64)  # tracker id -> GT id of its last step-2 match
    ever = np.zeros(g.n_ids, bool)  # GT ids matched at least once (last_match)
    hyp = np.zeros(p.n_ids, bool)  # tracker ids matched at least once
    tracked = np.zeros(num_objects, dtype=bool)  # per GT row: matched or switched
    taken = np.zeros(num_predictions, dtype=bool)  # per prediction row: matched or switched
    # Event order inside a frame (matches in assignment order, then misses) only matters for a
    # GT id repeated in one frame: then each row's position among its frame's events is kept.
    rank = np.zeros(num_objects, dtype=np.int64) if g.repeated else None
    distances: list = []  # distance of every match and switch, in event order
    n_carried = n_match = n_switch = n_transfer = n_ascend = n_migrate = 0

    pg, pp, pd = pairs.g, pairs.p, pairs.d
    og, hp = g.idx[pg], p.idx[pp]  # the ids of each pair
    frame = g.table.frame[pg]
    bounds = np.flatnonzero(np.r_[True, frame[1:] != frame[:-1], True]) if len(pg) else []
    ks = np.searchsorted(fr.frames, frame[bounds[:-1]]) if len(pg) else []
    repeats: set[int] = set()  # frames (indices k) with a tracker id twice
    if p.repeated:
        key = (p.table.frame - p.table.frame.min()) * p.n_ids + p.idx
        srt = np.sort(key)
        twice = srt[1:][srt[1:] == srt[:-1]] // p.n_ids + p.table.frame.min()
        repeats = set(np.searchsorted(fr.frames, twice).tolist())

    starts, stops = (fr.gs.tolist(), fr.ps.tolist()), (fr.ge.tolist(), fr.pe.tolist())
    for a, b, k in zip(bounds[:-1].tolist() if len(pg) else [],
                       bounds[1:].tolist() if len(pg) else [], ks.tolist() if len(pg) else []):
        (gs, ps), (ge, pe) = (starts[0][k], starts[1][k]), (stops[0][k], stops[1][k])
        D = None
        # 1. Carry forward each GT's last-ever match if present and within the threshold.
        if k in repeats:
            D = pairs.matrix(a, b, gs, ps, ge - gs, pe - ps)
            step1 = _carry_forward(D, g.idx[gs:ge].tolist(), p.idx[ps:pe].tolist(), last)
            rows = np.array([gs + i for i, _ in step1], dtype=np.int64)
            cols = np.array([ps + j for _, j in step1], dtype=np.int64)
            dists = np.array([D[i, j] for i, j in step1], dtype=float)
        else:
            sel = np.flatnonzero(last[og[a:b]] == hp[a:b]) + a
            if len(sel) > 1 and not _distinct(pp[sel]):  # two GT ids last matched to one id
                sel = sel[np.sort(np.unique(pp[sel], return_index=True)[1])]
            rows, cols, dists = pg[sel], pp[sel], pd[sel]
        tracked[rows] = True
        taken[cols] = True
        distances.append(dists)
        n_carried += len(rows)

        # 2. Assign the rest with the LAP solver on the full matrix (used rows/cols NaN).
        step2: list = []
        free = np.flatnonzero(~tracked[pg[a:b]] & ~taken[pp[a:b]]) + a if len(rows) < b - a \
            else ()
        if len(free):
            if _distinct(pg[free]) and _distinct(pp[free]):  # _assign's shortcut
                step2 = list(zip(pg[free].tolist(), pp[free].tolist(), pd[free].tolist()))
            else:
                if D is None:
                    D = pairs.matrix(a, b, gs, ps, ge - gs, pe - ps)
                costs = D.copy()
                costs[tracked[gs:ge], :] = np.nan
                costs[:, taken[ps:pe]] = np.nan
                step2 = [(gs + i, ps + j, D[i, j]) for i, j in _assign(costs, solve)]
        for r, c, d in step2:
            o, h = int(g.idx[r]), int(p.idx[c])
            prev = int(last[o])
            if prev >= 0 and prev != h:
                n_switch += 1
                if not hyp[h]:
                    n_ascend += 1
            else:
                n_match += 1
            t = int(res_m[h])
            if t >= 0 and t != o:
                n_transfer += 1
                if not ever[o]:
                    n_migrate += 1
            hyp[h] = ever[o] = tracked[r] = taken[c] = True
            last[o], res_m[h] = h, o
        if step2:
            distances.append(np.array([d for _, _, d in step2], dtype=float))

        # 3./4. Unmatched GT rows are misses, unmatched predictions false positives.
        if rank is not None:
            events = rows.tolist() + [r for r, _, _ in step2]
            done = set(events)
            rank[events + [r for r in range(gs, ge) if r not in done]] = np.arange(ge - gs)

    n_assigned = int(tracked.sum())
    d_all = np.concatenate(distances) if distances else np.empty(0)
    d_sum = float(np.cumsum(d_all)[-1]) if len(d_all) else 0.0  # sequential, in event order
    mt, pt, ml = _track_ratios(g.idx, tracked)
    idtp, idfp, idfn = _identity(g, p, pg, pp)
    return MotCounts(
        num_objects=num_objects, num_predictions=num_predictions, num_unique_objects=g.n_ids,
        num_matches=n_carried + n_match, num_switches=n_switch,
        num_false_positives=num_predictions - n_assigned,
        num_misses=num_objects - n_assigned,
        num_fragmentations=_fragmentations(g.idx, g.table.frame, tracked, rank),
        num_transfer=n_transfer, num_ascend=n_ascend, num_migrate=n_migrate,
        mostly_tracked=mt, partially_tracked=pt, mostly_lost=ml, distance_sum=d_sum,
        idtp=idtp, idfp=idfp, idfn=idfn)


def _track_ratios(g_idx: np.ndarray, tracked: np.ndarray) -> tuple[int, int, int]:
    """Mostly tracked (>= 80 % of boxes), partially tracked, mostly lost (< 20 %) GT ids."""
    if len(g_idx) == 0:
        return 0, 0, 0
    total = np.bincount(g_idx)
    hit = np.bincount(g_idx[tracked], minlength=len(total))
    ratio = hit / total
    return (int((ratio >= 0.8).sum()), int(((ratio >= 0.2) & (ratio < 0.8)).sum()),
            int((ratio < 0.2).sum()))


def _fragmentations(g_idx: np.ndarray, frame: np.ndarray, tracked: np.ndarray,
                    rank: np.ndarray | None) -> int:
    """Tracked -> missed transitions strictly inside each GT id's first..last tracked event
    (events ordered by frame, then by ``rank`` within a frame when given)."""
    if len(g_idx) == 0:
        return 0
    keys = (frame, g_idx) if rank is None else (rank, frame, g_idx)
    seq = np.lexsort(keys)
    obj, trk = g_idx[seq], tracked[seq]
    same = obj[1:] == obj[:-1]
    starts = np.flatnonzero(np.r_[True, ~same])
    pos = np.arange(len(seq))
    last = np.maximum.reduceat(np.where(trk, pos, -1), starts)  # last tracked event per id
    group = np.cumsum(np.r_[False, ~same])
    frag = (~trk[1:]) & trk[:-1] & same & (pos[1:] < last[group[1:]])
    return int(frag.sum())


def _identity(g: _Side, p: _Side, near_g: np.ndarray, near_p: np.ndarray
              ) -> tuple[int, int, int]:
    """IDTP, IDFP, IDFN of motmetrics' global id matching.

    A (GT id, tracker id) pair earns one potential true positive per in-frame (GT row, pred row)
    pair within the threshold (``near_g``, ``near_p``); an id counts once per frame it appears in.
    The matching maximises the summed true positives; it is solved per connected component of
    the id graph (the optimum, hence every count, is the same as motmetrics' dense problem).
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    best = 0
    if len(near_g):
        n_g, n_t = g.n_ids, p.n_ids
        key, tp = np.unique(g.idx[near_g] * n_t + p.idx[near_p], return_counts=True)
        rows, cols = key // n_t, key % n_t
        graph = coo_matrix((np.ones(len(key)), (rows, n_g + cols)), shape=(n_g + n_t,) * 2)
        _, label = connected_components(graph, directed=False)
        comp = label[rows]
        order = np.argsort(comp, kind="stable")
        bounds = np.flatnonzero(np.r_[True, comp[order][1:] != comp[order][:-1], True])
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            sel = order[lo:hi]
            if hi - lo == 1:
                best += int(tp[sel[0]])
                continue
            r_u, r_inv = np.unique(rows[sel], return_inverse=True)
            c_u, c_inv = np.unique(cols[sel], return_inverse=True)
            w = np.zeros((len(r_u), len(c_u)))
            w[r_inv, c_inv] = tp[sel]
            ri, ci = linear_sum_assignment(w, maximize=True)
            best += int(w[ri, ci].sum())
    idfn = g.id_frames - best
    idfp = p.id_frames - best
    return len(g.idx) - idfn, idfp, idfn
