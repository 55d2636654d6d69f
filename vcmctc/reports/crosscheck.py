"""Cross-check: a cross-checker's run of a proponent's bitstreams compared with the proponent's.

MPEG cross-checkers re-run a proponent's bitstreams (own decoder run, own task network, own
scoring) and report whether they get the same numbers. :func:`crosscheck` compares two
results.json of the same edition, point by point and sequence by sequence:

- per rate point: the bitstream and side-information hashes (``inputs``: must be equal), the MD5
  of the decoded output (when both runs decoded: must be equal), the rate (relative difference
  within ``tol_rate_pct``), the metric (absolute difference within ``tol_metric``), and the
  cross-checker's encoding/decoding times over the proponent's (shown, never judged: machines
  differ);
- per sequence: the BD-rate difference (within ``tol_bd``, percentage points), and both statuses;
- the verdict: ``agree`` when every check passes and both runs have the same points and
  sequences; else ``disagree``, with each discrepancy named (sequence, point, what, both values).

Defaults (documented in docs/reports.md): rate 0.1 %, metric 0.01 (0-100 scale), BD-rate 0.1
percentage points. A run on the same decoder and task network reproduces rates exactly and
metrics to floating-point noise; the tolerances leave room for another platform's floating point
and nothing more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vcmctc.results.model import PointResult, Results

TOL_RATE_PCT, TOL_METRIC, TOL_BD = 0.1, 0.01, 0.1
HASHED_ROLES = ("bitstream", "side-info")


@dataclass
class PointCheck:
    sequence: str
    point: str
    qp: int | None
    bitstream: str          # match | differ | missing (no hash on one side)
    md5: str                # match | differ | n/a (one side did not decode)
    rate_p: float | None
    rate_c: float | None
    rate_diff_pct: float | None
    metric_p: float | None
    metric_c: float | None
    metric_diff: float | None
    enc_ratio: float | None   # cross-checker time / proponent time
    dec_ratio: float | None
    status_p: str
    status_c: str
    ok: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class SequenceCheck:
    sequence: str
    cls: str | None
    bd_p: float | None
    bd_c: float | None
    bd_diff: float | None
    status_p: str
    status_c: str
    ok: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class CrossCheck:
    proponent: str
    crosschecker: str
    codec: str
    edition: str
    anchor: str
    signature_p: str
    signature_c: str
    run_p: dict[str, Any]
    run_c: dict[str, Any]
    tolerances: dict[str, float]
    points: list[PointCheck]
    sequences: list[SequenceCheck]
    discrepancies: list[str]
    verdict: str

    @property
    def agree(self) -> bool:
        return self.verdict == "agree"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"agree": self.agree}


def _hashes(p: "PointResult") -> dict[str, list[str]]:
    return {role: sorted(f.get("sha256", "") for f in p.inputs.get(role, []))
            for role in HASHED_ROLES if p.inputs.get(role)}


def _ratio(c: float | None, p: float | None) -> float | None:
    return c / p if c is not None and p not in (None, 0) else None


def _point_key(p: "PointResult") -> tuple[str, str]:
    return p.sequence, p.label


def _check_point(p: "PointResult", c: "PointResult", tol_rate_pct: float,
                 tol_metric: float) -> PointCheck:
    problems = []
    hp, hc = _hashes(p), _hashes(c)
    if not hp or not hc:
        bitstream = "missing"
        problems.append("no bitstream hash on the "
                        + ("proponent's" if not hp else "cross-checker's") + " side")
    elif hp == hc:
        bitstream = "match"
    else:
        bitstream = "differ"
        roles = [r for r in sorted(set(hp) | set(hc)) if hp.get(r) != hc.get(r)]
        problems.append(f"{', '.join(roles)} hash differs "
                        f"({_short(hp, roles)} vs {_short(hc, roles)})")
    md5_p = p.decode.md5 if p.decode is not None else None
    md5_c = c.decode.md5 if c.decode is not None else None
    if md5_p and md5_c:
        md5 = "match" if md5_p == md5_c else "differ"
        if md5 == "differ":
            problems.append(f"decoded md5 differs ({md5_p[:12]} vs {md5_c[:12]})")
    else:
        md5 = "n/a"
    if p.status != c.status:
        problems.append(f"status {p.status} vs {c.status}")
    rate_diff = None
    if p.rate is not None and c.rate is not None and p.rate != 0:
        rate_diff = (c.rate - p.rate) / p.rate * 100.0
        if abs(rate_diff) > tol_rate_pct:
            problems.append(f"rate {p.rate:.6g} vs {c.rate:.6g} ({rate_diff:+.4f} %, "
                            f"tolerance {tol_rate_pct:g} %)")
    metric_diff = None
    if p.metric is not None and c.metric is not None:
        metric_diff = c.metric - p.metric
        if abs(metric_diff) > tol_metric:
            problems.append(f"metric {p.metric:.6g} vs {c.metric:.6g} ({metric_diff:+.6f}, "
                            f"tolerance {tol_metric:g})")
    return PointCheck(
        sequence=p.sequence, point=p.label, qp=p.qp, bitstream=bitstream, md5=md5,
        rate_p=p.rate, rate_c=c.rate, rate_diff_pct=rate_diff, metric_p=p.metric,
        metric_c=c.metric, metric_diff=metric_diff,
        enc_ratio=_ratio(c.enc_time_s, p.enc_time_s), dec_ratio=_ratio(c.dec_time_s, p.dec_time_s),
        status_p=p.status, status_c=c.status, ok=not problems, problems=problems)


def _short(hashes: dict[str, list[str]], roles: list[str]) -> str:
    return "/".join(h[:12] for r in roles for h in hashes.get(r, [])) or "none"


def crosscheck(proponent: "Results", crosschecker: "Results", *, names: tuple[str, str],
               tol_rate_pct: float = TOL_RATE_PCT, tol_metric: float = TOL_METRIC,
               tol_bd: float = TOL_BD) -> CrossCheck:
    from vcmctc.errors import UserError
    from vcmctc.reports.model import anchor_name

    ep, ec = proponent.edition.get("id"), crosschecker.edition.get("id")
    if ep != ec:
        raise UserError(f"the runs are of different editions ({ep} vs {ec}): nothing to compare")
    discrepancies: list[str] = []
    cross = {_point_key(c): c for c in crosschecker.points}
    points = []
    for p in proponent.points:
        c = cross.pop(_point_key(p), None)
        if c is None:
            discrepancies.append(f"{p.sequence} {p.label}: not in the cross-checker's run")
            continue
        check = _check_point(p, c, tol_rate_pct, tol_metric)
        points.append(check)
        discrepancies += [f"{p.sequence} {p.label}: {x}" for x in check.problems]
    discrepancies += [f"{s} {label}: not in the proponent's run" for s, label in cross]

    seqs = []
    cross_rows = {r.name: r for r in crosschecker.sequences}
    for row in proponent.sequences:
        c = cross_rows.pop(row.name, None)
        if c is None:
            discrepancies.append(f"{row.name}: sequence not in the cross-checker's run")
            continue
        problems = []
        diff = None
        if row.bd_rate is not None and c.bd_rate is not None:
            diff = c.bd_rate - row.bd_rate
            if abs(diff) > tol_bd:
                problems.append(f"BD-rate {row.bd_rate:.4f} % vs {c.bd_rate:.4f} % "
                                f"({diff:+.4f}, tolerance {tol_bd:g})")
        elif (row.bd_rate is None) != (c.bd_rate is None):
            problems.append(f"BD-rate {_pct(row.bd_rate, row.status)} vs "
                            f"{_pct(c.bd_rate, c.status)}")
        if row.status != c.status:
            problems.append(f"status {row.status} vs {c.status}")
        seqs.append(SequenceCheck(row.name, row.cls, row.bd_rate, c.bd_rate, diff, row.status,
                                  c.status, not problems, problems))
        discrepancies += [f"{row.name}: {x}" for x in problems]
    discrepancies += [f"{name}: sequence not in the proponent's run" for name in cross_rows]

    return CrossCheck(
        proponent=names[0], crosschecker=names[1],
        codec=str(proponent.submission.get("codec", "?")), edition=str(ep),
        anchor=anchor_name(proponent.anchor),
        signature_p=str(proponent.signature.get("line", "")),
        signature_c=str(crosschecker.signature.get("line", "")),
        run_p=dict(proponent.run), run_c=dict(crosschecker.run),
        tolerances={"rate_pct": tol_rate_pct, "metric": tol_metric, "bd_rate": tol_bd},
        points=points, sequences=seqs, discrepancies=discrepancies,
        verdict="agree" if not discrepancies else "disagree")


def _pct(value: float | None, status: str) -> str:
    return f"{value:.4f} %" if value is not None else f"n/a ({status})"


# ---------------------------------------------------------------------------------------------
# rendering: one table model, three formats

def _num(value: float | None, digits: int, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def tables(x: CrossCheck) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, header, rows) of the report's tables, raw values (None where missing)."""
    env = []
    for key in ("date", "platform", "cpu", "cpu_count", "python"):
        env.append([key, x.run_p.get(key), x.run_c.get(key)])
    for lib in sorted(set(x.run_p.get("versions", {})) | set(x.run_c.get("versions", {}))):
        env.append([lib, x.run_p.get("versions", {}).get(lib),
                    x.run_c.get("versions", {}).get(lib)])
    env.append(["signature", x.signature_p, x.signature_c])
    seq = [[s.sequence, s.cls, s.bd_p, s.bd_c, s.bd_diff, s.status_p, s.status_c,
            "yes" if s.ok else "NO"] for s in x.sequences]
    pts = [[p.sequence, p.point, p.bitstream, p.md5, p.rate_p, p.rate_c, p.rate_diff_pct,
            p.metric_p, p.metric_c, p.metric_diff, p.enc_ratio, p.dec_ratio,
            "yes" if p.ok else "NO"] for p in x.points]
    return [
        ("Per sequence", ["Sequence", "Class", "BD-rate proponent (%)",
                          "BD-rate cross-check (%)", "Difference", "Status proponent",
                          "Status cross-check", "Match"], seq),
        ("Per rate point", ["Sequence", "Point", "Bitstream hash", "Decoded md5",
                            "Rate proponent", "Rate cross-check", "Rate diff (%)",
                            "Metric proponent", "Metric cross-check", "Metric diff",
                            "EncT ratio (C/P)", "DecT ratio (C/P)", "Match"], pts),
        ("Environments", ["Item", "Proponent", "Cross-checker"], env),
    ]


