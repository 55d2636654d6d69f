"""The ``torch`` adapter: part 2 of a split task network (FCM), run in-process on decoded features.

Optional: needs PyTorch (``pip install 'vcmctc[torch]'``; CPU build: ``pip install
torch==2.13.0`` where a local wheel is offered, else PyTorch's CPU index). Nothing imports torch
until a rate point runs.

The manifest names a Python entry point that builds part 2::

    task:
      adapter: torch
      entry: mynet.split:build_part2     # module:callable; the submission folder is importable
      weights: models/part2.pt           # optional, passed on as a path
      options: {device: cpu, threshold: 0.3}   # device: cpu (default), cuda, cuda:1...

``build_part2(weights=<path or None>, device=<str>, **options)`` returns ``part2``, called once
per decoded frame (or image) in order::

    part2(features: dict[str, torch.Tensor], frame: FrameInfo) -> list[dict]

``features`` maps every tensor name of the split point to a float32 tensor ``1 x C x H x W`` on
the device; :class:`FrameInfo` says which frame it is, the original frame size and the network
input size. The dicts are the frame's results in the task family's terms, written by vcmctc:

- COCO families (detection, segmentation, keypoints): ``{"category_id", "bbox": [x, y, w, h],
  "score"}`` (+ ``"segmentation"`` RLE / ``"keypoints"``), pixels of the original frame;
  ``image_id`` is set to :attr:`FrameInfo.frame_id`;
- tracking: ``{"id", "bbox": [x, y, w, h], "score"}`` -> MOTChallenge lines of frame
  :attr:`FrameInfo.frame_id`;
- Open Images: ``{"LabelName", "Score", "XMin", "XMax", "YMin", "YMax"}`` (normalised) ->
  prediction rows of the image.

Optional methods of ``part2``: ``reset()`` (called before each rate point) and ``finish()``
(called after the last frame; returns more result dicts, each with its own ``frame_id``).

The part-2 complexity is measured on the first frame with PyTorch's FLOP counter
(:mod:`vcmctc.features.complexity`) and reported as ``nn_part2`` kMAC/pixel, as
CompressAI-Vision measures it once per sequence. ``wall_s`` is elapsed time, ``cpu_s`` the CPU
time of the vcmctc process meanwhile; the timeout is checked between frames.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from vcmctc.adapters import TaskRequest, TaskRun, finish_run, remove_stale
from vcmctc.adapters.inprocess import run_frames
from vcmctc.errors import UserError

INSTALL_HINT = ("the torch task adapter needs PyTorch: run pip install 'vcmctc[torch]' (a CPU "
                "build: pip install torch==2.13.0 where a local wheel is offered, else "
                "pip install torch --index-url https://download.pytorch.org/whl/cpu)")
WRITES = ("coco-results-json", "mot-txt", "oid-predictions")
_import_lock = threading.Lock()


@dataclass(frozen=True)
class FrameInfo:
    """Which frame part 2 is given. ``frame_id``: the COCO ``image_id`` / MOT frame number
    (``first_frame + index``) of a video frame, the image id of an image of a set;
    ``width``/``height``: the original frame size (None for images of varied sizes);
    ``input_size``: ``(height, width)`` of the network input after resizing, before padding
    (None when the frame size is unknown)."""

    index: int
    frame_id: int | str
    width: int | None
    height: int | None
    input_size: tuple[int, int] | None
    task: str
    sequence: str


def require_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        raise UserError(INSTALL_HINT)


def resolve_entry(entry: str, root: Path | None = None) -> Callable[..., Any]:
    """The callable named ``module:attr`` (``root`` is put on ``sys.path`` first, so modules
    shipped in the submission import)."""
    module, sep, attr = entry.partition(":")
    if not sep or not module or not attr:
        raise UserError(f"task entry {entry!r}: expected 'module:callable'")
    with _import_lock:
        if root is not None and str(root) not in sys.path:
            sys.path.insert(0, str(root))
        try:
            obj: Any = importlib.import_module(module)
        except ImportError as exc:
            raise UserError(f"task entry {entry!r}: cannot import {module} ({exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"task entry {entry!r}: {module} has no {attr}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserError(f"task entry {entry!r} is not callable")
    return obj


def spec_options(spec, root: Path) -> dict[str, Any]:
    """Keyword arguments of :class:`TorchAdapter` (or the detectron2 split adapter) from a
    manifest's ``task`` section; paths are relative to the submission ``root``."""
    options = dict(spec.options)
    device = str(options.pop("device", "cpu"))
    if spec.adapter == "detectron2-split":
        if not spec.config or not spec.weights:
            raise UserError("the detectron2-split adapter needs 'config' and 'weights'")
        return {"config_file": root / spec.config, "weights": root / spec.weights,
                "device": device, **options}
    if not spec.entry:
        raise UserError("the torch adapter needs 'entry: module:callable' (the function that "
                        "builds part 2 of the network)")
    return {"entry": spec.entry, "root": root, "device": device,
            "weights": root / spec.weights if spec.weights else None, "options": options}


