"""Conformance of a submission before any heavy work, producing the plan the run consumes.

:func:`validate` reads the manifest against its edition and anchor and returns a :class:`Plan`:
every rate point with its evidence level, its files (absolute; an image set's bitstream folder
expanded to one file per image), its bits and rate, plus the findings. Findings are errors (the
submission cannot be evaluated as it is) or warnings (it can, but a number may mislead). Missing
sequences or rate points are errors of kind ``incomplete``: ``evaluate --allow-incomplete``
accepts them and the results say the submission is incomplete.

``vcmctc evaluate`` runs exactly the plan ``vcmctc validate`` checked: the anchor is loaded and
the rates are computed here, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from vcmctc.errors import UserError
from vcmctc.submission.manifest import EVIDENCE_LEVELS, Manifest, Point

if TYPE_CHECKING:
    from vcmctc.ctc.editions import Edition
    from vcmctc.ctc.schema import Sequence
    from vcmctc.rate import Bits
    from vcmctc.submission.anchor_source import AnchorSource
    from vcmctc.submission.cache import Cache

LEVELS = ("best", *EVIDENCE_LEVELS)
#: Task adapters that load the submission's code or pickled weights into vcmctc's own process.
IN_PROCESS = ("torch", "detectron2", "detectron2-split")
IMAGE_SUFFIXES = (".png",)
RATE_TOLERANCE = 0.005   # reported vs file rate, relative


@dataclass(frozen=True)
class Finding:
    level: str                 # "error" | "warning"
    sequence: str | None
    point: str | None
    message: str
    kind: str = "conformance"  # conformance | incomplete | files | rate | quality | anchor

    def to_dict(self) -> dict:
        return {"level": self.level, "kind": self.kind, "sequence": self.sequence,
                "point": self.point, "message": self.message}


@dataclass(frozen=True)
class PlannedPoint:
    """One rate point as the run will evaluate it."""

    seq: "Sequence"
    point: Point
    level: str | None                      # None: no usable evidence (an error finding says why)
    files: dict[str, tuple[Path, ...]]     # role -> absolute paths, in a stable order
    items: tuple[str, ...] | None = None   # image sets: image ids (bitstream file stems)
    bits: "Bits | None" = None
    rate: float | None = None              # None: unknown yet (bpp from the ground truth's pixels)
    rate_source: str | None = None

    @property
    def label(self) -> str:
        return self.point.label


@dataclass
class Plan:
    manifest: Manifest
    edition: "Edition"
    anchor: "AnchorSource | None"
    scenario: str
    level: str
    findings: list[Finding] = field(default_factory=list)
    # canonical sequence id -> planned points, in manifest order
    sequences: dict[str, list[PlannedPoint]] = field(default_factory=dict)
    # task-output checks made by this validation, cache key -> verdict, for the run to seal
    # (:mod:`vcmctc.submission.checks`)
    output_checks: dict[str, str | None] = field(default_factory=dict)

    def add(self, level: str, seq: str | None, point: str | None, msg: str,
            kind: str = "conformance") -> None:
        self.findings.append(Finding(level, seq, point, msg, kind))

    def errors(self, allow_incomplete: bool = False) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"
                and not (allow_incomplete and f.kind == "incomplete")]

    @property
    def complete(self) -> bool:
        return not any(f.kind == "incomplete" for f in self.findings)

    def points(self) -> Iterator[PlannedPoint]:
        for pts in self.sequences.values():
            yield from pts

    @property
    def decodes(self) -> bool:
        return any(p.level == "decoded" for p in self.points())


# ------------------------------------------------------------------------------------------
# paths

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


def _expand(root: Path, role: str, path: Path, image_set: bool) -> tuple[Path, ...]:
    """A file, or (image sets: bitstreams and side information) a folder of one file per image."""
    if image_set and role in ("bitstream", "side-info", "original-features") and path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        for p in files:
            safe_path(root, str(p.relative_to(root)))
        return tuple(files)
    return (path,)


def point_files(manifest: Manifest, point: Point, image_set: bool = False
                ) -> dict[str, tuple[Path, ...]]:
    """Resolved files of a point by role; raises ValueError on an unsafe path."""
    out: dict[str, tuple[Path, ...]] = {}
    for role, rels in point.files().items():
        paths: list[Path] = []
        for rel in rels:
            paths += _expand(manifest.root, role, safe_path(manifest.root, rel), image_set)
        out[role] = tuple(paths)
    return out


# ------------------------------------------------------------------------------------------
# rates

def pixels_of(seq: "Sequence", items: int | None) -> int | None:
    """Pixels of an image set known from the edition (fixed image size x images, or ``pixels``)."""
    n = items or seq.items
    if seq.width and seq.height and n:
        return seq.width * seq.height * n
    return getattr(seq, "pixels", None)


def rate_of(seq: "Sequence", bits: float, pixels: int | None = None) -> float | None:
    """kbps of a video sequence, bpp of an image set (None while its pixel count is unknown)."""
    from vcmctc.rate import bpp, kbps

    if seq.rate_unit == "kbps":
        if not seq.fps or not seq.frames:
            raise UserError(f"sequence {seq.id}: kbps needs the edition's fps and frames")
        return kbps(bits, seq.fps, seq.frames)
    return bpp(bits, pixels) if pixels else None


# ------------------------------------------------------------------------------------------
# validation

def validate(manifest: Manifest, *, level: str = "best", check_md5: bool = True,
             use_anchor: bool = True, cache: "Cache | None" = None) -> Plan:
    """Check ``manifest`` and plan its evaluation at evidence ``level`` (``best``: each point's
    strongest evidence). ``use_anchor=False`` plans a run without BD-rates (``--no-anchor``).
    ``cache``: a run's cache holding the task-output verdicts of earlier runs (a task output
    checked before, byte for byte, is not parsed again); new verdicts go to
    ``plan.output_checks``."""
    from vcmctc.adapters import adapter_problem
    from vcmctc.ctc.editions import load_edition
    from vcmctc.runner import DECODER_PLACEHOLDERS, check_template
    from vcmctc.submission.anchor_source import load_anchor_source

    if level not in LEVELS:
        raise UserError(f"unknown evidence level {level!r} (known: {', '.join(LEVELS)})")
    edition = load_edition(manifest.edition)
    _check_edition_origin(edition, manifest)
    anchor = (load_anchor_source(manifest.anchor, edition, manifest.root)
              if manifest.anchor and use_anchor else None)
    scenario = manifest.scenario or edition.default_scenario
    if scenario not in edition.scenarios:
        raise UserError(f"scenario {scenario!r} is not one of {', '.join(edition.scenarios)} of "
                        f"edition {edition.id}", file=manifest.path)
    plan = Plan(manifest, edition, anchor, scenario, level)
    if manifest.track and manifest.track != edition.track:
        plan.add("error", None, None, f"track {manifest.track!r} but edition {edition.id} is "
                                      f"{edition.track!r}")
    if anchor is not None and anchor.edition != edition.id:
        plan.add("error", None, None, f"anchor {anchor.id} belongs to edition {anchor.edition}, "
                                      f"not {edition.id}")
    if manifest.anchor is None and use_anchor:
        plan.add("warning", None, None, "no anchor: no BD-rate can be computed; set 'anchor:' "
                 "(vcmctc anchors lists the bundled and your own; vcmctc anchors add stores one)"
                 " or evaluate with --no-anchor", kind="anchor")
    for cls in manifest.reported_classes:
        if cls not in edition.classes:
            plan.add("error", None, None, f"reported_classes: {cls!r} is not a class of edition "
                                          f"{edition.id} ({', '.join(edition.classes)})")
    if manifest.decoder is not None:
        for name, argv in (("argv", manifest.decoder.argv),
                           ("image_argv", manifest.decoder.image_argv)):
            try:
                if argv is not None:
                    check_template(argv, DECODER_PLACEHOLDERS, what=f"decoder {name}")
                    _try_fill(argv, DECODER_PLACEHOLDERS, f"decoder {name}")
            except UserError as exc:
                plan.add("error", None, None, str(exc))
    if manifest.task.argv:
        from vcmctc.adapters.command import PLACEHOLDERS

        try:
            _try_fill(manifest.task.argv, (*PLACEHOLDERS, "submission"), "task argv")
        except UserError as exc:
            plan.add("error", None, None, str(exc))

    # Sequences: known, not repeated, all present.
    for name in manifest.sequences():
        try:
            seq = edition.sequence(name)
        except UserError as exc:
            plan.add("error", name, None, str(exc))
            continue
        if seq.id in plan.sequences:
            plan.add("error", name, None, f"sequence {seq.id} is listed twice (as an alias?)")
            continue
        points = [p for p in manifest.points if p.sequence == name]
        plan.sequences[seq.id] = [_plan_point(plan, seq, p, check_md5, cache) for p in points]
    for seq in edition.sequences.values():
        if seq.id not in plan.sequences:
            lv = "warning" if seq.optional else "error"
            plan.add(lv, seq.id, None, f"missing sequence {seq.id}"
                     + (" (optional in this edition)" if seq.optional else ""), kind="incomplete")
    for seq_id, planned in plan.sequences.items():
        _check_sequence(plan, edition.sequences[seq_id], planned)

    if any(p.level == "decoded" for p in plan.points()) and manifest.task.adapter in IN_PROCESS:
        plan.add("warning", None, None, f"the {manifest.task.adapter!r} adapter runs the "
                 "submission's code and weights inside vcmctc, outside any sandbox: evaluate "
                 "untrusted submissions with a 'command' task program instead", kind="conformance")
    if any(p.level == "decoded" for p in plan.points()):
        output = manifest.decoder.output if manifest.decoder else "pixels"
        problem = adapter_problem(manifest.task, manifest.root, output)
        if problem:
            plan.add("error", None, None, f"task: {problem}")
        if output == "features":
            decoded = [p.seq.id for p in plan.points() if p.level == "decoded"]
            for seq_id in dict.fromkeys(decoded):
                if not edition.sequences[seq_id].split_point:
                    plan.add("error", seq_id, None, f"the decoder outputs features but edition "
                             f"{edition.id} names no split point for {seq_id} (its "
                             "'split_point'), so vcmctc cannot check them")
    return plan


# What a placeholder holds when a template is filled (numbers for sizes, text for paths), so a
# format spec that cannot apply ("{width:zz}", "{output:d}") is found before anything runs.
_SAMPLE = {"width": 416, "height": 240, "frames": 33, "bit_depth": 8, "fps": 30.0, "qp": 32,
           "first_frame": 0}


def _try_fill(argv, names, what: str) -> None:
    from vcmctc.runner import fill_template

    fill_template(list(argv), {n: _SAMPLE.get(n, "x") for n in names}, what=what)


def edition_origin(edition) -> str:
    """``bundled`` for an edition of the package's cfg/, else ``user``."""
    from vcmctc.paths import cfg_dir

    bundled = cfg_dir().resolve()
    return "bundled" if bundled in Path(edition.files[0]).resolve().parents else "user"


