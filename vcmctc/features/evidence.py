"""Decoded features as evidence: the decode step of a decoder with ``output: features``, and the
checks ``validate`` makes on submitted feature files.

The decode step runs the decoder once per rate point (video: ``{output}`` is ``decoded.npz``) or
once per image (image sets: ``{output}`` is ``decoded/<image id>.npz``), then reads what it wrote
with :func:`vcmctc.features.conformance.inspect`: a file that does not fit the edition's split
point gives the rate point a status and a one-line message, never an exception. A good output
is recorded with its MD5 (per frame and overall), its conformance file (``conformance.json``
beside it: per-frame MD5 and channel statistics) and, when the submitter gave the original
features, the MSE.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vcmctc.features.conformance import conformance_record, inspect, summary
from vcmctc.features.spec import Layout
from vcmctc.features.store import FeatureFileError, overall_md5

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence

CONFORMANCE_NAME = "conformance.json"


def layout_for(edition, seq: "Sequence") -> Layout | None:
    """The feature layout of ``seq`` (None when the edition names no split point for it)."""
    if not seq.split_point:
        return None
    return Layout.for_sequence(edition.split_points[seq.split_point], seq)


def _problem_status(path: Path) -> str:
    if path.is_symlink():
        return "bad-output"
    return "no-output" if not path.is_file() or path.stat().st_size == 0 else "bad-output"


def _inspect(path: Path, layout: Layout, original: Path | None):
    """:func:`inspect` of a file a decoder wrote, refused (never read) when it is a link, a
    FIFO or a device: FeatureFileError."""
    from vcmctc.runner import output_problem

    problem = output_problem(path)
    if problem is not None:
        raise FeatureFileError(problem.replace(str(path), path.name, 1))
    return inspect(path, layout, original=original)


def _finish(work: Path, layout: Layout, parts, key: str, rec: dict, rel: Callable[[Path], str]
            ) -> dict:
    record = conformance_record(layout, parts, key=key)
    text = json.dumps(record, separators=(",", ":"))
    from vcmctc.runner import write_new

    write_new(work / CONFORMANCE_NAME, text.encode("utf-8"))   # never through a program's link
    info = summary(layout, parts)
    info["conformance"] = rel(work / CONFORMANCE_NAME)
    info["conformance_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    rec["features"] = info
    rec["keep"] = [CONFORMANCE_NAME]     # evidence: stays when the decoded features are pruned
    return rec


def decode_video(argv, values: dict[str, Any], *, timeout_s: float, work: Path, layout: Layout,
                 original: Path | None, rel: Callable[[Path], str], contain=None
                 ) -> tuple[dict, tuple]:
    """Run the decoder of a video point and check its feature file (see the module doc);
    ``contain``: the :class:`~vcmctc.runner.Containment` of the decoder."""
    from vcmctc.runner import run_decoder

    out = work / "decoded.npz"
    run = run_decoder(list(argv), {**values, "output": str(out)}, timeout_s=timeout_s,
                      workdir=work, log_path=work / "decoder.log", contain=contain)
    rec = {"status": run.status, "message": run.message, "wall_s": run.wall_s,
           "cpu_s": run.cpu_s, "peak_rss_mb": run.peak_rss_mb, "output": out.name,
           "log": rel(work / "decoder.log")}
    if run.status != "ok":
        return rec, ()
    try:
        ins = _inspect(out, layout, original)
    except FeatureFileError as exc:
        rec.update(status=_problem_status(out), message=f"decoded features: {exc}")
        return rec, ()
    rec.update(md5=ins.md5, frames_decoded=ins.frames,
               message=f"decoded {ins.frames} frame(s) of features "
                       f"({', '.join(layout.split.names)}) in {run.wall_s:.3f} s")
    return _finish(work, layout, [("", ins)], "frame", rec, rel), (out.name, CONFORMANCE_NAME)


def decode_images(argv, values: dict[str, Any], bitstreams, items, side: dict[str, Path], *,
                  timeout_s: float, work: Path, layout: Layout, originals: dict[str, Path],
                  rel: Callable[[Path], str], contain=None) -> tuple[dict, tuple]:
    """Run the decoder once per image of a set (``{output}``: ``decoded/<item>.npz``)."""
    from vcmctc.runner import exit_status, fill_template, run_process

    out_dir = work / "decoded"
    out_dir.mkdir()
    wall = cpu = peak = 0.0
    parts, names = [], []
    for bitstream, item in zip(bitstreams, items):
        output = out_dir / f"{item}.npz"
        filled = fill_template(list(argv), {**values, "bitstream": str(bitstream),
                                            "side_info": str(side[item]) if item in side else "",
                                            "output": str(output), "item": item},
                               what="decoder command")
        log = work / "logs" / f"{item}.log"
        run = run_process(filled, timeout_s=timeout_s, workdir=work, log_path=log,
                          contain=contain)
        wall, cpu, peak = wall + run.wall_s, cpu + run.cpu_s, max(peak, run.peak_rss_mb)
        status, message = exit_status(run, "decoder", f"on {bitstream.name}")
        if status == "ok":
            try:
                parts.append((item, _inspect(output, layout, originals.get(item))))
            except FeatureFileError as exc:
                status, message = _problem_status(output), f"image {item}: decoded features: {exc}"
        if status != "ok":
            return ({"status": status, "message": message, "wall_s": wall, "cpu_s": cpu,
                     "peak_rss_mb": peak, "log": rel(log)}, ())
        names.append(f"decoded/{item}.npz")
    rec = {"status": "ok", "message": f"decoded features of {len(names)} images in {wall:.3f} s",
           "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak,
           "md5": overall_md5([p.frame_md5s[0] for _, p in parts]), "items": len(names),
           "output": "decoded", "log": rel(work / "logs")}
    return _finish(work, layout, parts, "item", rec, rel), (*names, CONFORMANCE_NAME)


def check_submitted(layout: Layout, files: dict[str, tuple[Path, ...]], decoded_md5: str | None,
                    *, check_md5: bool) -> list[str]:
    """Problems of a point's submitted feature files (``decoded``: its decoded features,
    ``original-features``: part 1's output before coding), each one line."""
    from vcmctc.features.conformance import check_layout
    from vcmctc.features.store import FeatureFile

    problems = []
    originals = files.get("original-features", ())
    for path in originals:
        try:
            with FeatureFile(path) as ff:
                check_layout(ff, layout, "original features ")
        except FeatureFileError as exc:
            problems.append(str(exc) if str(exc).startswith("original") else
                            f"original features: {exc}")
    for path in files.get("decoded", ()):
        try:
            ins = inspect(path, layout)
        except FeatureFileError as exc:
            problems.append(f"decoded features: {exc}")
            continue
        if check_md5 and decoded_md5 and ins.md5 != decoded_md5:
            problems.append(f"decoded features {path.name}: MD5 {ins.md5} differs from "
                            f"decoded_md5 {decoded_md5}")
    return problems
