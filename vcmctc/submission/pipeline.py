"""``vcmctc evaluate``: validate, decode, run the task network, score, rate, BD-rate, results.json.

Each rate point goes through the steps its evidence allows:

- ``reported``: the submitter's rate and metric are taken as given;
- ``outputs``: the submitter's task outputs are scored against the ground truth;
- ``decoded``: vcmctc runs the submitted decoder on the bitstream, runs the task network on the
  decoded video and scores its outputs.

Rates come from the files whenever bitstreams are given (bitstream + side information), else from
the report. Heavy steps (decode, task network, scoring) are cached by content (see
:mod:`vcmctc.submission.cache`): a re-run after a crash or Ctrl-C redoes nothing already done.
``results.json`` (schema ``vcmctc-results/1``, see docs/results.md) is written once, atomically,
at the end.
"""

from __future__ import annotations

import contextlib
import math
import platform
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vcmctc import __version__
from vcmctc.errors import UserError
from vcmctc.submission.anchor_source import TIME_KEYS, AnchorSource, load_anchor_source
from vcmctc.submission.cache import Cache, atomic_write_text, file_sha256, hash_json
from vcmctc.submission.manifest import EVIDENCE_LEVELS, Manifest, Point, load_manifest
from vcmctc.submission.validate import Validation, point_files, rate_of, validate

SCHEMA = "vcmctc-results/1"
LEVEL_RANK = {name: i for i, name in enumerate(EVIDENCE_LEVELS)}
METRIC_TOLERANCE = 0.01  # reported vs computed metric, on the 0-100 scale


class ValidationFailed(Exception):
    def __init__(self, validation: Validation):
        super().__init__("validation failed")
        self.validation = validation


@dataclass
class Options:
    out: Path
    data_root: Path | None = None
    jobs: int = 1
    level: str = "best"            # best | reported | outputs | decoded
    allow_incomplete: bool = False
    timing: str = "parallel"       # parallel | isolated (decoders one at a time)
    backend: str = "faster-coco-eval"
    use_cache: bool = True
    progress: Callable[[str], None] | None = None


@dataclass
class _Work:
    seq_id: str
    point: Point
    level: str
    record: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None
    score: Any = None


