"""Bjøntegaard-delta (BD-rate, BD-metric) computation with explicit statuses and policies.

``from vcmctc.bd import bd_rate, BDResult`` works, but the numeric modules load only on first
use, so importing :mod:`vcmctc.bd.settings` (the CLI does) stays cheap.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "bd_rate": "vcmctc.bd.core", "BDResult": "vcmctc.bd.core", "Points": "vcmctc.bd.core",
    "summarize": "vcmctc.bd.table",
    "fit_monotonic_cubic": "vcmctc.bd.monotonic_fit", "MonotonicCubic": "vcmctc.bd.monotonic_fit",
    "fit_slsqp": "vcmctc.bd.slsqp_fit", "SlsqpCubic": "vcmctc.bd.slsqp_fit",
    "interpolate": "vcmctc.bd.interp",
    "rate_unit_check": "vcmctc.bd.plausibility", "metric_scale_check": "vcmctc.bd.plausibility",
    "Finding": "vcmctc.bd.plausibility",
    "BDSettings": "vcmctc.bd.settings", "DEFAULTS": "vcmctc.bd.settings",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vcmctc.bd' has no attribute {name!r}")
