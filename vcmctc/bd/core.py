"""Bjøntegaard-delta rate and metric with explicit statuses (pure functions, no file I/O).

``bd_rate`` returns a :class:`BDResult` holding both numbers:

- BD-rate (percent; negative = the test codec needs fewer bits): log10(rate) is interpolated as
  a function of the metric on each curve, the mean difference over the overlapping metric interval
  is ``d``, and BD-rate = ``(10**d - 1) * 100``.
- BD-metric (BD-mAP, BD-MOTA; in metric units): the metric is interpolated as a function of
  log10(rate); it is the mean difference over the overlapping log10(rate) interval.

Overlap (``overlap`` for the metric ranges, ``overlap_rate`` for the log10-rate ranges) is
``length(intersection) / length(union)`` of the two curves' ranges, the quantity the
``bjontegaard`` package compares with its 75 % threshold. When the metric overlap is below
``min_overlap`` (default :data:`~vcmctc.bd.settings.MIN_OVERLAP`, an edition's ``bd.min_overlap``)
the status is ``low-overlap``: the BD-rate is still given (it is the number the Excel sheet and
``bjontegaard`` give) but it averages over a small common part of the curves, and readers must
see that. A low rate overlap only adds a warning (it concerns BD-metric, not the BD-rate).

Data problems never raise; they give a status with no BD-rate. Checks run in this order and the
first that fails decides the status (each failing check adds warnings naming the curve):

1. ``invalid-rate``: a rate is NaN, infinite, zero or negative.
2. ``invalid-metric``: a metric is NaN or infinite; under the fit policies also outside 0-100.
3. ``too-few-points``: fewer points than ``min_points`` (or than the method needs: cubic 4).
4. ``duplicate-values``: two points with the same rate (any policy), or with the same metric
   (``refuse`` only; ``drop`` and the fits resolve equal metrics like any other non-increase).
5. ``not-monotonic``: metric not strictly increasing with rate (``refuse``; or a fit that comes
   out constant). ``drop`` may then end in ``too-few-points``.
6. ``no-overlap``: the metric ranges do not overlap. BD-metric is still given when the rate
   ranges overlap; when only the rate ranges are disjoint the status stays ``ok`` and BD-metric
   is None with a warning.
7. ``low-overlap``: the metric ranges overlap by less than ``min_overlap``; BD-rate and
   BD-metric are given.

The fit policies solve the constrained cubic with ``fit_solver``: ``exact`` (the optimum,
:mod:`vcmctc.bd.monotonic_fit`) or ``slsqp`` (the public scripts' SLSQP call,
:mod:`vcmctc.bd.slsqp_fit`; when SLSQP reports no success the measured points are kept, as the
scripts do, with a warning).

Points in rate order, ascending or descending, are accepted silently (descending is the usual QP
order); any other order is sorted with a warning. Mismatched lengths, unknown method or policy
are programming errors: ValueError.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from vcmctc.bd.interp import MIN_POINTS, interpolate
from vcmctc.bd.monotonic_fit import MonotonicCubic, fit_monotonic_cubic
from vcmctc.bd.policies import is_strictly_increasing, longest_increasing
from vcmctc.bd.settings import DEFAULTS, METRIC_RANGE, NUMBER_STATUSES, BDSettings
from vcmctc.bd.slsqp_fit import SlsqpCubic, fit_slsqp

FIT_MIN_POINTS = 4


@dataclass(frozen=True)
class Points:
    """Rate-metric points of one curve (rate order after sorting)."""

    rate: tuple[float, ...] = ()
    metric: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.rate)

    def to_dict(self) -> dict:
        return {"rate": list(self.rate), "metric": list(self.metric)}


def _points(rate, metric) -> Points:
    return Points(tuple(float(v) for v in rate), tuple(float(v) for v in metric))


@dataclass(frozen=True)
class BDResult:
    """Outcome of one anchor/test comparison. ``bd_rate`` is None unless the status is ``ok``
    or ``low-overlap`` (:data:`~vcmctc.bd.settings.NUMBER_STATUSES`)."""

    bd_rate: float | None
    bd_metric: float | None
    status: str
    warnings: tuple[str, ...]
    overlap: float | None           # metric ranges, intersection / union
    overlap_rate: float | None      # log10(rate) ranges, intersection / union
    method: str
    policy: str
    min_points: int
    anchor: Points                  # points used (after sorting and the policy; fitted metrics)
    test: Points
    anchor_dropped: Points = field(default_factory=Points)
    test_dropped: Points = field(default_factory=Points)
    fitted: tuple[str, ...] = ()    # curves whose metrics were replaced by the monotonic fit
    anchor_fit: MonotonicCubic | SlsqpCubic | None = None
    test_fit: MonotonicCubic | SlsqpCubic | None = None
    fit_solver: str = DEFAULTS.fit_solver
    min_overlap: float = DEFAULTS.min_overlap

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def has_number(self) -> bool:
        """True when the result carries a BD-rate (``ok`` or ``low-overlap``)."""
        return self.status in NUMBER_STATUSES

    def to_dict(self) -> dict:
        return {
            "bd_rate": self.bd_rate, "bd_metric": self.bd_metric, "status": self.status,
            "warnings": list(self.warnings), "overlap": self.overlap,
            "overlap_rate": self.overlap_rate, "method": self.method, "policy": self.policy,
            "min_points": self.min_points, "fit_solver": self.fit_solver,
            "min_overlap": self.min_overlap,
            "anchor_points": self.anchor.to_dict(), "test_points": self.test.to_dict(),
            "anchor_dropped": self.anchor_dropped.to_dict(),
            "test_dropped": self.test_dropped.to_dict(), "fitted": list(self.fitted),
            "anchor_fit": self.anchor_fit.to_dict() if self.anchor_fit else None,
            "test_fit": self.test_fit.to_dict() if self.test_fit else None,
        }


def _fmt(v: float) -> str:
    return f"{v:g}"


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(lo, hi, fraction) of the common interval of two ranges; fraction = intersection / union."""
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    union = max(a.max(), b.max()) - min(a.min(), b.min())
    frac = max(hi - lo, 0.0) / union if union > 0 else 0.0
    return float(lo), float(hi), float(frac)


