"""The ``detectron2`` adapter: run a detectron2 predictor on each decoded frame, in-process.

Optional: needs PyTorch and detectron2 (``pip install 'vcmctc[detectron2]'``, then detectron2
from https://github.com/facebookresearch/detectron2). Nothing here imports them until a
predictor is built, and the predictor is injectable (``predictor_factory``) so the conversion
code is tested without them.

``Detectron2SplitAdapter`` (``detectron2-split``) is the FCM counterpart: part 2 of the R-CNN
run on decoded FPN features (see :class:`RcnnPart2`).

Frames are read from the YUV with :class:`~vcmctc.media.yuv.YuvReader`, converted to BGR with
:func:`~vcmctc.media.yuv.to_bgr` (the colour matrix and range are options: use what the CTC
edition says) and given to the predictor one at a time. Its ``Instances`` become COCO results:
boxes XYXY -> XYWH, contiguous classes 0..79 -> COCO ids, masks -> RLE (segmentation only),
``image_id`` = ``first_frame + i``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vcmctc.adapters import TaskRequest, TaskRun, finish_run, remove_stale
from vcmctc.adapters.inprocess import run_frames
from vcmctc.adapters.torch import TorchAdapter
from vcmctc.errors import UserError
from vcmctc.media.yuv import YuvReader, to_bgr

INSTALL_HINT = ("the detectron2 task adapter needs PyTorch and detectron2: run "
                "pip install 'vcmctc[detectron2]', then install detectron2 from its repository "
                "(https://github.com/facebookresearch/detectron2)")

Predictor = Callable[[np.ndarray], Mapping[str, Any]]


class ModelMismatch(UserError):
    """The model does not fit the task (no masks, classes outside the category map): a
    configuration error, the same at every rate point, so it is raised, not a status."""


def import_detectron2():
    """``(get_cfg, DefaultPredictor)``, or a UserError saying how to install detectron2."""
    try:
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultPredictor
    except ImportError as exc:
        raise UserError(f"{INSTALL_HINT} ({exc})") from None
    return get_cfg, DefaultPredictor


def build_predictor(*, config_file: str, weights: str, device: str | None = None,
                    score_threshold: float | None = None, opts: Sequence[str] = ()) -> Predictor:
    """A detectron2 ``DefaultPredictor`` from a config file and weights (path or URL).

    ``opts`` are extra ``KEY VALUE`` config overrides; ``device`` sets ``MODEL.DEVICE`` and
    ``score_threshold`` ``MODEL.ROI_HEADS.SCORE_THRESH_TEST`` when given.
    """
    get_cfg, DefaultPredictor = import_detectron2()
    cfg = get_cfg()
    cfg.merge_from_file(str(config_file))
    if opts:
        cfg.merge_from_list(list(opts))
    cfg.MODEL.WEIGHTS = str(weights)
    if device is not None:
        cfg.MODEL.DEVICE = device
    if score_threshold is not None:
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = float(score_threshold)
    cfg.freeze()
    return DefaultPredictor(cfg)


def _numpy(value: Any) -> np.ndarray:
    """A torch tensor (on any device) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _has(instances: Any, field: str) -> bool:
    if hasattr(instances, "has"):
        return bool(instances.has(field))
    return hasattr(instances, field)


