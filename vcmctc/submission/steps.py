"""The run steps of one rate point: decode, task network, measure. Each returns a value.

Every step is cached by content (:mod:`vcmctc.submission.cache`): its key is the digest of what
determines its result, including the digests of the submission's programs (every file of the
submission that is not rate-point data, and programs outside it that the argv names), of the
bitstreams, of the decoded output, of the ground truth, and the family's settings. A step that
ran before with the same inputs is read back; a failing step is never cached.

Video sequences are decoded to one YUV per rate point. An image set is decoded image by image:
the decoder runs once per bitstream file (``{bitstream}``, ``{side_info}`` of the same stem,
``{item}`` the image id) and writes ``{output}``, a PNG; the task network then runs once on the
folder of decoded images. A decoder with ``output: features`` (FCM) writes feature files instead
(``.npz``, checked against the edition's split point: :mod:`vcmctc.features.evidence`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vcmctc import __version__
from vcmctc.errors import UserError
from vcmctc.families import family_for
from vcmctc.families.base import GroundTruth, gt_location
from vcmctc.families.state import load_state, save_state
from vcmctc.results.model import StepRecord
from vcmctc.submission.cache import Cache, file_sha256, hash_json, tree_sha256

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence
    from vcmctc.families.base import Family
    from vcmctc.submission.validate import Plan, PlannedPoint


@dataclass
class Produced:
    """What a decode or task step produced: its record for the results, and its output."""

    record: StepRecord
    path: Path | None = None        # None when the step failed
    digest: str | None = None       # SHA-256 (file) or tree digest (folder) of the output
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Measured:
    """A measured rate point: all statistics and where its pooling state is."""

    stats: dict[str, Any]
    state: Path
    state_digest: str
    cached: bool


# --------------------------------------------------------------------------------------------
# ground truth


class GroundTruths:
    """Ground truth of the run's sequences: digests without loading, loading at most once."""

    def __init__(self, data_root: Path | None, cache: Cache, edition=None):
        self.data_root = data_root
        self.cache = cache
        self.edition = edition
        self._lock = threading.Lock()
        self._seq_locks: dict[str, threading.Lock] = {}
        self._loaded: dict[str, GroundTruth] = {}
        self._digests: dict[str, tuple[str, list[Path]]] = {}

    def files(self, seq: "Sequence", family: "Family") -> tuple[str, list[Path]]:
        """(digest, files) of the ground truth of ``seq``."""
        with self._lock:
            if seq.id not in self._digests:
                path = gt_location(seq, self.data_root, self.edition)
                files = family.gt_files(seq, path)
                root = Path(self.data_root)
                self._digests[seq.id] = (tree_sha256(files, root), files)
            return self._digests[seq.id]

    def load(self, seq: "Sequence", family: "Family") -> GroundTruth:
        with self._lock:
            lock = self._seq_locks.setdefault(seq.id, threading.Lock())
        with lock:
            if seq.id not in self._loaded:
                self._loaded[seq.id] = family.load_gt(seq, gt_location(seq, self.data_root, self.edition))
            return self._loaded[seq.id]

    def info(self, seq: "Sequence", family: "Family") -> dict[str, Any]:
        """Image ids and pixel count of an image set's ground truth (cached by its digest)."""
        digest, _ = self.files(seq, family)
        key = hash_json({"step": "gt-info", "gt": digest, "family": family.name,
                         "metric": seq.metric, "vcmctc": __version__})
        with self.cache.lock("gt-info", key):
            hit = self.cache.get("gt-info", key)
            if hit is None:
                gt = self.load(seq, family)
                self.cache.workdir("gt-info", key)
                hit = self.cache.put("gt-info", key, {"items": gt.items, "pixels": gt.pixels})
        return hit

    def digests(self) -> dict[str, str]:
        return {seq_id: d for seq_id, (d, _) in sorted(self._digests.items())}


# --------------------------------------------------------------------------------------------
# programs


def program_digests(plan: "Plan") -> dict[str, str]:
    """Digests of the programs a decoded-level run uses: every file of the submission that is not
    rate-point data (scripts, weights, configs, libraries...), and each argv element that names
    a file outside it (the interpreter, an installed decoder). Any change changes the keys of
    the decode and task steps."""
    m = plan.manifest
    data = {p.resolve() for pp in plan.points() for paths in pp.files.values() for p in paths}
    inside = sorted(p for p in m.root.rglob("*")
                    if p.is_file() and not p.is_symlink() and p.resolve() not in data)
    out = {"submission": tree_sha256(inside, m.root)}
    argvs = [m.decoder.argv, m.decoder.image_argv or ()] if m.decoder else []
    for argv in (*argvs, m.task.argv):
        for i, arg in enumerate(argv):
            if "{" in arg:
                continue
            found = shutil.which(arg) if i == 0 and not os.path.isabs(arg) else arg
            path = Path(found) if found and os.path.isabs(found) else None
            if path is not None and path.is_file() and m.root not in path.resolve().parents:
                real = path.resolve()
                out[str(real)] = f"{real.stat().st_size}:{file_sha256(real)}"
    return out