def _check_edition_origin(edition, manifest: Manifest) -> None:
    """A bundled id names only the bundled edition: a file elsewhere may not take it."""
    from vcmctc.ctc.editions import list_editions

    if edition_origin(edition) == "user" and edition.id in list_editions():
        raise UserError(f"edition file {manifest.edition} uses the id {edition.id!r} of a bundled "
                        "edition; a bundled id names only the bundled edition: give yours its "
                        "own id", file=manifest.path)


def _level(plan: Plan, seq: "Sequence", p: Point) -> str | None:
    has_decoder = plan.manifest.decoder is not None
    if plan.level == "best":
        level = p.best_evidence(has_decoder)
        if level is None:
            plan.add("error", seq.id, p.label, "no evidence: give a bitstream with a decoder, "
                                               "task outputs, or a reported metric")
        return level
    supported = {"decoded": bool(p.bitstreams) and has_decoder, "outputs": bool(p.task_output),
                 "reported": "metric" in p.reported}[plan.level]
    if not supported:
        needs = {"decoded": "a bitstream and a decoder", "outputs": "task outputs (task_output)",
                 "reported": "a reported metric"}[plan.level]
        plan.add("error", seq.id, p.label, f"evidence level {plan.level!r} needs {needs}")
        return None
    return plan.level


