"""BD computation settings: the names and defaults, in one place.

This module imports nothing heavy, so the CLI can build its option choices from it at start-up.
An edition (added later) carries its own method and policy; whatever it does not set falls back to
:data:`DEFAULTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: Interpolation methods. ``pchip`` is the JVET/MPEG Excel sheet method.
METHODS = ("pchip", "cubic", "akima")

#: Policies for curves whose metric is not strictly increasing with rate.
#: ``fit`` fits both curves always; ``fit-nonmonotonic`` fits only the curves that need it (the
#: VCM-RS default, ``non_mono_only=True``).
POLICIES = ("refuse", "drop", "fit", "fit-nonmonotonic")

#: Result statuses. Anything but ``ok`` comes without a BD-rate.
STATUSES = ("ok", "not-monotonic", "too-few-points", "no-overlap", "duplicate-values",
            "invalid-rate", "invalid-metric")

#: Below this overlap (intersection / union of the two ranges) a warning is added; the number is
#: still given. 0.75 is the threshold of the ``bjontegaard`` package.
MIN_OVERLAP = 0.75

#: Metric scale: accuracies are percentages; the monotonic fit bounds the curve to this range.
METRIC_RANGE = (0.0, 100.0)


@dataclass(frozen=True)
class BDSettings:
    method: str = "pchip"
    policy: str = "refuse"
    min_points: int = 4

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown BD method {self.method!r} (known: {', '.join(METHODS)})")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown BD policy {self.policy!r} (known: {', '.join(POLICIES)})")
        if not isinstance(self.min_points, int) or self.min_points < 2:
            raise ValueError(f"min_points must be an integer >= 2, got {self.min_points!r}")

    def override(self, **values) -> "BDSettings":
        """Return a copy with the given non-None values replaced (CLI flags over defaults)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


DEFAULTS = BDSettings()