def _mean_difference(method: str, x_a, y_a, x_t, y_t, lo: float, hi: float) -> float:
    """Mean of y_test - y_anchor over [lo, hi], both interpolated by ``method``."""
    f_a, f_t = interpolate(method, x_a, y_a), interpolate(method, x_t, y_t)
    return (f_t.integrate(lo, hi) - f_a.integrate(lo, hi)) / (hi - lo)


def bd_rate(anchor_rate, anchor_metric, test_rate, test_metric, *,
            method: str = DEFAULTS.method, policy: str = DEFAULTS.policy,
            min_points: int = DEFAULTS.min_points, fit_solver: str = DEFAULTS.fit_solver,
            min_overlap: float = DEFAULTS.min_overlap) -> BDResult:
    """BD-rate and BD-metric of ``test`` against ``anchor``; see the module docstring.

    ``bd_rate(..., **settings.kwargs())`` applies a :class:`~vcmctc.bd.settings.BDSettings`.
    """
    settings = BDSettings(method, policy, min_points, fit_solver, min_overlap)
    raw = {}
    for name, r, m in (("anchor", anchor_rate, anchor_metric), ("test", test_rate, test_metric)):
        r, m = np.asarray(r, dtype=float), np.asarray(m, dtype=float)
        if r.ndim != 1 or m.ndim != 1:
            raise ValueError(f"{name}: rate and metric must be 1-D sequences")
        if len(r) != len(m):
            raise ValueError(f"{name}: {len(r)} rates but {len(m)} metric values")
        raw[name] = (r, m)
    return _Computation(settings).run(raw)