DIGITS = {"BD-rate proponent (%)": 4, "BD-rate cross-check (%)": 4, "Difference": 4,
          "Rate proponent": 4, "Rate cross-check": 4, "Rate diff (%)": 4,
          "Metric proponent": 4, "Metric cross-check": 4, "Metric diff": 6,
          "EncT ratio (C/P)": 3, "DecT ratio (C/P)": 3}


def _cell(header: str, value: Any) -> str:
    if isinstance(value, float) and header in DIGITS:
        return _num(value, DIGITS[header])
    return "n/a" if value is None else str(value)


def _intro(x: CrossCheck) -> list[tuple[str, str]]:
    t = x.tolerances
    return [("Proposal", x.codec), ("Edition", x.edition), ("Anchor", x.anchor),
            ("Proponent's results", x.proponent), ("Cross-checker's results", x.crosschecker),
            ("Tolerances", f"rate {t['rate_pct']:g} %, metric {t['metric']:g}, BD-rate "
                           f"{t['bd_rate']:g} percentage points; bitstream hashes and decoded "
                           "md5 must be equal; times are shown, not judged"),
            ("Verdict", x.verdict.upper() + (f" ({len(x.discrepancies)} discrepancies)"
                                             if x.discrepancies else ""))]


def conclusion(x: CrossCheck) -> str:
    if x.agree:
        return (f"The cross-checker reproduced all {len(x.points)} rate points and "
                f"{len(x.sequences)} sequence BD-rates within the tolerances, with identical "
                "bitstreams" + (" and decoded outputs." if any(p.md5 == "match" for p in x.points)
                                else "."))
    return ("The cross-check does not confirm the proponent's results: " +
            "; ".join(x.discrepancies[:5]) + ("; ..." if len(x.discrepancies) > 5 else "") + ".")