def _plan_point(plan: Plan, seq: "Sequence", p: Point, check_md5: bool,
                cache: "Cache | None" = None) -> PlannedPoint:
    from vcmctc.rate import bits_of_files

    level = _level(plan, seq, p)
    image_set = seq.kind == "images"
    try:
        files = point_files(plan.manifest, p, image_set)
    except ValueError as exc:
        plan.add("error", seq.id, p.label, str(exc), kind="files")
        return PlannedPoint(seq, p, None, {})
    root = plan.manifest.root
    ok = True
    for role, paths in files.items():
        if not paths:
            plan.add("error", seq.id, p.label, f"{role} folder is empty", kind="files")
            ok = False
        for path in paths:
            rel = path.relative_to(root)
            if not path.exists():
                plan.add("error", seq.id, p.label, f"{role} file {rel} does not exist", kind="files")
                ok = False
            elif role == "task-output" and path.is_dir():
                continue   # label-map folders
            elif not path.is_file():
                plan.add("error", seq.id, p.label, f"{role} {rel} is not a file", kind="files")
                ok = False
            elif path.stat().st_size == 0:
                plan.add("error", seq.id, p.label, f"{role} file {rel} is empty", kind="files")
                ok = False
    if not p.bitstreams and "rate" not in p.reported:
        plan.add("error", seq.id, p.label, "no rate: give the bitstream file(s) or 'reported.rate'",
                 kind="rate")
    if not ok:
        return PlannedPoint(seq, p, None, files)

    items = None
    if image_set and "bitstream" in files:
        items = tuple(path.stem for path in files["bitstream"])
        if len(set(items)) != len(items):
            plan.add("error", seq.id, p.label, "two bitstreams of one image (same file stem)",
                     kind="files")
        stray = sorted({path.stem for path in files.get("side-info", ())} - set(items))
        if stray:
            plan.add("error", seq.id, p.label, f"side information of unknown image(s) "
                                               f"{', '.join(stray[:3])}", kind="files")
        if seq.items and len(items) != seq.items:
            plan.add("error", seq.id, p.label, f"{len(items)} image bitstreams, the set has "
                                               f"{seq.items} images", kind="files")
    bits = rate = source = None
    if p.bitstreams:
        bits = bits_of_files({"bitstream": files.get("bitstream", ()),
                              "side-info": files.get("side-info", ())})
        rate = rate_of(seq, bits.total, pixels_of(seq, len(items) if items else None))
        source = "files"
        if rate is not None and "rate" in p.reported and \
                abs(p.reported["rate"] - rate) > RATE_TOLERANCE * rate:
            plan.add("warning", seq.id, p.label,
                     f"reported rate {p.reported['rate']:g} differs from the {rate:.4f} "
                     f"{seq.rate_unit} of the files by more than 0.5%", kind="rate")
    elif "rate" in p.reported:
        rate, source = p.reported["rate"], "reported"
    if "metric" in p.reported and seq.metric:
        from vcmctc.families import metric_def

        problem = metric_def(seq.metric).check(p.reported["metric"])
        if problem:
            plan.add("error", seq.id, p.label, f"reported metric: {problem}", kind="quality")
    dec = plan.manifest.decoder
    features = (dec is not None and dec.output == "features") or (
        "decoded" in files and files["decoded"][0].suffix == ".npz")
    if "original-features" in files and not (features and seq.split_point):
        plan.add("error", seq.id, p.label, "original_features needs decoded features (decoder "
                 "output: features) of a sequence the edition gives a split point", kind="files")
    elif features and seq.split_point and {"decoded", "original-features"} & set(files):
        from vcmctc.features.evidence import check_submitted, layout_for

        for problem in check_submitted(layout_for(plan.edition, seq), files, p.decoded_md5,
                                       check_md5=check_md5):
            plan.add("error", seq.id, p.label, problem, kind="files")
    elif "decoded" in files:
        _check_decoded(plan, seq, p, files["decoded"][0], check_md5=check_md5)
    if level == "outputs" and "task-output" in files:
        _check_output(plan, seq, p, files["task-output"][0], cache)
    return PlannedPoint(seq, p, level, files, items, bits, rate, source)