# --------------------------------------------------------------------------------------------
# the steps


class Steps:
    """The steps of a run, sharing its plan, options, cache and ground truth."""

    def __init__(self, plan: "Plan", cache: Cache, gts: GroundTruths, *, coco_backend: str,
                 timing: str = "parallel", programs: dict[str, str] | None = None,
                 on_step: Callable[[str, bool], None] | None = None, contain=None):
        self.plan = plan
        self.m = plan.manifest
        self.cache = cache
        self.gts = gts
        self.coco_backend = coco_backend
        self.programs = programs or {}
        self.on_step = on_step or (lambda what, cached: None)
        from vcmctc.runner import Containment

        self.contain = (contain or Containment()).resolved()
        self._decode_lock = threading.Lock() if timing == "isolated" else contextlib.nullcontext()
        self._adapter = None
        self._adapter_lock = threading.Lock()

    def family(self, seq: "Sequence") -> "Family":
        return family_for(seq.metric, coco_backend=self.coco_backend)

    # ---- decode ---------------------------------------------------------------------------
    def values(self, pp: "PlannedPoint") -> dict[str, Any]:
        seq = pp.seq
        return {"width": seq.width or "", "height": seq.height or "",
                "frames": seq.frames if seq.kind != "images" else 1,
                "bit_depth": seq.bit_depth or 8, "fps": seq.fps or "",
                "qp": pp.point.qp if pp.point.qp is not None else "",
                "first_frame": seq.first_frame, "task": seq.task or "", "sequence": seq.id}

    def feature_layout(self, pp: "PlannedPoint"):
        """The feature layout of a point whose decoder outputs features (else None)."""
        from vcmctc.features.evidence import layout_for

        if self.m.decoder is None or self.m.decoder.output != "features":
            return None
        return layout_for(self.plan.edition, pp.seq)

    def decode(self, pp: "PlannedPoint") -> Produced:
        dec = self.m.decoder
        layout = self.feature_layout(pp)
        what = {"step": "decode", "programs": self.programs, "argv": dec.argv_for(pp.seq.kind),
                "values": self.values(pp), "kind": pp.seq.kind,
                "bitstreams": [file_sha256(f) for f in pp.files["bitstream"]],
                "side_info": [file_sha256(f) for f in pp.files.get("side-info", ())],
                "items": pp.items, "vcmctc": __version__}
        if layout is not None:
            what.update(output="features", split_point=layout.split.to_dict(),
                        original=[file_sha256(f) for f in pp.files.get("original-features", ())])
        key = hash_json(what)
        with self.cache.lock("decode", key):
            hit = self.cache.get("decode", key)
            cached = hit is not None
            if hit is None:
                work = self.cache.workdir("decode", key)
                with self._decode_lock:
                    started = time.time()
                    if layout is not None:
                        hit, files = self._decode_features(pp, work, layout)
                    elif pp.seq.kind == "images":
                        hit, files = self._decode_images(pp, work)
                    else:
                        hit, files = self._decode_video(pp, work)
                    hit.update(started=started, ended=time.time())
                if hit["status"] == "ok":
                    hit = _refuse_links(work, hit)
                if hit["status"] == "ok":
                    hit = self.cache.put("decode", key, hit, files)
                else:
                    _drop_outputs(work)
        folder = self.cache.folder("decode", key)
        record = StepRecord(status=hit["status"], message=self.portable(hit.get("message")),
                            wall_s=hit.get("wall_s"), cpu_s=hit.get("cpu_s"),
                            peak_rss_mb=hit.get("peak_rss_mb"), log=hit.get("log"),
                            started=hit.get("started"), ended=hit.get("ended"),
                            md5=hit.get("md5"), frames_decoded=hit.get("frames_decoded"),
                            items=hit.get("items"), cached=cached, features=hit.get("features"))
        if record.status == "ok" and pp.point.decoded_md5 and record.md5 != pp.point.decoded_md5:
            record.status = "md5-mismatch"
            record.message = (f"MD5 of the decoded output is {record.md5}, the submitted "
                              f"decoded_md5 is {pp.point.decoded_md5}")
        self.on_step(f"decode {pp.seq.id} {pp.label}: {record.status}", cached)
        if record.status != "ok":
            return Produced(record)
        output = folder / hit["output"]
        digest = (Cache.file_digest(hit, hit["output"]) if pp.seq.kind != "images"
                  else hash_json(sorted((e["name"], e["sha256"]) for e in hit["files"])))
        return Produced(record, output, digest)

    def _decode_video(self, pp: "PlannedPoint", work: Path) -> tuple[dict, tuple[str, ...]]:
        from vcmctc.media.yuv import YuvFormat
        from vcmctc.runner import check_output, output_cap, run_decoder

        seq = pp.seq
        fmt = YuvFormat(seq.width, seq.height, seq.bit_depth or 8, seq.chroma)
        side = pp.files.get("side-info", ())
        values = {**self.values(pp), "bitstream": str(pp.files["bitstream"][0]),
                  "side_info": str(side[0]) if side else "", "output": str(work / "decoded.yuv"),
                  "submission": str(self.m.root), "item": ""}
        # a decoder writing far more than the decoded YUV is stopped (see output_cap)
        limit = output_cap(fmt.expected_size(seq.frames))
        run = run_decoder(list(self.m.decoder.argv), values, timeout_s=self.m.decoder.timeout_s,
                          workdir=work, log_path=work / "decoder.log",
                          contain=dataclasses.replace(self.contain, max_file_bytes=limit))
        run = check_output(run, fmt, seq.frames)
        rec = {"status": run.status, "message": run.message, "wall_s": run.wall_s,
               "cpu_s": run.cpu_s, "peak_rss_mb": run.peak_rss_mb, "md5": run.md5,
               "frames_decoded": run.frames_decoded, "output": "decoded.yuv",
               "log": self._rel(work / "decoder.log")}
        return rec, ("decoded.yuv",)

    def _decode_features(self, pp: "PlannedPoint", work: Path, layout
                         ) -> tuple[dict, tuple[str, ...]]:
        from vcmctc.features import evidence

        from vcmctc.runner import output_cap

        dec = self.m.decoder
        values = {**self.values(pp), "submission": str(self.m.root), "item": ""}
        expected = layout.max_bytes()
        contain = (self.contain if expected is None else   # shapes unknown: the default cap
                   dataclasses.replace(self.contain, max_file_bytes=output_cap(expected)))
        originals = pp.files.get("original-features", ())
        side = pp.files.get("side-info", ())
        if pp.seq.kind == "images":
            return evidence.decode_images(
                dec.argv_for("images"), values, pp.files["bitstream"], pp.items,
                {p.stem: p for p in side}, timeout_s=dec.timeout_s, work=work, layout=layout,
                originals={p.stem: p for p in originals}, rel=self._rel, contain=contain)
        values.update(bitstream=str(pp.files["bitstream"][0]),
                      side_info=str(side[0]) if side else "")
        return evidence.decode_video(dec.argv, values, timeout_s=dec.timeout_s, work=work,
                                     layout=layout, original=originals[0] if originals else None,
                                     rel=self._rel, contain=contain)

    def _decode_images(self, pp: "PlannedPoint", work: Path) -> tuple[dict, tuple[str, ...]]:
        from vcmctc.runner import exit_status, fill_template, run_process

        seq = pp.seq
        out_dir = work / "decoded"
        out_dir.mkdir()
        side = {p.stem: p for p in pp.files.get("side-info", ())}
        wall = cpu = peak = 0.0
        md5 = hashlib.md5()
        names = []
        for bitstream, item in zip(pp.files["bitstream"], pp.items):
            output = out_dir / f"{item}.png"
            values = {**self.values(pp), "bitstream": str(bitstream),
                      "side_info": str(side[item]) if item in side else "",
                      "output": str(output), "submission": str(self.m.root), "item": item}
            argv = fill_template(list(self.m.decoder.argv_for("images")), values,
                                 what="decoder command")
            log = work / "logs" / f"{item}.log"
            run = run_process(argv, timeout_s=self.m.decoder.timeout_s, workdir=work, log_path=log,
                              contain=dataclasses.replace(self.contain,
                                                          max_file_bytes=IMAGE_MAX_BYTES))
            wall, cpu, peak = wall + run.wall_s, cpu + run.cpu_s, max(peak, run.peak_rss_mb)
            status, message = exit_status(run, "decoder", f"on {bitstream.name}")
            problem = None if status != "ok" else _check_png(output, seq)
            if status != "ok" or problem:
                return ({"status": status if status != "ok" else "bad-output",
                         "message": message if status != "ok" else f"image {item}: {problem}",
                         "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak,
                         "log": self._rel(log)}, ())
            md5.update(_pixels_md5(output).encode())
            names.append(f"decoded/{item}.png")
        return ({"status": "ok", "message": f"decoded {len(names)} images in {wall:.3f} s",
                 "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak, "md5": md5.hexdigest(),
                 "items": len(names), "output": "decoded", "log": self._rel(work / "logs")},
                tuple(names))

    def portable(self, text: str | None) -> str | None:
        """``text`` naming files relative to the submission or the output folder, never where
        they lie on this machine (results and reports carry no local paths)."""
        if not text:
            return text
        for base in (self.cache.root.parent, self.m.root):
            text = text.replace(f"{base}{os.sep}", "").replace(str(base), ".")
        return text

    def _rel(self, path: Path) -> str:
        """A path inside the output folder, relative to it (results carry no absolute paths)."""
        return str(path.relative_to(self.cache.root.parent))

    # ---- task network ---------------------------------------------------------------------
    def adapter(self):
        from vcmctc.adapters import from_spec

        with self._adapter_lock:
            if self._adapter is None:
                self._adapter = from_spec(self.m.task, self.m.root, self.contain)
            return self._adapter

    def task(self, pp: "PlannedPoint", decoded: Produced) -> Produced:
        seq, spec = pp.seq, self.m.task
        family = self.family(seq)
        what = {"step": "task", "programs": self.programs, "decoded": decoded.digest,
                "adapter": spec.adapter, "argv": spec.argv, "config": spec.config,
                "weights": spec.weights, "options": spec.options,
                "values": self.values(pp), "output_kind": family.output_kind,
                "vcmctc": __version__}
        layout = self.feature_layout(pp)
        if layout is not None:
            what.update(entry=spec.entry, split_point=layout.split.to_dict())
        key = hash_json(what)
        with self.cache.lock("task", key):
            hit = self.cache.get("task", key)
            cached = hit is not None
            if hit is None:
                hit = self._run_task(pp, decoded, family, key)
        record = StepRecord(status=hit["status"], message=self.portable(hit.get("message")),
                            wall_s=hit.get("wall_s"), cpu_s=hit.get("cpu_s"),
                            peak_rss_mb=hit.get("peak_rss_mb"), log=hit.get("log"), cached=cached)
        self.on_step(f"task {seq.id} {pp.label}: {record.status}", cached)
        if record.status != "ok":
            return Produced(record)
        folder = self.cache.folder("task", key)
        return Produced(record, folder / hit["output"], _digest_of(hit, hit["output"]),
                        {"complexity": hit["complexity"]} if hit.get("complexity") else {})

    def _run_task(self, pp: "PlannedPoint", decoded: Produced, family: "Family", key: str) -> dict:
        from vcmctc.adapters import TaskRequest
        from vcmctc.media.yuv import YuvFormat

        seq, spec = pp.seq, self.m.task
        work = self.cache.workdir("task", key)
        images = seq.kind == "images"
        request = TaskRequest(
            decoded=decoded.path,
            fmt=None if images else YuvFormat(seq.width, seq.height, seq.bit_depth or 8,
                                              seq.chroma),
            frames=len(pp.items) if images else seq.frames, first_frame=seq.first_frame,
            fps=seq.fps, task=seq.task or "", output=work / family.output_name,
            log=work / "task.log", output_kind=family.output_kind,
            check=lambda path: family.check_output(seq, path), timeout_s=spec.timeout_s,
            sequence=seq.id, workdir=work, features=self.feature_layout(pp))
        run = self.adapter().run(request)
        hit = {"status": run.status, "message": run.message, "wall_s": run.wall_s,
               "cpu_s": run.cpu_s, "peak_rss_mb": run.peak_rss_mb,
               "output": family.output_name, "log": self._rel(work / "task.log")}
        if run.complexity:
            hit["complexity"] = dict(run.complexity)
        if run.status == "ok":
            hit = _refuse_links(work, hit)
        if hit["status"] == "ok":
            hit = self.cache.put("task", key, hit, _files_of(work, family.output_name))
        else:
            _drop_outputs(work)
        return hit

    # ---- measuring ------------------------------------------------------------------------
    def measure(self, pp: "PlannedPoint", output: Path, output_digest: str | None = None
                ) -> Measured:
        """All statistics of the family for one task output; raises UserError for an output
        that cannot be scored (the caller records it as the point's status)."""
        seq = pp.seq
        family = self.family(seq)
        gt_digest, _ = self.gts.files(seq, family)
        if output_digest is None:
            output_digest = (file_sha256(output) if output.is_file()
                             else tree_sha256(sorted(p for p in output.rglob("*") if p.is_file()),
                                              output))
        key = hash_json({"step": "measure", "output": output_digest, "gt": gt_digest,
                         "metric": seq.metric, "settings": family.settings(seq),
                         "frames": [seq.skip, seq.frames, seq.first_frame],
                         "vcmctc": __version__})
        with self.cache.lock("measure", key):
            hit = self.cache.get("measure", key)
            cached = hit is not None
            if hit is None:
                problem = family.check_output(seq, output)
                if problem:
                    raise UserError(problem)
                gt = self.gts.load(seq, family)
                measurement = family.measure(seq, gt, output)
                work = self.cache.workdir("measure", key)
                save_state(work / "state.npz", measurement.state)
                hit = self.cache.put("measure", key, {"stats": measurement.stats},
                                     ("state.npz",))
        self.on_step(f"measure {seq.id} {pp.label}", cached)
        state = self.cache.folder("measure", key) / "state.npz"
        return Measured(hit["stats"], state, Cache.file_digest(hit, "state.npz"), cached)

    def pool(self, members: list[tuple["PlannedPoint", Measured]]) -> dict[str, Any]:
        """Statistics of one pooled class point from its members' states (cached)."""
        seq = members[0][0].seq
        family = self.family(seq)
        key = hash_json({"step": "pool", "states": [m.state_digest for _, m in members],
                         "settings": [family.settings(pp.seq) for pp, _ in members],
                         "vcmctc": __version__})
        with self.cache.lock("pool", key):
            hit = self.cache.get("pool", key)
            if hit is None:
                parts = [(pp.seq, self.gts.load(pp.seq, family) if family.pool_needs_gt else None,
                          load_state(m.state)) for pp, m in members]
                stats = family.pool(parts)
                self.cache.workdir("pool", key)
                hit = self.cache.put("pool", key, {"stats": stats})
        return hit["stats"]