class Pipeline:
    def __init__(self, manifest: Manifest, validation: Validation, options: Options):
        self.m = manifest
        self.v = validation
        self.ed = validation.edition
        self.o = options
        self.cache = Cache(options.out / "cache", enabled=options.use_cache)
        self.anchor: AnchorSource | None = (
            load_anchor_source(manifest.anchor, self.ed, manifest.root) if manifest.anchor else None)
        self._gt: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._decode_lock = threading.Lock()
        self._scorers: dict[str, Any] = {}
        self._adapter = None
        self.done = 0
        self.total = 0
        self.cached = 0
        self._progress_lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    def _say(self, text: str) -> None:
        if self.o.progress:
            with self._progress_lock:
                self.o.progress(text)

    def _step_done(self, what: str, cached: bool) -> None:
        with self._progress_lock:
            self.done += 1
            self.cached += cached
        self._say(f"[{self.done}/{self.total}] {what}{' (cached)' if cached else ''}")

    def scorer(self, seq):
        from vcmctc.submission.scoring import scorer_for

        if seq.id not in self._scorers:
            self._scorers[seq.id] = scorer_for(seq, self.o.backend)
        return self._scorers[seq.id]

    def ground_truth(self, seq):
        with self._lock:
            if seq.id not in self._gt:
                self._gt[seq.id] = self.scorer(seq).load_gt(seq, self.o.data_root)
            return self._gt[seq.id]

    def level_for(self, point: Point) -> str:
        """The evidence level of a point: the best it supports, or the one asked for."""
        level = self.o.level
        if level == "best":
            return point.best_evidence(self.m.decoder is not None)
        supported = {"decoded": bool(point.bitstreams) and self.m.decoder is not None,
                     "outputs": bool(point.task_output),
                     "reported": "metric" in point.reported}[level]
        if not supported:
            needs = {"decoded": "a bitstream and a decoder", "outputs": "task outputs (task_output)",
                     "reported": "a reported metric"}[level]
            raise UserError(f"{point.where}: evidence level {level!r} needs {needs}")
        return level

    # ------------------------------------------------------------------ steps
    def run(self) -> dict[str, Any]:
        works = [_Work(seq_id, p, self.level_for(p))
                 for seq_id, points in self.v.points.items() for p in points]
        self.total = sum({"reported": 0, "outputs": 1, "decoded": 3}[w.level] for w in works)
        self._say(f"evaluating {len(works)} rate points of {len(self.v.points)} sequences "
                  f"({self.total} steps, {self.o.jobs} job(s))")
        if self.o.jobs > 1:
            with ThreadPoolExecutor(self.o.jobs) as pool:
                futures = [pool.submit(self.run_point, w) for w in works]
                try:
                    for f in as_completed(futures):
                        f.result()
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
        else:
            for w in works:
                self.run_point(w)
        return self.assemble(works)

    def run_point(self, w: _Work) -> None:
        seq = self.ed.sequences[w.seq_id]
        p = w.point
        files = point_files(self.m, p)
        rec: dict[str, Any] = {
            "sequence": seq.id, "class": seq.cls, "label": p.label, "qp": p.qp,
            "evidence": w.level, "status": "ok", "message": None, "warnings": [],
            "rate_unit": seq.rate_unit, "metric_name": seq.metric,
            "inputs": {role: [{"path": str(path.relative_to(self.m.root)),
                               "sha256": file_sha256(path)} for path in paths]
                       for role, paths in files.items()},
        }
        w.record = rec
        self._rate(seq, p, files, rec)
        self._times(p, files, rec)
        if w.level == "reported":
            rec["metric"] = p.reported.get("metric")
            rec["metric_source"] = "reported"
            return
        if w.level == "decoded":
            decoded = self._decode(seq, p, files, rec)
            if decoded is None:
                return
            w.output = self._task(seq, p, decoded, rec)
            if w.output is None:
                return
        else:
            w.output = files["task-output"][0]
        w.score = self._score(seq, p, w.output, rec)

    def _rate(self, seq, p: Point, files, rec) -> None:
        if p.bitstreams:
            from vcmctc.rate import bits_of_files

            bits = bits_of_files({"bitstream": files.get("bitstream", []),
                                  "side-info": files.get("side-info", [])})
            rec["bits"] = {"total": bits.total, "components": dict(bits.components)}
            rec["rate"] = rate_of(seq, bits.total)
            rec["rate_source"] = "files"
            if "rate" in p.reported and abs(p.reported["rate"] - rec["rate"]) > 0.005 * rec["rate"]:
                rec["warnings"].append(f"reported rate {p.reported['rate']:g} differs from the "
                                       f"{rec['rate']:.4f} of the files")
        else:
            rec["rate"] = p.reported.get("rate")
            rec["rate_source"] = "reported"
            if seq.rate_unit == "kbps" and rec["rate"] is not None and seq.fps and seq.frames:
                rec["bits"] = {"total": rec["rate"] * 1000.0 * seq.frames / seq.fps,
                               "components": {}, "derived_from_rate": True}

    def _times(self, p: Point, files, rec) -> None:
        from vcmctc.runner import read_log_time

        for kind in ("enc", "dec"):
            key = f"{kind}_time_s"
            value, source = getattr(p, key), "manifest"
            if value is None and key in p.reported:
                value, source = p.reported[key], "reported"
            log = files.get("encoder-log" if kind == "enc" else "decoder-log")
            if value is None and log:
                parsed = read_log_time(log[0])
                if parsed is not None:  # wall time when the log gives it, else CPU time
                    clock = "wall" if parsed.wall_s is not None else "cpu"
                    value = parsed.wall_s if parsed.wall_s is not None else parsed.cpu_s
                    source = f"log {parsed.source} ({clock})"
            rec[key] = value
            rec[f"{kind}_time_source"] = source if value is not None else None
        if "time_s" in p.reported:
            rec["time_s"] = p.reported["time_s"]
        elif rec["enc_time_s"] is not None and rec["dec_time_s"] is not None:
            rec["time_s"] = rec["enc_time_s"] + rec["dec_time_s"]
        else:
            rec["time_s"] = None

    def _decode(self, seq, p: Point, files, rec) -> Path | None:
        from vcmctc.media.yuv import YuvFormat
        from vcmctc.runner import check_output, run_decoder

        fmt = YuvFormat(seq.width, seq.height, seq.bit_depth or 8, seq.chroma)
        values = self._values(seq, p)
        key = hash_json({"step": "decode", "argv": self.m.decoder.argv, "values": values,
                         "bitstreams": [file_sha256(f) for f in files["bitstream"]],
                         "side_info": [file_sha256(f) for f in files.get("side-info", [])]})
        hit = self.cache.get("decode", key)
        cached = hit is not None
        if hit is None:
            work = self.cache.workdir("decode", key)
            values = {**values, "bitstream": str(files["bitstream"][0].resolve()),
                      "side_info": str(files["side-info"][0].resolve()) if files.get("side-info") else "",
                      "output": str(work / "decoded.yuv"), "submission": str(self.m.root)}
            lock = self._decode_lock if self.o.timing == "isolated" else contextlib.nullcontext()
            with lock:
                started = time.time()
                run = run_decoder(list(self.m.decoder.argv), values,
                                  timeout_s=self.m.decoder.timeout_s, workdir=work,
                                  log_path=work / "decoder.log")
                ended = time.time()
            run = check_output(run, fmt, seq.frames, expected_md5=p.decoded_md5)
            hit = {**run.to_dict(), "output": str(run.output), "started": started, "ended": ended}
            if run.status == "ok":
                self.cache.put("decode", key, hit)
        self._step_done(f"decode {seq.id} {p.label}: {hit['status']}", cached)
        rec["decode"] = {k: hit.get(k) for k in ("status", "wall_s", "cpu_s", "peak_rss_mb",
                                                  "md5", "frames_decoded", "message", "log",
                                                  "started", "ended")}
        if hit["status"] != "ok":
            rec["status"], rec["message"] = "decode-failed", hit.get("message")
            self._skip_rest(seq, p, 2)
            return None
        if rec["dec_time_s"] is None:
            rec["dec_time_s"], rec["dec_time_source"] = hit["wall_s"], "measured (wall)"
        rec["dec_cpu_s"] = hit["cpu_s"]
        if rec["time_s"] is None and rec["enc_time_s"] is not None:
            rec["time_s"] = rec["enc_time_s"] + rec["dec_time_s"]
        return Path(hit["output"])

    def _values(self, seq, p: Point) -> dict[str, Any]:
        return {"width": seq.width, "height": seq.height, "frames": seq.frames,
                "bit_depth": seq.bit_depth or 8, "fps": seq.fps, "qp": p.qp if p.qp is not None else "",
                "first_frame": seq.first_frame, "task": seq.task or "", "sequence": seq.id}

    def _task(self, seq, p: Point, decoded: Path, rec) -> Path | None:
        from vcmctc.adapters import TaskRequest
        from vcmctc.media.yuv import YuvFormat

        spec = self.m.task
        key = hash_json({"step": "task", "decoded": file_sha256(decoded), "adapter": spec.adapter,
                         "argv": spec.argv, "config": spec.config, "weights": spec.weights,
                         "options": spec.options, "values": self._values(seq, p)})
        hit = self.cache.get("task", key)
        cached = hit is not None
        if hit is None:
            work = self.cache.workdir("task", key)
            request = TaskRequest(
                decoded=decoded, fmt=YuvFormat(seq.width, seq.height, seq.bit_depth or 8, seq.chroma),
                frames=seq.frames, first_frame=seq.first_frame, fps=seq.fps, task=seq.task,
                output=work / ("output.txt" if seq.metric == "mota" else "output.json"),
                log=work / "task.log", timeout_s=spec.timeout_s, sequence=seq.id, workdir=work)
            run = self.adapter().run(request)
            hit = run.to_dict()
            if run.status == "ok":
                self.cache.put("task", key, hit)
        self._step_done(f"task {seq.id} {p.label}: {hit['status']}", cached)
        rec["task"] = {k: hit.get(k) for k in ("status", "wall_s", "cpu_s", "message", "log")}
        if hit["status"] != "ok":
            rec["status"], rec["message"] = "task-failed", hit.get("message")
            self._skip_rest(seq, p, 1)
            return None
        return Path(hit["output"])

    def adapter(self):
        """The task-network adapter of the manifest, built once."""
        with self._lock:
            if self._adapter is None:
                self._adapter = build_adapter(self.m)
            return self._adapter

    def _skip_rest(self, seq, p: Point, steps: int) -> None:
        for _ in range(steps):
            self._step_done(f"skip {seq.id} {p.label}", False)

    def _score(self, seq, p: Point, output: Path, rec) -> Any:
        from vcmctc.submission.scoring import dump_score, load_score

        scorer = self.scorer(seq)
        gt = self.ground_truth(seq)  # missing ground truth is a UserError for the whole run
        key = hash_json({"step": "score", "output": file_sha256(output),
                         "gt": [file_sha256(f) for f in gt.files], "metric": seq.metric,
                         "options": seq.metric_options, "versions": scorer.versions(),
                         "frames": [seq.skip, seq.frames, seq.first_frame]})
        hit = self.cache.get("score", key)
        cached = hit is not None
        if hit is None:
            try:
                score = scorer.score(seq, gt, output)
            except UserError as exc:
                rec["status"], rec["message"] = "score-failed", str(exc)
                self._step_done(f"score {seq.id} {p.label}: failed", False)
                return None
            hit = self.cache.put("score", key, {"score": dump_score(score)})
        score = load_score(hit["score"])
        self._step_done(f"score {seq.id} {p.label}: {score.metric:.2f}", cached)
        rec["metric"] = score.metric
        rec["metric_source"] = "computed"
        rec["stats"] = score.stats
        rec["output"] = str(output)
        if "metric" in p.reported:
            rec["reported_metric"] = p.reported["metric"]
            if abs(p.reported["metric"] - score.metric) > METRIC_TOLERANCE:
                rec["warnings"].append(f"reported metric {p.reported['metric']:g} differs from "
                                       f"the computed {score.metric:.4f}")
        return score

    # ------------------------------------------------------------------ aggregation
    def assemble(self, works: list[_Work]) -> dict[str, Any]:
        from vcmctc.bd import bd_rate

        points = [w.record for w in works]
        bd = self.ed.bd
        seq_rows = []
        for seq_id in self.v.points:
            seq = self.ed.sequences[seq_id]
            mine = [w.record for w in works if w.seq_id == seq_id]
            ok = [r for r in mine if r["status"] == "ok" and r.get("metric") is not None
                  and r.get("rate") is not None]
            row: dict[str, Any] = {
                "sequence": seq_id, "class": seq.cls, "optional": seq.optional,
                "evidence": min((r["evidence"] for r in mine), key=LEVEL_RANK.get),
                "points": len(mine), "points_ok": len(ok),
            }
            failed = [r for r in mine if r["status"] != "ok"]
            ref = self.anchor.curve(seq_id) if self.anchor else []
            if not self.anchor:
                row.update(bd_rate=None, bd_metric=None, status="no-anchor", warnings=[])
            elif not ref:
                row.update(bd_rate=None, bd_metric=None, status="missing-in-anchor", warnings=[])
            else:
                res = bd_rate([a["rate"] for a in ref], [a["metric"] for a in ref],
                              [r["rate"] for r in ok], [r["metric"] for r in ok],
                              method=bd.method, policy=bd.policy, min_points=bd.min_points)
                d = res.to_dict()
                row.update({k: d.get(k) for k in ("bd_rate", "bd_metric", "status", "overlap",
                                                  "overlap_rate")})
                row["warnings"] = list(d.get("warnings", []))
                row["bd_detail"] = {k: d.get(k) for k in (
                    "anchor_points", "test_points", "anchor_dropped", "test_dropped", "fitted",
                    "anchor_fit", "test_fit")}
            if failed:
                row["warnings"].append(f"{len(failed)} rate point(s) failed: "
                                       + ", ".join(f"{r['label']} ({r['status']})" for r in failed))
            row["time_ratio"] = _time_ratios(ok, ref)
            seq_rows.append(row)

        class_rows = self._classes(works, seq_rows)
        overall = self._overall(seq_rows, class_rows)
        return {
            "schema": SCHEMA,
            "signature": self.signature(works),
            "submission": {"codec": self.m.codec, "manifest": str(self.m.path),
                           "manifest_sha256": file_sha256(self.m.path),
                           "complete": self.v.complete, "description": self.m.description},
            "edition": {"id": self.ed.id, "title": self.ed.title, "track": self.ed.track,
                        "scenario": self.v.scenario, "rate_points": self.ed.rate_points,
                        "aggregation": {"class_rows": self.ed.aggregation.class_rows,
                                        "overall": self.ed.aggregation.overall},
                        "classes": {c: {"description": i.description, "optional": i.optional}
                                    for c, i in self.ed.classes.items()}},
            "anchor": None if not self.anchor else {
                "id": self.anchor.id, "codec": self.anchor.codec, "kind": self.anchor.kind,
                "points": self.anchor.points},
            "findings": [f.to_dict() for f in self.v.findings],
            "points": points,
            "sequences": seq_rows,
            "classes": class_rows,
            "overall": overall,
            "timing": {"mode": self.o.timing, "jobs": self.o.jobs,
                       "ratio_averaging": "per sequence: sum of test times / sum of anchor times "
                                          "over the rate points; class and overall: geometric "
                                          "mean of the per-sequence ratios"},
        }

    def _classes(self, works: list[_Work], seq_rows: list[dict]) -> list[dict]:
        rule = self.ed.aggregation.class_rows
        rows = []
        for cls, info in self.ed.classes.items():
            members = [r for r in seq_rows if r["class"] == cls]
            if not members:
                continue
            row: dict[str, Any] = {"class": cls, "optional": info.optional, "rule": rule,
                                   "sequences": [r["sequence"] for r in members],
                                   "evidence": min((r["evidence"] for r in members),
                                                   key=LEVEL_RANK.get)}
            row.update(_mean_of(members, "bd_rate"))
            row["bd_metric_mean"] = _mean_of(members, "bd_metric")["bd_rate"]
            row["time_ratio"] = _geomean_ratios([r["time_ratio"] for r in members])
            if rule == "pooled":
                self._pooled_class(cls, works, members, row)
            rows.append(row)
        return rows

    def _pooled_class(self, cls: str, works: list[_Work], members: list[dict], row: dict) -> None:
        """Class curve: point k of every member pooled (rate = total bits / total time,
        metric recomputed on the pooled outputs); then one BD-rate against the anchor's curve."""
        from vcmctc.bd import bd_rate
        from vcmctc.rate import pooled_kbps

        per_seq = {m["sequence"]: sorted((w for w in works if w.seq_id == m["sequence"]),
                                         key=lambda w: w.record.get("rate") or 0) for m in members}
        n = {len(v) for v in per_seq.values()}
        usable = all(w.score is not None and w.record["status"] == "ok"
                     for v in per_seq.values() for w in v)
        row["mean_bd_rate"] = row.pop("bd_rate")
        row["mean_status"] = row.pop("status")
        row["bd_rate"], row["bd_metric"], row["curve"] = None, None, None
        if len(n) != 1 or not usable:
            row["status"] = "not-poolable"
            row["warnings"] = ["a pooled class row needs computed metrics (task outputs) for the "
                               "same number of rate points in every member"]
            return
        curve = []
        for k in range(n.pop()):
            items, parts = [], []
            for seq_id, ws in per_seq.items():
                seq = self.ed.sequences[seq_id]
                w = ws[k]
                items.append((self.ground_truth(seq), w.output, w.score))
                parts.append((w.record["bits"]["total"], seq.fps, seq.frames))
            metric, _ = self.scorer(self.ed.sequences[members[0]["sequence"]]).pool(items)
            curve.append({"rate": pooled_kbps(parts), "metric": metric})
        row["curve"] = curve
        ref = self.anchor.class_curves.get(cls) if self.anchor else None
        row["anchor_curve"] = ref
        if not ref:
            row["status"] = "anchor-not-poolable"
            row["warnings"] = [f"the anchor ({self.anchor.id if self.anchor else 'none'}) has no "
                               "pooled class curve; mean_bd_rate is the mean of the members' "
                               "BD-rates instead"]
            return
        bd = self.ed.bd
        res = bd_rate([c["rate"] for c in ref], [c["metric"] for c in ref],
                      [c["rate"] for c in curve], [c["metric"] for c in curve],
                      method=bd.method, policy=bd.policy, min_points=bd.min_points)
        d = res.to_dict()
        row.update(bd_rate=d["bd_rate"], bd_metric=d["bd_metric"], status=d["status"],
                   warnings=list(d.get("warnings", [])), overlap=d.get("overlap"))

    def _overall(self, seq_rows: list[dict], class_rows: list[dict]) -> dict[str, Any]:
        rule = self.ed.aggregation.overall
        if rule == "mean-of-sequences":
            used = [r for r in seq_rows if not r["optional"]]
        else:
            used = [r for r in class_rows if not r["optional"]]
        out = {"rule": rule, "over": [r.get("sequence", r.get("class")) for r in used]}
        out.update(_mean_of(used, "bd_rate"))
        out["bd_metric_mean"] = _mean_of(used, "bd_metric")["bd_rate"]
        out["time_ratio"] = _geomean_ratios([r["time_ratio"] for r in seq_rows if not r["optional"]])
        return out

    def signature(self, works: list[_Work]) -> dict[str, Any]:
        metrics = {}
        for w in works:
            if w.level != "reported":
                seq = self.ed.sequences[w.seq_id]
                metrics[seq.metric] = self.scorer(seq).versions()
        inputs = sorted(f["sha256"] for w in works for fs in w.record.get("inputs", {}).values()
                        for f in fs)
        gt = sorted(file_sha256(f) for g in self._gt.values() for f in g.files)
        bd = self.ed.bd
        levels = sorted({w.level for w in works}, key=LEVEL_RANK.get)
        sig = {
            "vcmctc": __version__, "python": platform.python_version(),
            "edition": self.ed.id, "edition_hash": self.ed.hash, "scenario": self.v.scenario,
            **(self.anchor.signature if self.anchor else {"anchor": None}),
            "bd_method": bd.method, "bd_policy": bd.policy, "bd_min_points": bd.min_points,
            "class_rows": self.ed.aggregation.class_rows, "overall": self.ed.aggregation.overall,
            "metrics": metrics, "evidence": levels,
            "manifest_sha256": file_sha256(self.m.path),
            "inputs_sha256": hash_json(inputs)[:16], "gt_sha256": hash_json(gt)[:16] if gt else None,
        }
        sig["line"] = signature_line(sig)
        return sig


