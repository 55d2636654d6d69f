"""``vcmctc check``: does a run reproduce reference numbers (an anchor or another results.json)?

Points are matched per sequence by QP (by label when a side has no QP). For each pair the rate
differs by ``100 * (result - reference) / reference`` percent and the metric by
``result - reference`` (metric units, 0-100 scale); a pair is outside tolerance when
``|rate diff| > tol_rate_pct`` or ``|metric diff| > tol_metric``. Points present on one side
only are listed as missing. Times are not checked (they depend on the machine).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmctc.errors import UserError

if TYPE_CHECKING:
    from vcmctc.results.model import Results

DEFAULT_TOL_RATE_PCT = 0.1
DEFAULT_TOL_METRIC = 0.01
_EPS = 1e-9  # tolerance comparisons allow this much float noise


@dataclass(frozen=True)
class RefPoint:
    sequence: str
    qp: int | None
    label: str
    rate: float | None
    metric: float | None
    status: str = "ok"


@dataclass
class Diff:
    sequence: str
    point: str
    rate_ref: float | None
    rate: float | None
    rate_diff_pct: float | None
    metric_ref: float | None
    metric: float | None
    metric_diff: float | None
    outside: list[str] = field(default_factory=list)   # "rate", "metric", "no value"
    note: str = ""


@dataclass
class CheckReport:
    reference: str
    results: str
    tol_rate_pct: float
    tol_metric: float
    compared: int
    diffs: list[Diff]                     # every compared pair
    missing_in_results: list[tuple[str, str]]
    missing_in_reference: list[tuple[str, str]]
    allow_missing: bool = False

    @property
    def outside(self) -> list[Diff]:
        return [d for d in self.diffs if d.outside]

    @property
    def ok(self) -> bool:
        missing = self.missing_in_results or self.missing_in_reference
        return not self.outside and (self.allow_missing or not missing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "reference": self.reference, "results": self.results,
            "tolerance": {"rate_pct": self.tol_rate_pct, "metric": self.tol_metric},
            "compared": self.compared, "outside": [asdict(d) for d in self.outside],
            "missing_in_results": [{"sequence": s, "point": p} for s, p in self.missing_in_results],
            "missing_in_reference": [{"sequence": s, "point": p}
                                     for s, p in self.missing_in_reference],
            "allow_missing": self.allow_missing,
        }


def _points_of_results(results: "Results") -> list[RefPoint]:
    return [RefPoint(p.sequence, p.qp, p.label, p.rate, p.metric, p.status)
            for p in results.points]


def reference_points(against: str, results: "Results") -> tuple[str, list[RefPoint]]:
    """Points of ``against``: a results.json path or an anchor id (or anchor.yaml path)."""
    from vcmctc.results.model import load_results

    path = Path(against)
    edition = results.signature.get("edition")
    if path.suffix == ".json":
        ref = load_results(path)
        ref_edition = ref.signature.get("edition")
        if ref_edition != edition:
            raise UserError(f"reference is for edition {ref_edition!r} but the results are for "
                            f"{edition!r}", file=path)
        return str(path), _points_of_results(ref)
    from vcmctc.ctc.anchors import anchor_table, load_anchor

    anchor = load_anchor(against)
    if anchor.edition != edition:
        raise UserError(f"anchor {anchor.id} belongs to edition {anchor.edition!r} but the results "
                        f"are for {edition!r}")
    table = anchor_table(anchor)
    return anchor.id, [RefPoint(rec["sequence"], int(rec["qp"]), f"qp{int(rec['qp'])}",
                                float(rec["rate"]), float(rec["metric"]))
                       for rec in table.to_dict(orient="records")]


def _match(refs: list[RefPoint], tests: list[RefPoint]):
    """Pairs (ref, test) by QP, else by label; and the unmatched of each side."""
    left = list(tests)
    pairs, ref_only = [], []
    for a in refs:
        hit = next((t for t in left if a.qp is not None and t.qp == a.qp), None)
        if hit is None:
            hit = next((t for t in left if (a.qp is None or t.qp is None) and t.label == a.label),
                       None)
        if hit is None:
            ref_only.append(a)
        else:
            left.remove(hit)
            pairs.append((a, hit))
    return pairs, ref_only, left


def _name(p: RefPoint) -> str:
    return f"QP {p.qp}" if p.qp is not None else p.label


def check(results: "Results", reference: str, refs: list[RefPoint], *,
          tol_rate_pct: float = DEFAULT_TOL_RATE_PCT, tol_metric: float = DEFAULT_TOL_METRIC,
          allow_missing: bool = False, results_name: str = "results") -> CheckReport:
    """Compare the points of ``results`` with ``refs``; see the module docstring."""
    if tol_rate_pct < 0 or tol_metric < 0:
        raise UserError("tolerances must be >= 0")
    tests = _points_of_results(results)
    order = list(dict.fromkeys([*(p.sequence for p in refs), *(p.sequence for p in tests)]))
    diffs, miss_res, miss_ref = [], [], []
    for seq in order:
        pairs, ref_only, test_only = _match([p for p in refs if p.sequence == seq],
                                            [p for p in tests if p.sequence == seq])
        miss_res += [(seq, _name(a)) for a in ref_only]
        miss_ref += [(seq, _name(t)) for t in test_only]
        for a, t in pairs:
            d = Diff(seq, _name(a), a.rate, t.rate, None, a.metric, t.metric, None)
            if t.rate is None or t.metric is None or a.rate is None or a.metric is None:
                d.outside.append("no value")
                d.note = f"result status {t.status}" if t.status != "ok" else "a value is null"
            else:
                d.rate_diff_pct = 100.0 * (t.rate - a.rate) / a.rate
                d.metric_diff = t.metric - a.metric
                if abs(d.rate_diff_pct) > tol_rate_pct + _EPS:
                    d.outside.append("rate")
                if abs(d.metric_diff) > tol_metric + _EPS:
                    d.outside.append("metric")
            diffs.append(d)
    return CheckReport(reference, results_name, tol_rate_pct, tol_metric, len(diffs), diffs,
                       miss_res, miss_ref, allow_missing)


def format_text(rep: CheckReport) -> str:
    from vcmctc.cli._table import render

    lines = [f"check of {rep.results} against {rep.reference} (tolerance: rate "
             f"{rep.tol_rate_pct:g} %, metric {rep.tol_metric:g})"]
    if rep.outside:
        rows = [[d.sequence, d.point, ",".join(d.outside),
                 _f(d.rate_ref), _f(d.rate), _f(d.rate_diff_pct, "+.4f"),
                 _f(d.metric_ref), _f(d.metric), _f(d.metric_diff, "+.4f"), d.note]
                for d in rep.outside]
        lines += ["", render(["sequence", "point", "outside", "ref rate", "rate", "rate diff %",
                              "ref metric", "metric", "metric diff", "note"], rows,
                             right=["ref rate", "rate", "rate diff %", "ref metric", "metric",
                                    "metric diff"])]
    if rep.missing_in_results or rep.missing_in_reference:
        rows = ([[s, p, "in the reference only (missing in the results)"]
                 for s, p in rep.missing_in_results]
                + [[s, p, "in the results only (missing in the reference)"]
                   for s, p in rep.missing_in_reference])
        lines += ["", render(["sequence", "point", "missing"], rows)]
    verdict = "OK" if rep.ok else "FAIL"
    lines += ["", f"{rep.compared} point(s) compared: {len(rep.outside)} outside tolerance, "
                  f"{len(rep.missing_in_results)} missing in the results, "
                  f"{len(rep.missing_in_reference)} missing in the reference"
                  + (" (allowed by --allow-missing)" if rep.allow_missing
                     and (rep.missing_in_results or rep.missing_in_reference) else "")
                  + f": {verdict}"]
    return "\n".join(lines)


def _f(v: float | None, spec: str = ".4f") -> str:
    return "-" if v is None else format(v, spec)


def csv_rows(rep: CheckReport) -> list[list[Any]]:
    rows: list[list[Any]] = [["sequence", "point", "kind", "ref_rate", "rate", "rate_diff_pct",
                              "ref_metric", "metric", "metric_diff", "note"]]
    for d in rep.outside:
        rows.append([d.sequence, d.point, "outside:" + "+".join(d.outside), d.rate_ref, d.rate,
                     d.rate_diff_pct, d.metric_ref, d.metric, d.metric_diff, d.note])
    for s, p in rep.missing_in_results:
        rows.append([s, p, "missing-in-results", None, None, None, None, None, None, ""])
    for s, p in rep.missing_in_reference:
        rows.append([s, p, "missing-in-reference", None, None, None, None, None, None, ""])
    return rows