def render_markdown(x: CrossCheck) -> str:
    from vcmctc.reports.render import md

    out = [f"# Cross-check report: {md(x.codec)} ({md(x.edition)})", "",
           "| Item | Value |", "|---|---|"]
    out += [f"| {md(k)} | {md(v)} |" for k, v in _intro(x)]
    out += ["", "## Conclusion", "", md(conclusion(x))]
    if x.discrepancies:
        out += ["", "## Discrepancies", ""] + [f"- {md(d)}" for d in x.discrepancies]
    for title, header, rows in tables(x):
        out += ["", f"## {title}", "", "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header)]
        out += ["| " + " | ".join(md(_cell(h, v)) for h, v in zip(header, row)) + " |"
                for row in rows]
    return "\n".join(out) + "\n"


def render_html(x: CrossCheck) -> str:
    from html import escape

    css = ("body{font-family:Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1400px;"
           "padding:0 1em}table{border-collapse:collapse;margin:.6em 0;font-size:.86em}"
           "th,td{border:1px solid #d0d0d0;padding:3px 7px}th{background:#f2f4f7;text-align:left}"
           "td.no{background:#fbe4e1;font-weight:700}td.yes{background:#e3f4e1}"
           ".agree{color:#145214}.disagree{color:#7d1d12}")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Cross-check: {escape(x.codec)}</title><style>{css}</style></head><body>",
           f"<h1>Cross-check report: {escape(x.codec)} ({escape(x.edition)})</h1>",
           '<table class="intro">']
    out += [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in _intro(x)]
    out += ["</table>", "<h2>Conclusion</h2>",
            f'<p class="{x.verdict}">{escape(conclusion(x))}</p>']
    if x.discrepancies:
        out += ["<h2>Discrepancies</h2>", "<ul>"]
        out += [f"<li>{escape(d)}</li>" for d in x.discrepancies] + ["</ul>"]
    for title, header, rows in tables(x):
        out += [f"<h2>{escape(title)}</h2>", "<table>",
                "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"]
        for row in rows:
            cells = []
            for h, v in zip(header, row):
                cls = {"yes": "yes", "NO": "no", "differ": "no"}.get(str(v), "")
                cells.append(f'<td class="{cls}">' if cls else "<td>")
                cells[-1] += escape(_cell(h, v)) + "</td>"
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render_xlsx(x: CrossCheck) -> bytes:
    import io

    from openpyxl import Workbook

    from vcmctc.reports.xlsx import BAD_FILL, GOOD_FILL, HEAD_FILL, _Sheet

    wb = Workbook()
    sheet = _Sheet(wb.active)
    sheet.ws.title = "Cross-check"
    width = 13
    sheet.title(f"Cross-check report: {x.codec} ({x.edition})", conclusion(x), width)
    row = 4
    for key, value in _intro(x):
        sheet.put(row, 1, key, bold=True, fill=HEAD_FILL, measure=False)
        sheet.put(row, 2, value, wrap=True, fill=(GOOD_FILL if x.agree else BAD_FILL)
                  if key == "Verdict" else None)
        for col in range(3, width + 1):
            sheet.put(row, col, None, measure=False)
        sheet.merge(row, 2, row, width)
        row += 1
    for title, header, rows in tables(x):
        row += 1
        sheet.put(row, 1, title, bold=True, measure=False)
        row += 1
        sheet.head(row, header)
        for values in rows:
            row += 1
            for col, (h, v) in enumerate(zip(header, values), start=1):
                nf = None
                if isinstance(v, float) and h in DIGITS:
                    nf = "0." + "0" * DIGITS[h]
                fill = {"yes": GOOD_FILL, "NO": BAD_FILL, "differ": BAD_FILL}.get(str(v))
                sheet.put(row, col, v if v is not None else "n/a", nf, fill=fill,
                          wrap=title == "Environments" and col > 1)
    if x.discrepancies:
        row += 2
        sheet.put(row, 1, "Discrepancies", bold=True, measure=False)
        for d in x.discrepancies:
            row += 1
            sheet.text(row, d, width)
    sheet.finish(head_rows="1:2", freeze="A4", wide={1: 22, 2: 14}, hi=20)
    wb.properties.creator = "vcmctc"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def format_text(x: CrossCheck) -> str:
    lines = [f"cross-check of {x.codec} ({x.edition}): {x.verdict.upper()}",
             f"{len(x.points)} rate point(s), {len(x.sequences)} sequence(s) compared"]
    lines += [f"  {d}" for d in x.discrepancies]
    return "\n".join(lines)
