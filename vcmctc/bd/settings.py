"""BD computation settings: the names and defaults, in one place.

This module imports nothing heavy, so the CLI can build its option choices from it at start-up.
An edition carries its own settings (``bd:`` in the edition file); whatever it does not set falls
back to :data:`DEFAULTS`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

#: Interpolation methods. ``pchip`` is the JVET/MPEG Excel sheet method.
METHODS = ("pchip", "cubic", "akima")

#: Policies for curves whose metric is not strictly increasing with rate.
#: ``fit`` fits both curves always (CompressAI-Vision's VCM mode, ``non_mono_only=False``);
#: ``fit-nonmonotonic`` fits only the curves that need it (the function default of the public
#: curve-fitting script, ``non_mono_only=True``).
POLICIES = ("refuse", "drop", "fit", "fit-nonmonotonic")

#: Solvers of the constrained monotonic cubic fit (policies ``fit`` and ``fit-nonmonotonic``).
#: ``exact`` finds the least-squares optimum (:mod:`vcmctc.bd.monotonic_fit`); ``slsqp`` repeats
#: the public scripts' call (SLSQP from [1, 1, 1, 1] with default options,
#: :mod:`vcmctc.bd.slsqp_fit`), which can stop short of the optimum but is what the official
#: tables contain.
FIT_SOLVERS = ("exact", "slsqp")

#: Result statuses. ``ok`` and ``low-overlap`` come with a BD-rate; the others without.
STATUSES = ("ok", "low-overlap", "not-monotonic", "too-few-points", "no-overlap",
            "duplicate-values", "invalid-rate", "invalid-metric")

#: Statuses that carry a BD-rate. ``low-overlap`` keeps the number (it is what the Excel sheet
#: and the ``bjontegaard`` package give) but says it averages over a small common part.
NUMBER_STATUSES = ("ok", "low-overlap")

#: Default threshold of the metric overlap (intersection / union of the two curves' metric
#: ranges): below it the status is ``low-overlap``. 0.75 is the ``bjontegaard`` package's
#: warning threshold. An edition may set its own (``bd.min_overlap``).
MIN_OVERLAP = 0.75

#: Metric scale: accuracies are percentages; the monotonic fit bounds the curve to this range.
METRIC_RANGE = (0.0, 100.0)


@dataclass(frozen=True)
class BDSettings:
    method: str = "pchip"
    policy: str = "refuse"
    min_points: int = 4
    fit_solver: str = "exact"
    min_overlap: float = MIN_OVERLAP

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown BD method {self.method!r} (known: {', '.join(METHODS)})")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown BD policy {self.policy!r} (known: {', '.join(POLICIES)})")
        if isinstance(self.min_points, bool) or not isinstance(self.min_points, int) \
                or self.min_points < 2:
            raise ValueError(f"min_points must be an integer >= 2, got {self.min_points!r}")
        if self.fit_solver not in FIT_SOLVERS:
            raise ValueError(f"unknown fit solver {self.fit_solver!r} "
                             f"(known: {', '.join(FIT_SOLVERS)})")
        if isinstance(self.min_overlap, bool) or not isinstance(self.min_overlap, (int, float)) \
                or not math.isfinite(self.min_overlap) or not 0.0 <= self.min_overlap <= 1.0:
            raise ValueError(f"min_overlap must be a number in [0, 1], got {self.min_overlap!r}")

    def override(self, **values) -> "BDSettings":
        """Return a copy with the given non-None values replaced (CLI flags over defaults)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`vcmctc.bd.core.bd_rate` for these settings."""
        return asdict(self)


DEFAULTS = BDSettings()