def build_adapter(m: Manifest):
    """Task adapter from the manifest's ``task`` section (paths relative to the submission)."""
    from vcmctc.adapters import get_adapter

    spec = m.task
    if spec.adapter == "command":
        return get_adapter("command", argv=list(spec.argv), extra_values={"submission": m.root})
    if spec.adapter == "detectron2":
        if not spec.config or not spec.weights:
            raise UserError("task: the detectron2 adapter needs 'config' and 'weights'",
                            file=m.path)
        return get_adapter("detectron2", config_file=m.root / spec.config,
                           weights=m.root / spec.weights, **spec.options)
    return get_adapter(spec.adapter)


def signature_line(sig: dict[str, Any]) -> str:
    parts = [f"edition:{sig['edition']}@{sig['edition_hash'][:8]}",
             f"anchor:{sig.get('anchor')}",
             f"bd:{sig['bd_method']}/{sig['bd_policy']}/min{sig['bd_min_points']}",
             f"rows:{sig['class_rows']}/{sig['overall']}",
             f"evidence:{'+'.join(sig['evidence'])}"]
    for metric, v in sorted(sig["metrics"].items()):
        parts.append(f"{metric}:{v['metric_backend']}-{v['metric_backend_version']}")
    parts.append(f"inputs:{sig['inputs_sha256'][:8]}")
    parts.append(f"vcmctc:{sig['vcmctc']}")
    return "|".join(parts)