def _check_output(plan: Plan, seq: "Sequence", p: Point, path: Path,
                  cache: "Cache | None") -> None:
    from vcmctc.families import family_for
    from vcmctc.submission.checks import output_problem

    if not seq.metric:
        return
    problem = output_problem(family_for(seq.metric), seq, path, cache, found=plan.output_checks)
    if problem:
        plan.add("error", seq.id, p.label, f"task output: {problem}", kind="files")


def _check_decoded(plan: Plan, seq: "Sequence", p: Point, path: Path, *, check_md5: bool) -> None:
    from vcmctc.media.yuv import YuvFormat, md5_of

    if seq.kind != "video" or None in (seq.width, seq.height, seq.frames):
        return
    fmt = YuvFormat(seq.width, seq.height, seq.bit_depth or 8, seq.chroma)
    expected = fmt.expected_size(seq.frames)
    size = path.stat().st_size
    if size != expected:
        plan.add("error", seq.id, p.label,
                 f"decoded file {path.name} has {size} bytes; {seq.frames} frames of "
                 f"{seq.width}x{seq.height} {seq.chroma} {seq.bit_depth}-bit need {expected}",
                 kind="files")
    elif check_md5 and p.decoded_md5 and md5_of(path) != p.decoded_md5:
        plan.add("error", seq.id, p.label,
                 f"decoded file {path.name}: md5 differs from decoded_md5", kind="files")


