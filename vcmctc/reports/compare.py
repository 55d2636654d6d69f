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

import statistics
from pathlib import Path
from typing import Any

from vcmctc.errors import UserError


def _sig(results: dict) -> dict:
    return results.get("signature") or {}


def check_same_edition(named: list[tuple[str, dict]]) -> list[str]:
    """UserError unless every results file is of one edition; warnings for other differences."""
    first_name, first = named[0]
    ed = _sig(first).get("edition")
    for name, res in named[1:]:
        other = _sig(res).get("edition")
        if other != ed:
            raise UserError(f"cannot compare results of different editions: {first_name} is "
                            f"{ed!r}, {name} is {other!r}")
    warnings = []
    hashes = {_sig(r).get("edition_hash") for _, r in named}
    if len(hashes) > 1:
        warnings.append(f"edition {ed} was changed between these runs (edition hashes "
                        f"{', '.join(sorted(str(h) for h in hashes))}); BD settings of "
                        f"{first_name} are used")
    for key in ("bd_method", "bd_policy", "bd_min_points"):
        if len({str(_sig(r).get(key)) for _, r in named}) > 1:
            warnings.append(f"{key} differs between the results; {first_name}'s is used")
    return warnings


def _curve(results: dict, seq: str) -> tuple[list[float], list[float]]:
    pts = [p for p in results["points"] if p["sequence"] == seq and (p.get("status") or "ok") == "ok"
           and p.get("rate") is not None and p.get("metric") is not None]
    return [p["rate"] for p in pts], [p["metric"] for p in pts]


def _mean(rows: list[dict], key: str = "bd_rate") -> dict[str, Any]:
    values = [r.get(key) for r in rows]
    have = [v for v in values if v is not None]
    if not rows:
        return {"bd_rate": None, "status": "empty", "partial_mean": None, "mean_over": 0,
                "missing": []}
    if len(have) == len(values):
        return {"bd_rate": statistics.fmean(have), "status": "ok", "partial_mean": None,
                "mean_over": len(have), "missing": []}
    return {"bd_rate": None, "status": "incomplete",
            "partial_mean": statistics.fmean(have) if have else None, "mean_over": len(have),
            "missing": [r["name"] for r in rows if r.get(key) is None]}


def pairwise(ref: dict, test: dict, settings: dict) -> dict[str, Any]:
    """BD-rate of ``test`` against ``ref`` per sequence, class and overall (see module doc)."""
    from vcmctc.bd import bd_rate

    kw = dict(method=settings["bd_method"], policy=settings["bd_policy"],
              min_points=int(settings["bd_min_points"]))
    ref_seqs = {s["sequence"]: s for s in ref["sequences"]}
    seq_rows = []
    for s in test["sequences"]:
        name = s["sequence"]
        row = {"name": name, "class": s.get("class"), "optional": bool(s.get("optional"))}
        if name not in ref_seqs:
            row.update(bd_rate=None, bd_metric=None, status="missing-in-reference")
        else:
            res = bd_rate(*_curve(ref, name), *_curve(test, name), **kw)
            row.update(bd_rate=res.bd_rate, bd_metric=res.bd_metric, status=res.status,
                       warnings=list(res.warnings))
        seq_rows.append(row)
    for name in ref_seqs:
        if name not in {s["sequence"] for s in test["sequences"]}:
            s = ref_seqs[name]
            seq_rows.append({"name": name, "class": s.get("class"),
                             "optional": bool(s.get("optional")), "bd_rate": None,
                             "bd_metric": None, "status": "missing-in-test"})

    edition = test.get("edition") or {}
    rule = (edition.get("aggregation") or {}).get("class_rows", _sig(test).get("class_rows"))
    overall_rule = (edition.get("aggregation") or {}).get("overall", _sig(test).get("overall"))
    class_info = edition.get("classes") or {}
    classes = list(class_info) or list(dict.fromkeys(r["class"] for r in seq_rows))
    ref_curves = {c["class"]: c.get("curve") for c in ref.get("classes", [])}
    test_curves = {c["class"]: c.get("curve") for c in test.get("classes", [])}
    class_rows = []
    for cls in classes:
        members = [r for r in seq_rows if r["class"] == cls]
        if not members:
            continue
        row: dict[str, Any] = {"name": cls, "rule": rule,
                               "optional": bool((class_info.get(cls) or {}).get("optional")),
                               "sequences": [m["name"] for m in members]}
        mean = _mean(members)
        if rule == "pooled":
            a, t = ref_curves.get(cls), test_curves.get(cls)
            row["mean_bd_rate"], row["mean_status"] = mean["bd_rate"], mean["status"]
            row["partial_mean"], row["missing"] = mean["partial_mean"], mean["missing"]
            if a and t:
                res = bd_rate([k["rate"] for k in a], [k["metric"] for k in a],
                              [k["rate"] for k in t], [k["metric"] for k in t], **kw)
                row.update(bd_rate=res.bd_rate, bd_metric=res.bd_metric, status=res.status)
            else:
                row.update(bd_rate=None, bd_metric=None, status="not-poolable",
                           note="a pooled class curve is missing in one of the results; "
                                "mean_bd_rate is the mean of the members' BD-rates instead")
        else:
            row.update(mean)
        class_rows.append(row)
    used = ([r for r in seq_rows if not r["optional"]] if overall_rule == "mean-of-sequences"
            else [r for r in class_rows if not r["optional"]])
    overall = {"rule": overall_rule, "over": [r["name"] for r in used], **_mean(used)}
    return {"sequences": seq_rows, "classes": class_rows, "overall": overall}