def instances_to_coco(instances: Any, image_id: int, *, category_map: Mapping[int, int],
                      with_masks: bool) -> list[dict]:
    """COCO result dicts for one frame's detectron2 ``Instances``.

    Uses ``pred_boxes.tensor`` (XYXY, absolute pixels), ``scores``, ``pred_classes`` (mapped
    through ``category_map``) and, if ``with_masks``, ``pred_masks`` (N x H x W) encoded as
    COCO RLE. Widths and heights are computed in the boxes' own dtype (float32 for detectron2),
    as detectron2's own COCO export does.
    """
    if hasattr(instances, "to"):
        instances = instances.to("cpu")
    boxes = _numpy(instances.pred_boxes.tensor).reshape(-1, 4)
    scores = _numpy(instances.scores).reshape(-1)
    classes = _numpy(instances.pred_classes).reshape(-1)
    n = len(boxes)
    if len(scores) != n or len(classes) != n:
        raise ValueError(f"{n} boxes but {len(scores)} scores and {len(classes)} classes")
    xywh = boxes.copy()
    xywh[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    rles = None
    if with_masks:
        if not _has(instances, "pred_masks"):
            raise ModelMismatch("instance segmentation needs a model that predicts masks "
                            "(pred_masks); use a Mask R-CNN config")
        from pycocotools import mask as mask_util

        masks = _numpy(instances.pred_masks).astype(np.uint8)
        if masks.shape[0] != n:
            raise ValueError(f"{n} boxes but {masks.shape[0]} masks")
        rles = []
        for m in masks:
            rle = mask_util.encode(np.asfortranarray(m[:, :, None]))[0]
            rle["counts"] = rle["counts"].decode("ascii")
            rles.append(rle)
    results = []
    for k, (box, score, cls) in enumerate(zip(xywh.tolist(), scores.tolist(), classes.tolist())):
        if cls not in category_map:
            raise ModelMismatch(f"the model predicted class index {cls}, which the category map "
                            f"does not cover (it maps {min(category_map)}..{max(category_map)})")
        det = {"image_id": int(image_id), "category_id": int(category_map[cls]),
               "bbox": [float(v) for v in box], "score": float(score)}
        if rles is not None:
            det["segmentation"] = rles[k]
        results.append(det)
    return results


class Detectron2Adapter:
    """Run a detectron2 model on every decoded frame and write COCO results.

    ``config_file``: detectron2 YAML config; ``weights``: model file or URL; ``device``,
    ``score_threshold``, ``opts``: see :func:`build_predictor`; ``matrix``/``full_range``: YUV
    to RGB conversion (:func:`~vcmctc.media.yuv.to_rgb`); ``category_map``: model class index ->
    COCO category id (default: the standard COCO-80 map); ``predictor_factory``: called once
    with the keyword arguments of :func:`build_predictor` to make the predictor (default: that
    function). The predictor is built on the first run and reused.

    Runs in-process: ``wall_s`` is elapsed time, ``cpu_s`` the CPU time of the whole vcmctc
    process (all threads) meanwhile, and the timeout is checked between frames.
    """

    def __init__(self, config_file: str | os.PathLike, weights: str | os.PathLike, *,
                 device: str | None = None, score_threshold: float | None = None,
                 opts: Sequence[str] = (), matrix: str = "bt709", full_range: bool = False,
                 category_map: Mapping[int, int] | None = None,
                 predictor_factory: Callable[..., Predictor] | None = None):
        if not Path(config_file).is_file():
            raise UserError("detectron2 config file not found", file=config_file)
        if "://" not in str(weights) and not Path(weights).is_file():
            raise UserError("detectron2 weights file not found", file=weights)
        if len(opts) % 2:
            raise UserError(f"detectron2 opts must be KEY VALUE pairs, got {list(opts)!r}")
        if category_map is None:
            from vcmctc.datasets.coco import CONTIGUOUS_TO_COCO_ID as category_map
        self.config_file = str(config_file)
        self.weights = str(weights)
        self.device = device
        self.score_threshold = score_threshold
        self.opts = tuple(str(o) for o in opts)
        self.matrix = matrix
        self.full_range = full_range
        self.category_map = dict(category_map)
        self._factory = predictor_factory or build_predictor
        self._predictor: Predictor | None = None

    @property
    def predictor(self) -> Predictor:
        if self._predictor is None:
            self._predictor = self._factory(config_file=self.config_file, weights=self.weights,
                                            device=self.device,
                                            score_threshold=self.score_threshold,
                                            opts=self.opts)
        return self._predictor

    def run(self, request: TaskRequest) -> TaskRun:
        if request.task not in ("object-detection", "instance-segmentation"):
            raise UserError(f"the detectron2 adapter writes COCO results for object-detection "
                            f"and instance-segmentation, not {request.task}")
        if request.decoded is None:
            raise UserError(f"{request.label}: the detectron2 adapter needs a decoded YUV file")
        predictor = self.predictor  # configuration errors (UserError) stop here, before timing
        with_masks = request.task == "instance-segmentation"
        request.output.parent.mkdir(parents=True, exist_ok=True)
        request.log.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(request.output)
        results: list[dict] = []

        def step(frame: tuple[int, tuple]) -> None:
            i, (y, u, v) = frame
            outputs = predictor(to_bgr(y, u, v, request.fmt, self.matrix, self.full_range))
            results.extend(instances_to_coco(
                outputs["instances"], request.first_frame + i,
                category_map=self.category_map, with_masks=with_masks))

        with open(request.log, "w", encoding="utf-8") as log:
            log.write(f"detectron2 config {self.config_file}, weights {self.weights}, "
                      f"{request.task}, {request.frames} frames from {request.decoded}\n")

            def frames():
                with YuvReader(request.decoded, request.fmt, frames=request.frames) as reader:
                    yield from enumerate(reader)

            loop = run_frames(request, frames(), step, what="detectron2", log=log,
                              reraise=(ModelMismatch,))
            status, message, done, wall, cpu = (loop.status, loop.message, loop.done,
                                                loop.wall_s, loop.cpu_s)
            log.write(f"{done} frames, {len(results)} detections, {wall:.3f} s\n")
        if status == "ok":
            tmp = request.output.with_name(request.output.name + ".part")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(results, fh)
            os.replace(tmp, request.output)
            message = (f"{request.label}: detectron2 wrote {len(results)} detections for "
                       f"{done} frames in {wall:.3f} s")
        return finish_run(request, status=status, message=message, wall_s=wall, cpu_s=cpu,
                          log=request.log)


# --------------------------------------------------------------------------------------------
# split inference (FCM): part 2 of an R-CNN fed with decoded FPN features


class _ImageSizes:
    """What detectron2's RPN and ROI heads read of their ``images`` argument in split
    inference: the network input sizes (resized, before padding). CompressAI-Vision passes the
    same stand-in (``compressai_vision/model_wrappers/detectron2.py``, 31165da)."""

    def __init__(self, sizes: list[tuple[int, int]]):
        self.image_sizes = sizes


def build_rcnn_model(*, config_file: str, weights: str, device: str = "cpu",
                     score_threshold: float | None = None, opts: Sequence[str] = ()):
    """A detectron2 ``GeneralizedRCNN`` (built from a config file, weights loaded, eval mode)."""
    try:
        from detectron2.checkpoint import DetectionCheckpointer
        from detectron2.config import get_cfg
        from detectron2.modeling import build_model
    except ImportError as exc:
        raise UserError(f"{INSTALL_HINT} ({exc})") from None
    cfg = get_cfg()
    cfg.merge_from_file(str(config_file))
    if opts:
        cfg.merge_from_list(list(opts))
    cfg.MODEL.DEVICE = device
    if score_threshold is not None:
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = float(score_threshold)
    cfg.freeze()
    model = build_model(cfg)
    DetectionCheckpointer(model).load(str(weights))
    return model.eval()


class RcnnPart2:
    """Part 2 of a detectron2 R-CNN split at the FPN: decoded ``p2..p5`` in, COCO results out.

    As CompressAI-Vision's ``_feature_pyramid_to_output`` (31165da) does: ``p6`` is the FPN top
    block applied to ``p5``; the RPN and the ROI heads run on ``p2..p6`` with the network input
    size of the frame; detectron2's ``_postprocess`` scales the instances back to the original
    frame size. Instances become COCO results with :func:`instances_to_coco` (masks for
    instance segmentation)."""

    LEVELS = ("p2", "p3", "p4", "p5")

    def __init__(self, model, category_map: Mapping[int, int]):
        self.model = model
        self.category_map = dict(category_map)

    def __call__(self, features: Mapping[str, Any], frame) -> list[dict]:
        if frame.width is None or frame.input_size is None:
            raise UserError("the detectron2 split adapter needs the frame size to scale "
                            "detections back: the edition gives none for this sequence")
        model = self.model
        x = {name: features[name] for name in self.LEVELS}
        x["p6"] = model.backbone.top_block(x["p5"])[0]
        images = _ImageSizes([tuple(frame.input_size)])
        proposals, _ = model.proposal_generator(images, x, None)
        results, _ = model.roi_heads(images, x, proposals, None)
        processed = model._postprocess(results, [{"height": frame.height, "width": frame.width}],
                                       images.image_sizes)
        return instances_to_coco(processed[0]["instances"], frame.frame_id,
                                 category_map=self.category_map,
                                 with_masks=frame.task == "instance-segmentation")


def build_rcnn_part2(*, weights: str, device: str = "cpu", config_file: str,
                     score_threshold: float | None = None, opts: Sequence[str] = (),
                     category_map: Mapping[int, int] | None = None,
                     model_factory: Callable[..., Any] | None = None) -> RcnnPart2:
    """The part-2 builder of the ``detectron2-split`` adapter (a ``torch`` adapter entry point):
    ``model_factory`` (default :func:`build_rcnn_model`) makes the R-CNN."""
    if category_map is None:
        from vcmctc.datasets.coco import CONTIGUOUS_TO_COCO_ID as category_map
    model = (model_factory or build_rcnn_model)(config_file=str(config_file), weights=weights,
                                                device=device, score_threshold=score_threshold,
                                                opts=tuple(opts))
    return RcnnPart2(model, category_map)


class Detectron2SplitAdapter(TorchAdapter):
    """``detectron2-split``: the torch adapter with :func:`build_rcnn_part2` as its entry point.

    ``config_file``/``weights``: the detectron2 model (Faster or Mask R-CNN with an FPN);
    ``device``, ``score_threshold``, ``opts``: as :func:`build_predictor`; ``category_map``:
    model class index -> COCO id; ``model_factory``: makes the model (tests inject a double)."""

    def __init__(self, config_file: str | os.PathLike, weights: str | os.PathLike, *,
                 device: str = "cpu", score_threshold: float | None = None,
                 opts: Sequence[str] = (), category_map: Mapping[int, int] | None = None,
                 model_factory: Callable[..., Any] | None = None,
                 measure_complexity: bool = True):
        if not Path(config_file).is_file():
            raise UserError("detectron2 config file not found", file=config_file)
        if len(opts) % 2:
            raise UserError(f"detectron2 opts must be KEY VALUE pairs, got {list(opts)!r}")
        super().__init__(build_rcnn_part2, weights=weights, device=device,
                         measure_complexity=measure_complexity,
                         options={"config_file": str(config_file),
                                  "score_threshold": score_threshold, "opts": tuple(opts),
                                  "category_map": category_map, "model_factory": model_factory})
