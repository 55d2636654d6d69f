"""``vcmctc compare``: several submissions of one edition side by side.

Two parts:

- each submission's BD-rates against its own anchor, read from its results.json (not recomputed);
- the BD-rate of each pair of submissions (second against first), a new computation from their
  rate points with the edition's BD method, policy and minimum points (from the signature). Rows
  follow the edition's aggregation: class rows are the mean of the members' BD-rates (``mean``)
  or one BD-rate of the pooled class curves stored in both results (``pooled``; when a curve is
  missing the mean of the members is given instead, labelled as such); the overall row is the
  mean over the non-optional sequences or classes, null with a partial mean when one is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmctc.errors import UserError

if TYPE_CHECKING:
    from vcmctc.results.model import Results, Row


def check_same_edition(named: list[tuple[str, "Results"]]) -> list[str]:
    """UserError unless every results file is of one edition; warnings for other differences."""
    first_name, first = named[0]
    ed = first.signature.get("edition")
    for name, res in named[1:]:
        other = res.signature.get("edition")
        if other != ed:
            raise UserError(f"cannot compare results of different editions: {first_name} is "
                            f"{ed!r}, {name} is {other!r}")
    warnings = []
    hashes = {r.signature.get("edition_hash") for _, r in named}
    if len(hashes) > 1:
        warnings.append(f"edition {ed} was changed between these runs (edition hashes "
                        f"{', '.join(sorted(str(h) for h in hashes))}); BD settings of "
                        f"{first_name} are used")
    for key in ("bd_method", "bd_policy", "bd_min_points", "bd_fit_solver", "bd_min_overlap"):
        if len({str(r.signature.get(key)) for _, r in named}) > 1:
            warnings.append(f"{key} differs between the results; {first_name}'s is used")
    return warnings


def _reference_points(results: "Results", seq: str) -> list[dict[str, Any]]:
    return [{"rate": p.rate, "metric": p.metric, "qp": p.qp, "label": p.label,
             **{k: getattr(p, k) for k in ("enc_time_s", "dec_time_s", "time_s")}}
            for p in results.points_of(seq) if p.ok]


def pairwise(ref: "Results", test: "Results", settings) -> dict[str, Any]:
    """BD-rate of ``test`` against ``ref`` per sequence, class and overall, with the rules of
    :mod:`vcmctc.results.aggregate` (see the module doc)."""
    import dataclasses

    from vcmctc.results.aggregate import class_row, overall_row, sequence_row
    from vcmctc.jsonutil import to_jsonable

    ref_rows = {r.name: r for r in ref.sequences}
    test_rows = {r.name: r for r in test.sequences}
    seq_rows: list[Row] = []
    for name in [*test_rows, *(n for n in ref_rows if n not in test_rows)]:
        row = test_rows.get(name) or ref_rows[name]
        seq_rows.append(sequence_row(name, row.cls, row.optional, test.points_of(name),
                                     _reference_points(ref, name) if name in ref_rows else [],
                                     settings, reference_name="reference"))
        if name not in test_rows:
            seq_rows[-1] = dataclasses.replace(seq_rows[-1], status="missing-in-test",
                                               bd_rate=None, bd_metric=None)
    agg = test.edition.get("aggregation") or {}
    rule = agg.get("class_rows", test.signature.get("class_rows"))
    overall_rule = agg.get("overall", test.signature.get("overall"))
    class_info = test.edition.get("classes") or {}
    ref_classes = {c.name: c for c in ref.classes}
    test_classes = {c.name: c for c in test.classes}
    class_rows = []
    for cls in list(class_info) or list(dict.fromkeys(r.cls for r in seq_rows)):
        members = [r for r in seq_rows if r.cls == cls]
        if not members:
            continue
        kw: dict[str, Any] = {}
        if rule == "pooled":
            t, a = test_classes.get(cls), ref_classes.get(cls)
            kw = {"pooled": t.curve if t else None, "pooled_reference": a.curve if a else None,
                  "not_poolable": "the test's results carry no pooled curve of this class"}
        class_rows.append(class_row(cls, bool((class_info.get(cls) or {}).get("optional")), rule,
                                    members, [m.name for m in members], settings,
                                    reference_name="reference", **kw))
    expected = [r.name for r in (seq_rows if overall_rule == "mean-of-sequences" else class_rows)
                if not r.optional]
    overall = overall_row(overall_rule, seq_rows, class_rows, expected)
    return {"sequences": to_jsonable(seq_rows), "classes": to_jsonable(class_rows),
            "overall": to_jsonable(overall)}


def compare(named: list[tuple[str, "Results"]]) -> dict[str, Any]:
    """Side-by-side view of several results of one edition (see module doc)."""
    from vcmctc.bd.settings import BDSettings

    if len(named) < 2:
        raise UserError("compare needs at least two results files")
    warnings = check_same_edition(named)
    first = named[0][1].signature
    settings = BDSettings(first["bd_method"], first["bd_policy"], int(first["bd_min_points"]),
                          **{k: first[f"bd_{k}"] for k in ("fit_solver", "min_overlap")
                             if first.get(f"bd_{k}") is not None})
    subs = []
    for name, res in named:
        sig = res.signature
        subs.append({"name": name, "codec": res.submission.get("codec"),
                     "anchor": sig.get("anchor"), "evidence": sig.get("evidence"),
                     "signature": sig.get("line")})
    order: list[str] = []
    for _, res in named:
        order += [s.name for s in res.sequences if s.name not in order]
    vs_anchor = []
    for seq in order:
        row: dict[str, Any] = {"sequence": seq, "results": []}
        for _, res in named:
            s = res.sequence(seq)
            row.setdefault("class", s.cls if s else None)
            row["results"].append({"bd_rate": s.bd_rate if s else None,
                                   "status": s.status if s else "missing"})
        vs_anchor.append(row)
    overall_vs_anchor = [{"bd_rate": res.overall.bd_rate, "status": res.overall.status,
                          "partial_bd_rate": res.overall.partial_bd_rate} for _, res in named]
    pairs = []
    for i in range(len(named)):
        for j in range(i + 1, len(named)):
            pairs.append({"reference": named[i][0], "test": named[j][0],
                          **pairwise(named[i][1], named[j][1], settings)})
    return {"edition": first.get("edition"),
            "bd": {"bd_method": settings.method, "bd_policy": settings.policy,
                   "bd_min_points": settings.min_points},
            "submissions": subs, "vs_anchor": vs_anchor, "overall_vs_anchor": overall_vs_anchor,
            "pairs": pairs, "warnings": warnings}


# ---------------------------------------------------------------------------------------------
# output

def _t(value: float | None, status: str | None, partial: float | None = None) -> str:
    if value is not None:
        return f"{value:.2f}"
    text = f"n/a ({status})" if status and status != "ok" else "n/a"
    if partial is not None:
        text += f", partial mean {partial:.2f}"
    return text


def _tables(cmp: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    subs = cmp["submissions"]
    heads = ["sequence", "class"] + [f"{s['name']} vs {s['anchor']}" for s in subs]
    rows = [[r["sequence"], str(r.get("class") or "")]
            + [_t(x["bd_rate"], x["status"]) for x in r["results"]] for r in cmp["vs_anchor"]]
    rows.append(["overall", ""] + [_t(o["bd_rate"], o["status"], o.get("partial_bd_rate"))
                                   for o in cmp["overall_vs_anchor"]])
    tables = [("BD-rate (%) of each submission against its anchor (from its results.json)",
               heads, rows)]
    for p in cmp["pairs"]:
        rows = [[r["name"], str(r.get("cls") or ""), _t(r["bd_rate"], r["status"]),
                 _t(r.get("bd_metric"), r["status"])] for r in p["sequences"]]
        for c in p["classes"]:
            text = _t(c["bd_rate"], c["status"], c.get("partial_bd_rate"))
            if c.get("bd_rate") is None and c.get("mean_bd_rate") is not None:
                text += f"; mean of members {c['mean_bd_rate']:.2f} (fallback)"
            rows.append([f"class {c['name']}", c["rule"] or "", text, ""])
        o = p["overall"]
        rows.append(["overall", o["rule"] or "",
                     _t(o["bd_rate"], o["status"], o.get("partial_bd_rate")), ""])
        tables.append((f"BD-rate (%) of {p['test']} against {p['reference']} "
                       f"({cmp['bd']['bd_method']}, {cmp['bd']['bd_policy']}, "
                       f"min {cmp['bd']['bd_min_points']} points)",
                       ["row", "class / rule", "BD-rate (%)", "BD-metric"], rows))
    return tables


def format_text(cmp: dict) -> str:
    from vcmctc.cli._table import render

    out = [f"edition {cmp['edition']}"]
    out += [f"  {s['name']}: {s['codec']} (anchor {s['anchor']})" for s in cmp["submissions"]]
    for title, heads, rows in _tables(cmp):
        out += ["", title, render(heads, rows)]
    out += [f"warning: {w}" for w in cmp["warnings"]]
    return "\n".join(out)


def format_markdown(cmp: dict) -> str:
    from vcmctc.reports.render import md

    out = [f"# Comparison ({md(cmp['edition'])})", ""]
    out += [f"- {md(s['name'])}: {md(s['codec'])} (anchor {md(s['anchor'])})"
            for s in cmp["submissions"]]
    for title, heads, rows in _tables(cmp):
        out += ["", f"## {md(title)}", "", "| " + " | ".join(md(h) for h in heads) + " |",
                "|" + "|".join("---" for _ in heads) + "|"]
        out += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    if cmp["warnings"]:
        out += [""] + [f"> warning: {md(w)}" for w in cmp["warnings"]]
    return "\n".join(out) + "\n"


def load_named(paths: list[Path]) -> list[tuple[str, "Results"]]:
    """Results files with short, unique display names (file stem or parent folder name)."""
    from vcmctc.results.model import load_results

    loaded = [load_results(p) for p in paths]
    names = []
    for p in paths:
        name = p.parent.name if p.name == "results.json" and p.parent.name else p.stem
        names.append(name)
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return list(zip(names, loaded))