#: Largest decoded image a decoder may write (a PNG of an 8K picture is far below).
IMAGE_MAX_BYTES = 256 << 20


def _refuse_links(work: Path, hit: dict) -> dict:
    """A step whose program left a symbolic link (or a FIFO, a device...) in its folder failed:
    a link is never followed (it could point at any file of this machine)."""
    from vcmctc.runner import output_problem

    problem = output_problem(work, base=work)
    if problem is not None:
        return {**hit, "status": "bad-output",
                "message": f"{problem}; a program must write files, never links"}
    return hit


def _drop_outputs(work: Path) -> None:
    """Remove what a failed step wrote, but its logs (a failure is never cached or reused)."""
    for path in sorted(work.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink() or path.is_file():
            if path.suffix != ".log":
                path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _files_of(work: Path, name: str) -> tuple[str, ...]:
    path = work / name
    if path.is_dir():
        return tuple(str(p.relative_to(work)) for p in sorted(path.rglob("*")) if p.is_file())
    return (name,)


def _digest_of(record: dict, name: str) -> str:
    entries = [e for e in record["files"] if e["name"] == name or e["name"].startswith(name + "/")]
    if len(entries) == 1 and entries[0]["name"] == name:
        return entries[0]["sha256"]
    return hash_json(sorted((e["name"], e["sha256"]) for e in entries))


def _check_png(path: Path, seq: "Sequence") -> str | None:
    """None if ``path`` is a PNG image of the set's size (when the edition fixes one)."""
    from PIL import Image

    from vcmctc.runner import output_problem

    problem = output_problem(path)
    if problem is not None:
        return problem.replace(str(path), path.name, 1)
    if not path.is_file():
        return f"{path.name} was not written"
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                return f"{path.name} is {im.format}, not PNG"
            size = im.size
            im.load()
    except (OSError, SyntaxError, ValueError) as exc:
        return f"{path.name} is not a readable PNG ({exc})"
    if seq.width and seq.height and size != (seq.width, seq.height):
        return f"{path.name} is {size[0]}x{size[1]}, the set's images are {seq.width}x{seq.height}"
    return None


def _pixels_md5(path: Path) -> str:
    """MD5 of an image's decoded pixels (mode, size and raw samples), not of its PNG bytes."""
    from PIL import Image

    with Image.open(path) as im:
        h = hashlib.md5(f"{im.mode}:{im.size[0]}x{im.size[1]}:".encode())
        h.update(im.tobytes())
    return h.hexdigest()