class _Computation:
    """One bd_rate call: collects warnings and intermediate points, then freezes a BDResult."""

    def __init__(self, settings: BDSettings):
        self.s = settings
        self.min_overlap = settings.min_overlap
        self.warnings: list[str] = []
        self.points: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.dropped = {"anchor": Points(), "test": Points()}
        self.fits: dict[str, MonotonicCubic | SlsqpCubic] = {}
        self.overlap: float | None = None
        self.overlap_rate: float | None = None

    def result(self, status: str, bd_rate: float | None = None,
               bd_metric: float | None = None) -> BDResult:
        return BDResult(
            bd_rate=bd_rate, bd_metric=bd_metric, status=status, warnings=tuple(self.warnings),
            overlap=self.overlap, overlap_rate=self.overlap_rate, method=self.s.method,
            policy=self.s.policy, min_points=self.s.min_points,
            anchor=_points(*self.points["anchor"]), test=_points(*self.points["test"]),
            anchor_dropped=self.dropped["anchor"], test_dropped=self.dropped["test"],
            fitted=tuple(n for n in ("anchor", "test") if n in self.fits),
            anchor_fit=self.fits.get("anchor"), test_fit=self.fits.get("test"),
            fit_solver=self.s.fit_solver, min_overlap=self.s.min_overlap)

    def run(self, raw) -> BDResult:
        s, warn = self.s, self.warnings.append
        fitting = s.policy in ("fit", "fit-nonmonotonic")
        self.points = dict(raw)
        lo_m, hi_m = METRIC_RANGE

        # 1-2. values
        for status, check in (("invalid-rate", self._bad_rates), ("invalid-metric", self._bad_metrics)):
            bad = [msg for name, (r, m) in raw.items() if (msg := check(name, r, m, fitting))]
            if bad:
                self.warnings.extend(bad)
                return self.result(status)
        for name, (r, m) in raw.items():
            if not len(m):
                continue
            if not fitting and (m.min() < lo_m or m.max() > hi_m):
                warn(f"{name}: metric outside {lo_m:g}-{hi_m:g}; accuracies are expected in percent")
            elif m.max() <= 1.0:
                warn(f"{name}: all metric values are <= 1; accuracies are expected in percent (0-100)")

        # sort by rate
        for name, (r, m) in raw.items():
            order = np.argsort(r, kind="stable")
            diffs = np.diff(r)
            if not (np.all(diffs >= 0) or np.all(diffs <= 0)):
                warn(f"{name}: points were not in rate order; sorted by rate")
            self.points[name] = (r[order], m[order])

        # 3. enough points
        need = max(s.min_points, MIN_POINTS[s.method])
        if s.policy == "fit":
            need = max(need, FIT_MIN_POINTS)
        short = [f"{name}: {len(r)} point(s), at least {need} needed"
                 for name, (r, _) in self.points.items() if len(r) < need]
        if short:
            self.warnings.extend(short)
            return self.result("too-few-points")

        # 4. duplicates
        dups = []
        for name, (r, m) in self.points.items():
            # (sets, not np.unique: that imports numpy.ma, a tenth of a second of start-up)
            same_rate = sorted(set(r[1:][np.diff(r) == 0].tolist()))
            if same_rate:
                dups.append(f"{name}: several points at rate {', '.join(map(_fmt, same_rate))}")
            if s.policy == "refuse":
                counts = Counter(m.tolist())
                repeated = sorted(v for v, n in counts.items() if n > 1)
                if repeated:
                    dups.append(f"{name}: several points with metric "
                                f"{', '.join(map(_fmt, repeated))}")
        if dups:
            self.warnings.extend(dups)
            return self.result("duplicate-values")

        # 5. monotonicity, by policy
        for name, (r, m) in list(self.points.items()):
            increasing = is_strictly_increasing(list(m))
            if s.policy == "refuse" and not increasing:
                i = next(k for k in range(1, len(m)) if m[k] <= m[k - 1])
                warn(f"{name}: metric does not increase with rate: {_fmt(m[i - 1])} at rate "
                     f"{_fmt(r[i - 1])}, then {_fmt(m[i])} at rate {_fmt(r[i])}")
            elif s.policy == "drop" and not increasing:
                keep = longest_increasing(list(m))
                gone = np.setdiff1d(np.arange(len(m)), keep)
                self.dropped[name] = _points(r[gone], m[gone])
                for k in gone:
                    warn(f"{name}: dropped point rate={_fmt(r[k])} metric={_fmt(m[k])} "
                         "so that the metric strictly increases with rate")
                self.points[name] = (r[keep], m[keep])
            elif s.policy == "fit" or (s.policy == "fit-nonmonotonic" and not increasing):
                if len(r) < FIT_MIN_POINTS:
                    warn(f"{name}: {len(r)} points; the monotonic fit needs at least {FIT_MIN_POINTS}")
                    return self.result("too-few-points")
                self._fit(name, r, m)
        if any(not is_strictly_increasing(list(m)) for _, m in self.points.values()):
            return self.result("not-monotonic")
        short = [f"{name}: {len(r)} point(s) left after dropping, at least {need} needed"
                 for name, (r, _) in self.points.items() if len(r) < need]
        if short:
            self.warnings.extend(short)
            return self.result("too-few-points")

        # 6. overlap and the numbers
        (r_a, m_a), (r_t, m_t) = self.points["anchor"], self.points["test"]
        x_a, x_t = np.log10(r_a), np.log10(r_t)
        lo, hi, self.overlap = _overlap(m_a, m_t)
        lo_x, hi_x, self.overlap_rate = _overlap(x_a, x_t)

        bd_metric = None
        if hi_x > lo_x:
            bd_metric = _mean_difference(s.method, x_a, m_a, x_t, m_t, lo_x, hi_x)
            if self.overlap_rate < self.min_overlap:
                warn(f"rate ranges overlap only {self.overlap_rate:.1%} (< {self.min_overlap:.0%}); "
                     "BD-metric averages over the common part only")
        else:
            warn(f"rate ranges do not overlap ([{_fmt(r_a[0])}, {_fmt(r_a[-1])}] vs "
                 f"[{_fmt(r_t[0])}, {_fmt(r_t[-1])}]); no BD-metric")

        if not hi > lo:
            warn(f"metric ranges do not overlap ([{_fmt(m_a[0])}, {_fmt(m_a[-1])}] vs "
                 f"[{_fmt(m_t[0])}, {_fmt(m_t[-1])}]); no BD-rate")
            return self.result("no-overlap", None, bd_metric)
        status = "ok"
        if self.overlap < self.min_overlap:
            warn(f"metric ranges overlap only {self.overlap:.1%} (< {self.min_overlap:.0%}); "
                 "BD-rate averages over the common part only")
            status = "low-overlap"
        d = _mean_difference(s.method, m_a, x_a, m_t, x_t, lo, hi)
        return self.result(status, (10.0 ** d - 1.0) * 100.0, bd_metric)

    def _fit(self, name: str, r: np.ndarray, m: np.ndarray) -> None:
        """Replace the metrics of curve ``name`` (rate order) by the monotonic fit's values."""
        lo_m, hi_m = METRIC_RANGE
        warn = self.warnings.append
        if self.s.fit_solver == "slsqp":
            fit = fit_slsqp(r, m, lower=lo_m, upper=hi_m)
            if not fit.success:
                warn(f"{name}: SLSQP did not converge ({fit.message}); the measured metrics are "
                     "kept, as the public scripts do")
                return
        else:
            fit = fit_monotonic_cubic(r, m, lower=lo_m, upper=hi_m)
        self.fits[name] = fit
        fitted = np.asarray(fit.at_rate(r), dtype=float)
        warn(f"{name}: metric replaced by the monotonic cubic fit ({self.s.fit_solver}; "
             f"largest change {_fmt(float(np.max(np.abs(fitted - m))))})")
        self.points[name] = (r, fitted)
        if not is_strictly_increasing(list(fitted)):
            warn(f"{name}: the monotonic fit is flat (not strictly increasing) over the points; "
                 "no BD-rate")

    @staticmethod
    def _bad_rates(name, r, m, fitting) -> str | None:
        bad = ~np.isfinite(r) | ~(r > 0)
        if np.any(bad):
            return (f"{name}: rate must be finite and > 0, got "
                    f"{', '.join(map(_fmt, r[bad]))} (point {', '.join(str(i + 1) for i in np.flatnonzero(bad))})")
        return None

    @staticmethod
    def _bad_metrics(name, r, m, fitting) -> str | None:
        bad = ~np.isfinite(m)
        what = "finite"
        if fitting:
            lo, hi = METRIC_RANGE
            bad |= (m < lo) | (m > hi)
            what = f"finite and within {lo:g}-{hi:g} for the monotonic fit"
        if np.any(bad):
            return (f"{name}: metric must be {what}, got {', '.join(map(_fmt, m[bad]))} "
                    f"(point {', '.join(str(i + 1) for i in np.flatnonzero(bad))})")
        return None