def _check_sequence(plan: Plan, seq: "Sequence", points: list[PlannedPoint]) -> None:
    n = plan.edition.rate_points
    if len(points) < n:
        plan.add("error", seq.id, None, f"{len(points)} rate point(s), the edition requires {n}",
                 kind="incomplete")
    elif len(points) > n:
        plan.add("error", seq.id, None, f"{len(points)} rate points, the edition has {n}")
    labels = [pp.label for pp in points]
    for label in sorted({x for x in labels if labels.count(x) > 1}):
        plan.add("error", seq.id, label, "rate point listed twice")
    known = [(pp, pp.rate) for pp in points if pp.rate is not None]
    rates = [r for _, r in known]
    for i, (pp, r) in enumerate(known):
        if r <= 0:
            plan.add("error", seq.id, pp.label, f"rate {r:g} is not positive", kind="rate")
        if r in rates[:i]:
            plan.add("error", seq.id, pp.label, f"rate {r:g} repeats another point's rate",
                     kind="rate")
    with_qp = sorted((pp.point.qp, r) for pp, r in known if pp.point.qp is not None)
    if any(b[1] >= a[1] for a, b in zip(with_qp, with_qp[1:]) if b[0] > a[0]):
        plan.add("warning", seq.id, None, "rate does not fall as the QP rises: "
                 + ", ".join(f"QP {q}: {r:.2f}" for q, r in with_qp), kind="rate")
    _check_overlap(plan, seq, [pp.point for pp in points])
    _check_plausible(plan, seq, points)


def _check_plausible(plan: Plan, seq: "Sequence", points: list[PlannedPoint]) -> None:
    """Rates or metrics that look like a unit or scale confusion against the anchor (bps for
    kbps, a 0-1 metric for percent): an error where certain, else a warning."""
    from vcmctc.bd.plausibility import metric_scale_check, rate_unit_check

    ref = plan.anchor.curve(seq.id) if plan.anchor else []
    test_rates = {pp.point.qp: pp.rate for pp in points
                  if pp.point.qp is not None and pp.rate is not None}
    findings = [rate_unit_check({a["qp"]: a["rate"] for a in ref if a.get("qp") is not None},
                                test_rates, unit=seq.rate_unit or "kbps", width=seq.width,
                                height=seq.height, fps=seq.fps, frames=seq.frames,
                                pixels=pixels_of(seq, None))]
    metrics = [pp.point.reported["metric"] for pp in points if "metric" in pp.point.reported]
    if metrics:
        findings.append(metric_scale_check(metrics, anchor=[a["metric"] for a in ref] or None))
    for f in findings:
        if f is not None:
            plan.add(f.level, seq.id, None, f.message, kind="rate" if f.kind == "rate-unit"
                     else "quality")


def _check_overlap(plan: Plan, seq: "Sequence", points: list[Point]) -> None:
    if plan.anchor is None:
        return
    anchor_metrics = [a["metric"] for a in plan.anchor.curve(seq.id)]
    if not anchor_metrics:
        plan.add("warning", seq.id, None, f"the anchor {plan.anchor.id} has no points for this "
                 "sequence: no BD-rate", kind="anchor")
        return
    metrics = [p.reported["metric"] for p in points if "metric" in p.reported]
    if not metrics:
        return
    lo, hi = max(min(metrics), min(anchor_metrics)), min(max(metrics), max(anchor_metrics))
    if lo >= hi:
        plan.add("warning", seq.id, None,
                 f"reported quality range {min(metrics):g}..{max(metrics):g} does not overlap "
                 f"the anchor's {min(anchor_metrics):g}..{max(anchor_metrics):g}: no BD-rate "
                 "is possible", kind="quality")


def check_ground_truth(plan: Plan, data_root: Path, *, check_md5: bool = True) -> None:
    """Findings for the ground truth a run at the planned levels needs under ``data_root``:
    present (the files its task family reads), before any decoder runs."""
    from vcmctc.families import family_for
    from vcmctc.families.base import gt_location

    for seq_id, points in plan.sequences.items():
        if not any(pp.level in ("outputs", "decoded") for pp in points):
            continue
        seq = plan.edition.sequences[seq_id]
        try:
            path = gt_location(seq, Path(data_root), plan.edition)
            files = family_for(seq.metric).gt_files(seq, path)
        except UserError as exc:
            plan.add("error", seq_id, None, str(exc), kind="files")
            continue
        missing = [f for f in files if not f.is_file()]
        if not files or missing:
            plan.add("error", seq_id, None, "ground truth incomplete: "
                     + (f"{missing[0]} missing" if missing else f"no file in {path}"),
                     kind="files")
    # published checksums of the ground truth (where public): a mismatch is an error
    from vcmctc.ctc.checksums import check_data_root

    needed = [s for s, pts in plan.sequences.items()
              if any(pp.level in ("outputs", "decoded") for pp in pts)]
    if needed:
        for check in check_data_root(plan.edition, Path(data_root), sequences=needed,
                                     hash_files=check_md5):
            if check.status == "mismatch":
                plan.add("error", check.expected.sequence, None, check.message(), kind="files")