def _mean_of(rows: list[dict], key: str) -> dict[str, Any]:
    """Mean of ``key`` over rows; a mean over only some rows is never passed off as the mean."""
    values = [r.get(key) for r in rows]
    have = [v for v in values if v is not None]
    if not rows:
        return {"bd_rate": None, "status": "empty", "partial_mean": None, "mean_over": 0}
    if len(have) == len(values):
        return {"bd_rate": statistics.fmean(have), "status": "ok", "partial_mean": None,
                "mean_over": len(have)}
    return {"bd_rate": None, "status": "incomplete",
            "partial_mean": statistics.fmean(have) if have else None, "mean_over": len(have),
            "missing": [r.get("sequence", r.get("class")) for r in rows if r.get(key) is None]}


def _time_ratios(test: list[dict], ref: list[dict]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in TIME_KEYS:
        t = [r.get(key) for r in test]
        a = [r.get(key) for r in ref]
        if t and a and None not in t and None not in a and sum(a) > 0:
            out[key] = sum(t) / sum(a)
        else:
            out[key] = None
    return out


def _geomean_ratios(ratios: list[dict]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in TIME_KEYS:
        values = [r.get(key) for r in ratios]
        if values and None not in values and all(v > 0 for v in values):
            out[key] = math.exp(statistics.fmean(math.log(v) for v in values))
        else:
            out[key] = None
    return out


def evaluate(folder: str | Path, options: Options) -> tuple[dict[str, Any], Path]:
    """Evaluate a submission folder; returns the results and the path of results.json."""
    manifest = load_manifest(folder)
    validation = validate(manifest)
    if validation.errors(options.allow_incomplete):
        raise ValidationFailed(validation)
    options.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pipe = Pipeline(manifest, validation, options)
    results = pipe.run()
    results["run"] = {"wall_s": time.perf_counter() - started, "steps": pipe.total,
                      "cached_steps": pipe.cached}
    from vcmctc.jsonutil import dumps

    path = options.out / "results.json"
    atomic_write_text(path, dumps(results))
    return results, path
