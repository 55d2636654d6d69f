"""BD-rate of every sequence of a test table against an anchor table, plus their mean (pure).

Means are arithmetic means of the per-sequence percentages (as in the JVET/MPEG sheets) and are
only given in full: ``mean_bd_rate`` is None unless every sequence (including those missing from
one table) has a BD-rate. ``mean_bd_rate_partial`` is the mean over the sequences that have one,
and ``mean_over`` lists them, so a mean over a subset never looks like the full mean. The same
holds for BD-metric (``mean_bd_metric``, ``mean_bd_metric_partial``, ``mean_bd_metric_over``).
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

from vcmctc.bd.core import BDResult, bd_rate
from vcmctc.bd.settings import DEFAULTS, BDSettings

#: Statuses a table row can have besides those of :data:`vcmctc.bd.settings.STATUSES`.
MISSING_STATUSES = ("missing-in-anchor", "missing-in-test")

Curve = tuple[Sequence[float], Sequence[float]]  # (rates, metrics)


def _missing(seq, status: str, settings: BDSettings, message: str) -> dict:
    empty = {"rate": [], "metric": []}
    return {"sequence": seq, "bd_rate": None, "bd_metric": None, "status": status,
            "warnings": [message], "overlap": None, "overlap_rate": None,
            "method": settings.method, "policy": settings.policy,
            "min_points": settings.min_points, "fit_solver": settings.fit_solver,
            "min_overlap": settings.min_overlap, "anchor_points": empty, "test_points": empty,
            "anchor_dropped": empty, "test_dropped": empty, "fitted": [],
            "anchor_fit": None, "test_fit": None}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(anchor: Mapping[Hashable, Curve], test: Mapping[Hashable, Curve], *,
              settings: BDSettings = DEFAULTS) -> dict:
    """Per-sequence results (anchor order, then test-only sequences) and means.

    Keys of ``anchor``/``test`` are sequence names (``None`` for a table without sequences).
    """
    results = []
    for seq in list(anchor) + [s for s in test if s not in anchor]:
        if seq not in test:
            results.append(_missing(seq, "missing-in-test", settings,
                                    f"sequence {seq} is in the anchor but not in the test table"))
        elif seq not in anchor:
            results.append(_missing(seq, "missing-in-anchor", settings,
                                    f"sequence {seq} is in the test but not in the anchor table"))
        else:
            r: BDResult = bd_rate(*anchor[seq], *test[seq], **settings.kwargs())
            results.append({"sequence": seq, **r.to_dict()})

    out = {**settings.kwargs(), "results": results,
           "n_sequences": len(results)}
    for key, over in (("bd_rate", "mean_over"), ("bd_metric", "mean_bd_metric_over")):
        have = [r for r in results if r[key] is not None]
        partial = _mean([r[key] for r in have])
        out[f"mean_{key}"] = partial if have and len(have) == len(results) else None
        out[f"mean_{key}_partial"] = partial
        out[over] = [r["sequence"] for r in have]
    return out