class TorchAdapter:
    """Run part 2 of a split network on every decoded frame (see the module docstring).

    ``entry``: ``"module:callable"`` or the callable itself; ``root``: a folder importable
    modules live in (the submission); ``weights``: passed to the builder; ``device``: torch
    device; ``options``: more keyword arguments of the builder; ``measure_complexity``: count
    part 2's MACs on the first frame."""

    def __init__(self, entry: str | Callable[..., Any], *, root: str | os.PathLike | None = None,
                 weights: str | os.PathLike | None = None, device: str = "cpu",
                 options: Mapping[str, Any] | None = None, measure_complexity: bool = True):
        require_torch()
        if isinstance(entry, str):   # imported now, so validate names a bad entry point
            self._build = resolve_entry(entry, Path(root) if root is not None else None)
        elif callable(entry):
            self._build = entry
        else:
            raise UserError(f"task entry {entry!r} is not callable")
        if weights is not None and "://" not in str(weights) and not Path(weights).is_file():
            raise UserError("part-2 weights file not found", file=weights)
        self.entry = entry
        self.root = Path(root) if root is not None else None
        self.weights = str(weights) if weights is not None else None
        self.device = device
        self.options = dict(options or {})
        self.measure_complexity = measure_complexity
        self._part2 = None
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()

    @property
    def part2(self) -> Callable[..., Any]:
        with self._lock:
            if self._part2 is None:
                self._part2 = self._build(weights=self.weights, device=self.device,
                                          **self.options)
            return self._part2

    # ---- inputs -------------------------------------------------------------------------
    @staticmethod
    def _sources(request: TaskRequest) -> list[tuple[Path, int | str | None]]:
        """(feature file, image id) per file: one file for a video, one per image of a set."""
        path = request.decoded
        if path is None:
            raise UserError(f"{request.label}: the torch adapter needs decoded features")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix == ".npz")
            return [(p, p.stem) for p in files]
        return [(path, None)]

    def _frames(self, request: TaskRequest) -> Iterator[tuple[dict[str, np.ndarray], FrameInfo]]:
        from vcmctc.features.store import FeatureFile

        layout = request.features
        names = layout.split.names
        size = layout.frame_size
        input_size = layout.split.input.resized(*size) if size else None
        index = 0
        for path, item in self._sources(request):
            with FeatureFile(path) as ff:
                for k, frame in enumerate(ff.frames(names)):
                    frame_id = item if item is not None else request.first_frame + k
                    yield frame, FrameInfo(index, frame_id, size[0] if size else None,
                                           size[1] if size else None, input_size,
                                           request.task, request.sequence)
                    index += 1

    def _input_elements(self, request: TaskRequest, frame: dict[str, np.ndarray]) -> int:
        layout = request.features
        if layout.frame_size:
            return layout.split.input_elements(*layout.frame_size)
        first = layout.split.tensors[0]   # images of varied sizes: the padded input of this one
        _, h, w = frame[first.name].shape
        return layout.split.input.channels * h * first.stride * w * first.stride

    # ---- running ------------------------------------------------------------------------
    def run(self, request: TaskRequest) -> TaskRun:
        """Part 2 on every decoded frame of one rate point. Rate points run one at a time on
        one adapter (part 2 may keep state across frames: a tracker)."""
        with self._run_lock:
            return self._run(request)

    def _run(self, request: TaskRequest) -> TaskRun:
        import torch

        from vcmctc.features.complexity import count_macs, kmac_per_pixel
        from vcmctc.features.store import FeatureFileError

        if request.features is None:
            raise UserError(f"{request.label}: the torch adapter runs part 2 of a split network "
                            "on decoded features; set the decoder's 'output: features'")
        if request.output_kind not in WRITES:
            raise UserError(f"the torch adapter writes {', '.join(WRITES)}, not "
                            f"{request.output_kind}")
        part2 = self.part2   # configuration errors (UserError) stop here, before timing
        if hasattr(part2, "reset"):
            part2.reset()
        request.output.parent.mkdir(parents=True, exist_ok=True)
        request.log.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(request.output)
        rows: list[tuple[int | str, dict]] = []
        complexity: dict[str, float] = {}

        def step(item) -> None:
            frame, info = item
            tensors = {n: torch.from_numpy(np.array(a, dtype=np.float32)).unsqueeze(0)
                       .to(self.device) for n, a in frame.items()}
            if info.index == 0 and self.measure_complexity:
                out, macs = count_macs(part2, tensors, info)
                complexity["nn_part2"] = kmac_per_pixel(macs, self._input_elements(request,
                                                                                   frame))
                log.write(f"part 2: {macs} MACs on frame 0\n")
            else:
                out = part2(tensors, info)
            rows.extend((info.frame_id, r) for r in _results(out, info))

        def finish() -> list:
            return [(r.get("frame_id"), r) for r in _results(part2.finish(), None)]

        with open(request.log, "w", encoding="utf-8") as log, torch.no_grad():
            log.write(f"torch part 2 {self.entry!r} on {self.device}, {request.task}, "
                      f"{request.frames} frame(s) from {request.decoded}\n")
            loop = run_frames(request, self._frames(request), step, what="part 2", log=log,
                              failures=(FeatureFileError,))
            if loop.status == "ok" and hasattr(part2, "finish"):
                try:
                    rows.extend(finish())
                except Exception as exc:   # as a crash in a frame: the rate point's status
                    loop.status, loop.message = "failed", (f"{request.label}: part 2 finish() "
                                                           f"failed: {type(exc).__name__}: {exc}")
                    log.write(traceback.format_exc())
            if loop.status == "ok" and loop.done != request.frames:
                loop.status, loop.message = "failed", (f"{request.label}: {loop.done} decoded "
                                                       f"frame(s), expected {request.frames}")
            status, message, done, wall = loop.status, loop.message, loop.done, loop.wall_s
            log.write(f"{done} frame(s), {len(rows)} result(s), {wall:.3f} s\n")
        if status == "ok":
            try:
                _write(request, rows)
            except (KeyError, TypeError, ValueError) as exc:
                status, message = "bad-output", (f"{request.label}: part 2 returned a result "
                                                 f"vcmctc cannot write: {exc}")
            else:
                message = (f"{request.label}: part 2 wrote {len(rows)} result(s) for {done} "
                           f"frame(s) in {wall:.3f} s")
        return finish_run(request, status=status, message=message, wall_s=wall,
                          cpu_s=loop.cpu_s, log=request.log,
                          complexity=complexity if status == "ok" and complexity else None)