def compare(named: list[tuple[str, dict]]) -> dict[str, Any]:
    """Side-by-side view of several results of one edition (see module doc)."""
    if len(named) < 2:
        raise UserError("compare needs at least two results files")
    warnings = check_same_edition(named)
    first = _sig(named[0][1])
    settings = {k: first.get(k) for k in ("bd_method", "bd_policy", "bd_min_points")}
    subs = []
    for name, res in named:
        sig = _sig(res)
        subs.append({"name": name, "codec": (res.get("submission") or {}).get("codec"),
                     "anchor": sig.get("anchor"), "evidence": sig.get("evidence"),
                     "signature": sig.get("line")})
    order: list[str] = []
    for _, res in named:
        order += [s["sequence"] for s in res["sequences"] if s["sequence"] not in order]
    vs_anchor = []
    for seq in order:
        row: dict[str, Any] = {"sequence": seq, "results": []}
        for _, res in named:
            s = next((x for x in res["sequences"] if x["sequence"] == seq), None)
            row.setdefault("class", s.get("class") if s else None)
            row["results"].append({"bd_rate": s.get("bd_rate") if s else None,
                                   "status": s.get("status") if s else "missing"})
        vs_anchor.append(row)
    overall_vs_anchor = [{"bd_rate": (res.get("overall") or {}).get("bd_rate"),
                          "status": (res.get("overall") or {}).get("status"),
                          "partial_mean": (res.get("overall") or {}).get("partial_mean")}
                         for _, res in named]
    pairs = []
    for i in range(len(named)):
        for j in range(i + 1, len(named)):
            pairs.append({"reference": named[i][0], "test": named[j][0],
                          **pairwise(named[i][1], named[j][1], settings)})
    return {"edition": first.get("edition"), "bd": settings, "submissions": subs,
            "vs_anchor": vs_anchor, "overall_vs_anchor": overall_vs_anchor, "pairs": pairs,
            "warnings": warnings}


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
    rows.append(["overall", ""] + [_t(o["bd_rate"], o["status"], o.get("partial_mean"))
                                   for o in cmp["overall_vs_anchor"]])
    tables = [("BD-rate (%) of each submission against its anchor (from its results.json)",
               heads, rows)]
    for p in cmp["pairs"]:
        rows = [[r["name"], str(r.get("class") or ""), _t(r["bd_rate"], r["status"]),
                 _t(r.get("bd_metric"), r["status"])] for r in p["sequences"]]
        for c in p["classes"]:
            text = _t(c["bd_rate"], c["status"], c.get("partial_mean"))
            if c.get("bd_rate") is None and c.get("mean_bd_rate") is not None:
                text += f"; mean of members {c['mean_bd_rate']:.2f} (fallback)"
            rows.append([f"class {c['name']}", c["rule"] or "", text, ""])
        o = p["overall"]
        rows.append(["overall", o["rule"] or "", _t(o["bd_rate"], o["status"], o.get("partial_mean")),
                     ""])
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


def load_named(paths: list[Path]) -> list[tuple[str, dict]]:
    """Results files with short, unique display names (file stem or parent folder name)."""
    from vcmctc.reports.model import load_results

    loaded = [load_results(p) for p in paths]
    names = []
    for p in paths:
        name = p.parent.name if p.name == "results.json" and p.parent.name else p.stem
        names.append(name)
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return list(zip(names, loaded))
