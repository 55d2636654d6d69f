"""Rules for curves whose metric is not strictly increasing with rate.

- ``refuse``: no number (status ``not-monotonic``, or ``duplicate-values`` for equal metrics).
- ``drop``: keep the largest set of points whose metric strictly increases with rate (a longest
  strictly increasing subsequence in rate order). When several sets are that large, keep the one
  with the highest metric sum (a dip below a cheaper point is treated as the anomaly, not the
  point before it), then the first in rate order. Dropped points are listed in the result and
  ``min_points`` applies to what remains.
- ``fit`` / ``fit-nonmonotonic``: replace each metric by the constrained monotonic cubic fit
  (:mod:`vcmctc.bd.monotonic_fit`); ``fit`` fits both curves always, ``fit-nonmonotonic`` only
  the curves that are not strictly increasing (VCM-RS ``non_mono_only=True``).
"""

from __future__ import annotations

from typing import Sequence


def is_strictly_increasing(values: Sequence[float]) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def longest_increasing(metric: Sequence[float]) -> list[int]:
    """Indices (ascending) of the points ``drop`` keeps; ``metric`` is in increasing rate order.

    O(n^2) dynamic programme over (length, metric sum), compared lexicographically; on a full tie
    the earliest predecessor wins, which keeps the choice deterministic.
    """
    n = len(metric)
    if n == 0:
        return []
    score = [(1, float(m)) for m in metric]
    prev = [-1] * n
    for i in range(n):
        for j in range(i):
            if metric[j] < metric[i]:
                cand = (score[j][0] + 1, score[j][1] + float(metric[i]))
                if cand > score[i]:
                    score[i], prev[i] = cand, j
    end = max(range(n), key=lambda i: (score[i], -i))
    kept = []
    while end != -1:
        kept.append(end)
        end = prev[end]
    return kept[::-1]
