"""Conformance of a submission before any heavy work (``vcmctc validate``).

Findings are errors (the submission cannot be evaluated as it is) or warnings (it can, but a
number may mislead). Missing sequences or rate points are errors of kind ``incomplete``: ``evaluate
--allow-incomplete`` accepts them and records the gap in the results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vcmctc.errors import UserError
from vcmctc.submission.manifest import Manifest, Point

if TYPE_CHECKING:
    from vcmctc.ctc.editions import Edition
    from vcmctc.submission.anchor_source import AnchorSource
    from vcmctc.ctc.schema import Sequence


@dataclass(frozen=True)
class Finding:
    level: str                 # "error" | "warning"
    sequence: str | None
    point: str | None
    message: str
    kind: str = "conformance"  # "conformance" | "incomplete" | "files" | "rate" | "quality"

    def to_dict(self) -> dict:
        return {"level": self.level, "kind": self.kind, "sequence": self.sequence,
                "point": self.point, "message": self.message}


@dataclass
class Validation:
    manifest: Manifest
    edition: "Edition"
    anchor: "AnchorSource | None"
    scenario: str
    findings: list[Finding] = field(default_factory=list)
    # canonical sequence id -> points of the manifest, in manifest order
    points: dict[str, list[Point]] = field(default_factory=dict)
    # (sequence id, label) -> rate computed from files or reported
    rates: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, level: str, seq: str | None, point: str | None, msg: str,
            kind: str = "conformance") -> None:
        self.findings.append(Finding(level, seq, point, msg, kind))

    def errors(self, allow_incomplete: bool = False) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"
                and not (allow_incomplete and f.kind == "incomplete")]

    @property
    def complete(self) -> bool:
        return not any(f.kind == "incomplete" for f in self.findings)


def safe_path(root: Path, rel: str) -> Path:
    """``root/rel`` if it stays inside ``root`` (no absolute path, no '..', no symlink out)."""
    if os.path.isabs(rel):
        raise ValueError(f"absolute path {rel!r}: paths must be relative to the submission")
    if ".." in Path(rel).parts:
        raise ValueError(f"path {rel!r} contains '..': paths must stay inside the submission")
    full = root / rel
    resolved = full.resolve()
    if resolved != root and root not in resolved.parents:
        raise ValueError(f"path {rel!r} leaves the submission through a symbolic link")
    return full


def point_files(manifest: Manifest, point: Point) -> dict[str, list[Path]]:
    """Resolved files of a point by role; raises ValueError on an unsafe path."""
    return {role: [safe_path(manifest.root, p) for p in rels]
            for role, rels in point.files().items()}


def rate_of(seq: "Sequence", bits: int) -> float:
    from vcmctc.rate import bpp, kbps

    if seq.rate_unit == "kbps":
        return kbps(bits, seq.fps, seq.frames)
    if seq.width and seq.height and seq.items:  # image set of known, fixed size
        return bpp(bits, seq.width * seq.height * seq.items)
    raise UserError(f"sequence {seq.id}: bpp needs the pixel count of the set; give the "
                    "rate in 'reported' or set width/height/items in the edition")


def validate(manifest: Manifest, *, check_md5: bool = True) -> Validation:
    from vcmctc.ctc.editions import load_edition
    from vcmctc.submission.anchor_source import load_anchor_source

    edition = load_edition(manifest.edition)
    anchor = (load_anchor_source(manifest.anchor, edition, manifest.root)
              if manifest.anchor else None)
    scenario = manifest.scenario or edition.default_scenario
    if scenario not in edition.scenarios:
        raise UserError(f"scenario {scenario!r} is not one of {', '.join(edition.scenarios)} of "
                        f"edition {edition.id}", file=manifest.path)
    v = Validation(manifest, edition, anchor, scenario)
    if manifest.track and manifest.track != edition.track:
        v.add("error", None, None, f"track {manifest.track!r} but edition {edition.id} is "
                                   f"{edition.track!r}")
    if anchor is not None and anchor.edition != edition.id:
        v.add("error", None, None, f"anchor {anchor.id} belongs to edition {anchor.edition}, "
                                   f"not {edition.id}")
    from vcmctc.runner import DECODER_PLACEHOLDERS, check_template
    from vcmctc.submission.pipeline import build_adapter

    try:
        build_adapter(manifest)
    except UserError as exc:
        v.add("error", None, None, f"task: {exc}")
    if manifest.decoder is not None:
        try:
            check_template(manifest.decoder.argv, DECODER_PLACEHOLDERS, what="decoder argv")
        except UserError as exc:
            v.add("error", None, None, str(exc))

    # Sequences: known, not repeated, all present.
    for name in manifest.sequences():
        try:
            seq = edition.sequence(name)
        except UserError as exc:
            v.add("error", name, None, str(exc))
            continue
        if seq.id in v.points:
            v.add("error", name, None, f"sequence {seq.id} is listed twice (as an alias?)")
            continue
        v.points[seq.id] = [p for p in manifest.points if p.sequence == name]
    for seq in edition.sequences.values():
        if seq.id not in v.points:
            level = "warning" if seq.optional else "error"
            v.add(level, seq.id, None, f"missing sequence {seq.id}"
                  + (" (optional in this edition)" if seq.optional else ""), kind="incomplete")

    for seq_id, points in v.points.items():
        _check_sequence(v, edition.sequences[seq_id], points, check_md5=check_md5)
    return v


def _check_sequence(v: Validation, seq: "Sequence", points: list[Point], *, check_md5: bool) -> None:
    n = v.edition.rate_points
    if len(points) < n:
        v.add("error", seq.id, None, f"{len(points)} rate point(s), the edition requires {n}",
              kind="incomplete")
    elif len(points) > n:
        v.add("error", seq.id, None, f"{len(points)} rate points, the edition has {n}")
    labels = [p.label for p in points]
    for label in sorted({x for x in labels if labels.count(x) > 1}):
        v.add("error", seq.id, label, "rate point listed twice")

    has_decoder = v.manifest.decoder is not None
    for p in points:
        try:
            files = point_files(v.manifest, p)
        except ValueError as exc:
            v.add("error", seq.id, p.label, str(exc), kind="files")
            continue
        ok = True
        for role, paths in files.items():
            for path in paths:
                if not path.is_file():
                    v.add("error", seq.id, p.label, f"{role} file {path.relative_to(v.manifest.root)} "
                                                    "does not exist", kind="files")
                    ok = False
                elif path.stat().st_size == 0:
                    v.add("error", seq.id, p.label, f"{role} file {path.relative_to(v.manifest.root)} "
                                                    "is empty", kind="files")
                    ok = False
        if p.best_evidence(has_decoder) is None:
            v.add("error", seq.id, p.label, "no evidence: give a bitstream with a decoder, task "
                                            "outputs, or a reported metric")
        if not p.bitstreams and "rate" not in p.reported:
            v.add("error", seq.id, p.label, "no rate: give the bitstream file(s) or 'reported.rate'",
                  kind="rate")
        if not ok:
            continue
        if p.bitstreams:
            from vcmctc.rate import bits_of_files

            bits = bits_of_files({"bitstream": files.get("bitstream", []),
                                  "side-info": files.get("side-info", [])})
            rate = rate_of(seq, bits.total)
            if "rate" in p.reported and abs(p.reported["rate"] - rate) > 0.005 * rate:
                v.add("warning", seq.id, p.label,
                      f"reported rate {p.reported['rate']:g} differs from the {rate:.2f} "
                      f"{seq.rate_unit} of the files by more than 0.5%", kind="rate")
            v.rates[(seq.id, p.label)] = rate
        elif "rate" in p.reported:
            v.rates[(seq.id, p.label)] = p.reported["rate"]
        if "decoded" in files:
            _check_decoded(v, seq, p, files["decoded"][0], check_md5=check_md5)

    _check_rates(v, seq, points)
    _check_overlap(v, seq, points)


def _check_decoded(v: Validation, seq: "Sequence", p: Point, path: Path, *, check_md5: bool) -> None:
    from vcmctc.media.yuv import YuvFormat, md5_of

    if seq.kind != "video" or None in (seq.width, seq.height, seq.frames):
        return
    fmt = YuvFormat(seq.width, seq.height, seq.bit_depth or 8, seq.chroma)
    expected = fmt.expected_size(seq.frames)
    size = path.stat().st_size
    if size != expected:
        v.add("error", seq.id, p.label,
              f"decoded file {path.name} has {size} bytes; {seq.frames} frames of "
              f"{seq.width}x{seq.height} {seq.chroma} {seq.bit_depth}-bit need {expected}", kind="files")
    elif check_md5 and p.decoded_md5 and md5_of(path) != p.decoded_md5:
        v.add("error", seq.id, p.label, f"decoded file {path.name}: md5 differs from decoded_md5",
              kind="files")


def _check_rates(v: Validation, seq: "Sequence", points: list[Point]) -> None:
    known = [(p, v.rates[(seq.id, p.label)]) for p in points if (seq.id, p.label) in v.rates]
    rates = [r for _, r in known]
    for i, (p, r) in enumerate(known):
        if r <= 0:
            v.add("error", seq.id, p.label, f"rate {r:g} is not positive", kind="rate")
        if r in rates[:i]:
            v.add("error", seq.id, p.label, f"rate {r:g} repeats another point's rate", kind="rate")
    with_qp = sorted((p.qp, r) for p, r in known if p.qp is not None)
    if any(b[1] >= a[1] for a, b in zip(with_qp, with_qp[1:]) if b[0] > a[0]):
        v.add("warning", seq.id, None, "rate does not fall as the QP rises: "
              + ", ".join(f"QP {q}: {r:.2f}" for q, r in with_qp), kind="rate")


def _check_overlap(v: Validation, seq: "Sequence", points: list[Point]) -> None:
    if v.anchor is None:
        return
    metrics = [p.reported["metric"] for p in points if "metric" in p.reported]
    if not metrics:
        return
    anchor_metrics = [a["metric"] for a in v.anchor.curve(seq.id)]
    if not anchor_metrics:
        v.add("warning", seq.id, None, f"the anchor {v.anchor.id} has no points for this sequence",
              kind="quality")
        return
    lo, hi = max(min(metrics), min(anchor_metrics)), min(max(metrics), max(anchor_metrics))
    if lo >= hi:
        v.add("warning", seq.id, None,
              f"reported quality range {min(metrics):g}..{max(metrics):g} does not overlap the "
              f"anchor's {min(anchor_metrics):g}..{max(anchor_metrics):g}: no BD-rate is possible",
              kind="quality")