def _results(out: Any, info: FrameInfo | None) -> list[dict]:
    if out is None:
        return []
    if not isinstance(out, (list, tuple)) or not all(isinstance(r, Mapping) for r in out):
        where = f"frame {info.index}" if info is not None else "finish()"
        raise TypeError(f"part 2 must return a list of dicts ({where} gave "
                        f"{type(out).__name__})")
    return [dict(r) for r in out]


def _num(value: Any) -> float:
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


def _write(request: TaskRequest, rows: list[tuple[int | str, dict]]) -> None:
    tmp = request.output.with_name(request.output.name + ".part")
    kind = request.output_kind
    if kind == "coco-results-json":
        out = []
        for frame_id, r in rows:
            det = {"image_id": int(frame_id), "category_id": int(r["category_id"]),
                   "score": _num(r["score"])}
            if "bbox" in r:
                det["bbox"] = [_num(v) for v in r["bbox"]]
            for extra in ("segmentation", "keypoints", "area"):
                if extra in r:
                    det[extra] = r[extra]
            out.append(det)
        tmp.write_text(json.dumps(out), encoding="utf-8")
    elif kind == "mot-txt":
        lines = []
        for frame_id, r in sorted(rows, key=lambda fr: (int(fr[0]), int(fr[1]["id"]))):
            x, y, w, h = (_num(v) for v in r["bbox"])
            lines.append(f"{int(frame_id)},{int(r['id'])},{x!r},{y!r},{w!r},{h!r},"
                         f"{_num(r.get('score', 1.0))!r},-1,-1,-1")
        tmp.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    else:   # oid-predictions
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["ImageID", "LabelName", "Score", "XMin", "XMax", "YMin", "YMax"])
            for item, r in rows:
                writer.writerow([item, r["LabelName"], repr(_num(r["Score"]))]
                                + [repr(_num(r[k])) for k in ("XMin", "XMax", "YMin", "YMax")])
    os.replace(tmp, request.output)
