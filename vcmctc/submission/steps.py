"""The run steps of one rate point: decode, task network, measure. Each returns a value.

Every step is cached by content (:mod:`vcmctc.submission.cache`): its key is the digest of what
determines its result, including the digests of the submission's programs (every file of the
submission that is not rate-point data, and programs outside it that the argv names), of the
bitstreams, of the decoded output, of the ground truth, and the family's settings. A step that
ran before with the same inputs is read back. A failing step is sealed as failed (with its
logs): a later run reads its failure back instead of running it again, unless it is told to
retry failed steps (``retry_failed``); a success always replaces a failure.

Every step a run made (in this process or, through :meth:`Steps.merge`, in a worker) is in
:attr:`Steps.ran`: asking for it again reads it back as not cached, so executors can run the
steps anywhere and the run assembles the results from them.

Video sequences are decoded to one YUV per rate point. An image set is decoded image by image,
in chunks of ``chunk_size`` images (one cached step each, ``decode-chunk``, which executors run
in parallel): the decoder runs once per bitstream file (``{bitstream}``, ``{side_info}`` of the
same stem, ``{item}`` the image id) and writes ``{output}``, a PNG; the chunks are joined into
one folder (the ``decode`` step) and the task network then runs once on it. A decoder with
``output: features`` (FCM) writes feature files instead (``.npz``, checked against the edition's
split point: :mod:`vcmctc.features.evidence`), in one ``decode`` step per rate point.

Programs run contained (:class:`vcmctc.runner.Containment`). What a failed step wrote is removed
before it is sealed, but its logs; a step that leaves a symbolic link in its folder failed.

A decode whose output was deleted after use (:meth:`Cache.prune`, the disk budget) keeps its
record and digest, so later steps' keys hold; if the task network must run again, the output
is decoded again first (and must be the same).
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
from typing import TYPE_CHECKING, Any, Callable, Iterator

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
                self._loaded[seq.id] = family.load_gt(
                    seq, gt_location(seq, self.data_root, self.edition))
            return self._loaded[seq.id]

    def info(self, seq: "Sequence", family: "Family") -> dict[str, Any]:
        """Image ids and pixel count of an image set's ground truth (cached by its digest)."""
        digest, _ = self.files(seq, family)
        key = hash_json({"step": "gt-info", "gt": digest, "family": family.name,
                         "metric": seq.metric, "vcmctc": __version__})
        hit = self.cache.get("gt-info", key)
        if hit is None:
            gt = self.load(seq, family)
            work = self.cache.workdir("gt-info", key)
            hit = self.cache.put("gt-info", key, {"items": gt.items, "pixels": gt.pixels},
                                 work=work)
        return hit

    def loaded(self, seq: "Sequence") -> bool:
        return seq.id in self._loaded

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
                 on_step: Callable[[str, bool], None] | None = None,
                 retry_failed: bool = False, chunk_size: int = 50, contain=None):
        self.plan = plan
        self.m = plan.manifest
        self.cache = cache
        self.gts = gts
        self.coco_backend = coco_backend
        self.programs = programs or {}
        self.on_step = on_step or (lambda what, cached: None)
        self.retry_failed = retry_failed
        self.chunk_size = max(1, int(chunk_size))
        from vcmctc.runner import Containment

        self.contain = (contain or Containment()).resolved()
        self._decode_lock = threading.Lock() if timing == "isolated" else contextlib.nullcontext()
        self._adapter = None
        self._adapter_lock = threading.Lock()
        # (stage, key) -> record of every step this run made, wherever it ran
        self.ran: dict[tuple[str, str], dict] = {}
        self._ran_lock = threading.Lock()
        self._local = threading.local()

    # ---- steps made by this run -------------------------------------------------------------
    def lookup(self, stage: str, key: str) -> tuple[dict | None, bool]:
        """(record, cached) of a step: made by this run (not cached: ``cached`` counts what an
        earlier run made), or read from the cache (a sealed failure too, unless
        ``retry_failed``); (None, False) if it must run."""
        with self._ran_lock:
            record = self.ran.get((stage, key))
        if record is not None:
            return record, False
        record = self.cache.get(stage, key)
        if record is None and not self.retry_failed:
            record = self.cache.get_failed(stage, key)
        return record, record is not None

    def _finish(self, stage: str, key: str, work: Path, record: dict,
                files: tuple[str, ...] = ()) -> dict:
        """Seal an attempt (a success with its files, or a failure) and remember it."""
        if record.get("status", "ok") == "ok":
            record = _refuse_links(work, record)
        if record.get("status", "ok") == "ok":
            record = self.cache.put(stage, key, record, files, work=work)
        else:
            _drop_outputs(work)
            record = self.cache.put_failed(stage, key, record, work)
        self.merge([(stage, key, record)])
        journal = getattr(self._local, "journal", None)
        if journal is not None:
            journal.append((stage, key, record))
        return record

    @contextlib.contextmanager
    def _attempt(self, stage: str, key: str) -> Iterator[Path]:
        """A private work folder for one attempt, removed if the attempt is cut short."""
        work = self.cache.workdir(stage, key)
        try:
            yield work
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def merge(self, entries) -> None:
        """Take in steps made by this run elsewhere (an executor's workers)."""
        with self._ran_lock:
            for stage, key, record in entries:
                self.ran[(stage, key)] = record

    @contextlib.contextmanager
    def journal(self) -> Iterator[list]:
        """Collects the (stage, key, record) of the steps this thread makes inside the block."""
        self._local.journal = entries = []
        try:
            yield entries
        finally:
            self._local.journal = None

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

    def decode_key(self, pp: "PlannedPoint") -> str:
        dec = self.m.decoder
        what = {"step": "decode", "programs": self.programs, "argv": dec.argv_for(pp.seq.kind),
                "values": self.values(pp), "kind": pp.seq.kind,
                "bitstreams": [file_sha256(f) for f in pp.files["bitstream"]],
                "side_info": [file_sha256(f) for f in pp.files.get("side-info", ())],
                "items": pp.items, "vcmctc": __version__}
        layout = self.feature_layout(pp)
        if layout is not None:
            what.update(output="features", split_point=layout.split.to_dict(),
                        original=[file_sha256(f) for f in pp.files.get("original-features", ())])
        return hash_json(what)

    def decode(self, pp: "PlannedPoint", redo: bool = False) -> Produced:
        """Decode a rate point (read back if done). ``redo``: decode again a step whose output
        was pruned."""
        key = self.decode_key(pp)
        hit, cached = (None, False) if redo else self.lookup("decode", key)
        if hit is None:
            layout = self.feature_layout(pp)
            if pp.seq.kind == "images" and layout is None:
                hit = self._decode_set(pp, key)
            else:
                with self._attempt("decode", key) as work:
                    with self._decode_lock:
                        started = time.time()
                        if layout is not None:
                            hit, files = self._decode_features(pp, work, layout)
                        else:
                            hit, files = self._decode_video(pp, work)
                        hit.update(started=started, ended=time.time())
                    hit = self._finish("decode", key, work, hit, files)
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
        return Produced(record, output, digest, extra={"key": key,
                                                       "pruned": bool(hit.get("pruned"))})

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

    # ---- image sets: chunks of images, joined -----------------------------------------------
    def chunks(self, pp: "PlannedPoint") -> list[tuple[int, int]]:
        """[start, stop) ranges of the image set's items, one decode-chunk step each (none for
        a video, or a decoder that outputs features: those decode in one step)."""
        if pp.seq.kind != "images" or self.feature_layout(pp) is not None:
            return []
        n = len(pp.items or ())
        return [(i, min(i + self.chunk_size, n)) for i in range(0, n, self.chunk_size)]

    def chunk_key(self, pp: "PlannedPoint", start: int, stop: int) -> str:
        return hash_json({"step": "decode-chunk", "decode": self.decode_key(pp),
                          "items": list(pp.items[start:stop])})

    def decode_chunk(self, pp: "PlannedPoint", start: int, stop: int,
                     redo: bool = False) -> tuple[dict, bool]:
        """(record, cached) of images ``start:stop`` of an image set, decoded."""
        key = self.chunk_key(pp, start, stop)
        hit, cached = (None, False) if redo else self.lookup("decode-chunk", key)
        if hit is None:
            with self._attempt("decode-chunk", key) as work:
                with self._decode_lock:
                    started = time.time()
                    hit, files = self._decode_images(pp, work, start, stop)
                    hit.update(started=started, ended=time.time())
                hit = self._finish("decode-chunk", key, work, hit, files)
        return hit, cached

    def _decode_set(self, pp: "PlannedPoint", key: str) -> dict:
        """The decode step of an image set: its chunks (decoded now unless done) joined into one
        folder; the first failing chunk in order fails the set."""
        for _attempt in range(3):
            work = self.cache.workdir("decode", key)
            wall = cpu = peak = 0.0
            md5 = hashlib.md5()
            names: list[str] = []
            started, ended = [], []
            try:
                for start, stop in self.chunks(pp):
                    rec, _ = self.decode_chunk(pp, start, stop)
                    wall, cpu = wall + rec["wall_s"], cpu + rec["cpu_s"]
                    peak = max(peak, rec["peak_rss_mb"])
                    started.append(rec["started"])
                    ended.append(rec["ended"])
                    if rec["status"] != "ok":
                        return self._finish("decode", key, work, {
                            "status": rec["status"], "message": rec["message"], "wall_s": wall,
                            "cpu_s": cpu, "peak_rss_mb": peak, "log": rec["log"],
                            "started": min(started), "ended": max(ended)})
                    folder = self.cache.folder("decode-chunk", self.chunk_key(pp, start, stop))
                    for entry in rec["files"]:
                        _link(folder / entry["name"], work / entry["name"])
                        names.append(entry["name"])
                    for log in sorted((folder / "logs").glob("*.log")):
                        _link(log, work / "logs" / log.name)
                    for digest in rec["md5s"]:
                        md5.update(digest.encode())
            except BaseException as exc:
                shutil.rmtree(work, ignore_errors=True)
                if not isinstance(exc, FileNotFoundError):
                    raise
                # a chunk's files went away (another process joined the set and removed its
                # chunks): use that join, or decode the missing chunks again
                done = self.cache.get("decode", key)
                if done is not None:
                    return done
                with self._ran_lock:
                    for start, stop in self.chunks(pp):
                        self.ran.pop(("decode-chunk", self.chunk_key(pp, start, stop)), None)
                continue
            record = self._finish("decode", key, work, {
                "status": "ok", "message": f"decoded {len(names)} images in {wall:.3f} s",
                "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak, "md5": md5.hexdigest(),
                "items": len(names), "output": "decoded", "log": self._rel(work / "logs"),
                "started": min(started) if started else time.time(),
                "ended": max(ended) if ended else time.time()}, tuple(names))
            for start, stop in self.chunks(pp):   # joined: the chunks are no longer needed
                shutil.rmtree(self.cache.folder("decode-chunk", self.chunk_key(pp, start, stop)),
                              ignore_errors=True)
            return record
        raise OSError(f"cannot join the decoded images of {pp.seq.id} {pp.label}: their chunks "
                      "keep disappearing")

    def _decode_images(self, pp: "PlannedPoint", work: Path, start: int, stop: int
                       ) -> tuple[dict, tuple[str, ...]]:
        from vcmctc.runner import exit_status, fill_template, run_process

        seq = pp.seq
        out_dir = work / "decoded"
        out_dir.mkdir()
        side = {p.stem: p for p in pp.files.get("side-info", ())}
        wall = cpu = peak = 0.0
        md5s = []
        names = []
        for bitstream, item in list(zip(pp.files["bitstream"], pp.items))[start:stop]:
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
            md5s.append(_pixels_md5(output))
            names.append(f"decoded/{item}.png")
        return ({"status": "ok", "message": f"decoded {len(names)} images in {wall:.3f} s",
                 "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak, "md5s": md5s,
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
    def task_key(self, pp: "PlannedPoint", decoded_digest: str | None) -> str:
        spec = self.m.task
        what = {"step": "task", "programs": self.programs, "decoded": decoded_digest,
                "adapter": spec.adapter, "argv": spec.argv, "config": spec.config,
                "weights": spec.weights, "options": spec.options, "values": self.values(pp),
                "output_kind": self.family(pp.seq).output_kind, "vcmctc": __version__}
        layout = self.feature_layout(pp)
        if layout is not None:
            what.update(entry=spec.entry, split_point=layout.split.to_dict())
        return hash_json(what)

    def adapter(self):
        from vcmctc.adapters import from_spec

        with self._adapter_lock:
            if self._adapter is None:
                self._adapter = from_spec(self.m.task, self.m.root, self.contain)
            return self._adapter

    def task(self, pp: "PlannedPoint", decoded: Produced) -> Produced:
        from vcmctc.adapters import TaskRequest
        from vcmctc.media.yuv import YuvFormat

        seq, spec = pp.seq, self.m.task
        family = self.family(seq)
        key = self.task_key(pp, decoded.digest)
        hit, cached = self.lookup("task", key)
        if hit is None and decoded.extra.get("pruned"):
            # the decoded output was deleted after an earlier task run: decode it again
            again = self.decode(pp, redo=True)
            if again.path is None:
                return Produced(again.record)
            if again.digest != decoded.digest:
                return Produced(StepRecord(
                    status="failed", message=f"decoding {seq.id} {pp.label} again (its output "
                    "had been deleted to save disk) gave another output: the decoder is not "
                    "deterministic; run with --keep-decoded always"))
            decoded = again
        if hit is None:
            with self._attempt("task", key) as work:
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
                hit = self._finish("task", key, work, hit, _files_of(work, family.output_name)
                                   if run.status == "ok" else ())
        record = StepRecord(status=hit["status"], message=self.portable(hit.get("message")),
                            wall_s=hit.get("wall_s"), cpu_s=hit.get("cpu_s"),
                            peak_rss_mb=hit.get("peak_rss_mb"), log=hit.get("log"), cached=cached)
        self.on_step(f"task {seq.id} {pp.label}: {record.status}", cached)
        if record.status != "ok":
            return Produced(record)
        folder = self.cache.folder("task", key)
        return Produced(record, folder / hit["output"], _digest_of(hit, hit["output"]),
                        {"complexity": hit["complexity"]} if hit.get("complexity") else {})

    # ---- measuring ------------------------------------------------------------------------
    def measure(self, pp: "PlannedPoint", output: Path, output_digest: str | None = None
                ) -> Measured:
        """All statistics of the family for one task output; raises UserError for an output
        that cannot be scored (the caller records it as the point's status)."""
        seq = pp.seq
        family = self.family(seq)
        if output_digest is None:
            output_digest = (file_sha256(output) if output.is_file()
                             else tree_sha256(sorted(p for p in output.rglob("*") if p.is_file()),
                                              output))
        key = self.measure_key(pp, output_digest)
        hit, cached = self.lookup("measure", key)
        if hit is None:
            from vcmctc.submission.checks import output_problem

            problem = output_problem(family, seq, output, self.cache,
                                     digest=output_digest if output.is_file() else None)
            work = self.cache.workdir("measure", key)
            try:  # (the work folder is sealed below, or removed when the ground truth fails)
                if problem:
                    raise UserError(problem)
                gt = self.gts.load(seq, family)
                measurement = family.measure(seq, gt, output)
            except UserError as exc:
                if problem is None and not self.gts.loaded(seq):
                    shutil.rmtree(work, ignore_errors=True)
                    raise    # the ground truth could not be read: not this output's failure
                hit = self._finish("measure", key, work, {"status": "score-failed",
                                                          "message": str(exc)})
            else:
                save_state(work / "state.npz", measurement.state)
                hit = self._finish("measure", key, work, {"stats": measurement.stats},
                                   ("state.npz",))
        self.on_step(f"measure {seq.id} {pp.label}", cached)
        if hit.get("status", "ok") != "ok":
            raise UserError(hit["message"])
        state = self.cache.folder("measure", key) / "state.npz"
        return Measured(hit["stats"], state, Cache.file_digest(hit, "state.npz"), cached)

    def measure_key(self, pp: "PlannedPoint", output_digest: str) -> str:
        seq = pp.seq
        family = self.family(seq)
        gt_digest, _ = self.gts.files(seq, family)
        return hash_json({"step": "measure", "output": output_digest, "gt": gt_digest,
                          "metric": seq.metric, "settings": family.settings(seq),
                          "frames": [seq.skip, seq.frames, seq.first_frame],
                          "vcmctc": __version__})

    def pool(self, members: list[tuple["PlannedPoint", Measured]]) -> dict[str, Any]:
        """Statistics of one pooled class point from its members' states (cached)."""
        seq = members[0][0].seq
        family = self.family(seq)
        key = hash_json({"step": "pool", "states": [m.state_digest for _, m in members],
                         "settings": [family.settings(pp.seq) for pp, _ in members],
                         "vcmctc": __version__})
        hit = self.cache.get("pool", key)
        if hit is None:
            parts = [(pp.seq, self.gts.load(pp.seq, family) if family.pool_needs_gt else None,
                      load_state(m.state)) for pp, m in members]
            stats = family.pool(parts)
            work = self.cache.workdir("pool", key)
            hit = self.cache.put("pool", key, {"stats": stats}, work=work)
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
    """Remove what a failed step wrote, but its logs (sealed with the failure)."""
    for path in sorted(work.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink() or path.is_file():
            if path.suffix != ".log":
                path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _link(src: Path, dst: Path) -> None:
    """``dst`` the same file as ``src`` (a hard link; a copy across file systems)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copy2(src, dst)


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
