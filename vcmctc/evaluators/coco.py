"""COCO mAP by driving the reference evaluator (pycocotools) or faster-coco-eval.

vcmctc does not re-implement COCOeval: it feeds the neutral COCO structure (see
:mod:`vcmctc.datasets.coco`) to a backend, silences the backend's progress printing and returns
the summary statistics on a 0-100 scale under stable names. Statistics that COCOeval leaves
undefined (it reports -1, e.g. APs when no GT box is small) are NaN, never -100.

FCM class rows are computed on pooled data (:func:`pool_sequences`): one evaluation over the GT
and detections of all sequences of the class, with image ids kept distinct, as the public
reference scripts do; never a mean of per-sequence APs.

The ``vcmctc`` backend (the default) computes pycocotools' per-image records itself, as a
per-sequence state (:func:`coco_state`), and accumulates them like pycocotools before running
pycocotools' own ``summarize``: the statistics are pycocotools' to the bit (tested on generated
cases, ties and crowds included), and a class row pools its sequences' states
(:func:`coco_pool`) without re-reading or re-evaluating them. faster-coco-eval agrees to about
1e-14 only (its C++ accumulation sums in another order) and keeps no per-image records.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from vcmctc.errors import UserError
from vcmctc.registry import Registry

if TYPE_CHECKING:
    from vcmctc.evaluators._cocostate import CocoState

IOU_TYPES = ("bbox", "segm", "keypoints")

#: names of COCOeval's 12 box / mask summary statistics, in COCOeval's order
DETECTION_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl",
                   "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
#: names of COCOeval's 10 keypoint summary statistics, in COCOeval's order
KEYPOINT_STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")

# A backend is ``run(gt, dets, iou_type) -> sequence of raw COCOeval stats (0-1, -1 undefined)``.
# It receives private copies and may mutate them (both libraries annotate dicts in place).
COCO_BACKENDS: Registry[Callable[[dict, list, str], Sequence[float]]] = Registry("COCO backend")
COCO_BACKENDS.register("pycocotools", "vcmctc.evaluators.coco:_run_pycocotools")
COCO_BACKENDS.register("faster-coco-eval", "vcmctc.evaluators.coco:_run_faster_coco_eval")
COCO_BACKENDS.register("vcmctc", "vcmctc.evaluators.coco:_run_vcmctc")

#: the backend every command uses unless told otherwise (bit-identical to pycocotools)
DEFAULT_BACKEND = "vcmctc"

# "vcmctc" computes pycocotools' per-image records itself (boxes) or from pycocotools' IoUs
# (segm, keypoints) and accumulates / summarises like pycocotools: its version is pycocotools'.
_DISTRIBUTIONS = {"pycocotools": "pycocotools", "faster-coco-eval": "faster-coco-eval",
                  "vcmctc": "pycocotools"}


def stat_names(iou_type: str) -> tuple[str, ...]:
    """Names of the summary statistics for ``iou_type``, in COCOeval order."""
    _check_iou_type(iou_type)
    return KEYPOINT_STATS if iou_type == "keypoints" else DETECTION_STATS


@lru_cache(maxsize=None)
def backend_version(backend: str) -> str:
    """Installed version of a backend's package, for result signatures (looked up once per
    process: every measure and pool step key asks for it).

    ``vcmctc`` reports ``vcmctc <version> (pycocotools <version>)``: its numbers are those of
    that pycocotools (whose IoU / OKS code and ``summarize`` it also runs for segm / keypoints).
    """
    from importlib import metadata

    COCO_BACKENDS.check(backend)
    try:
        if backend == "vcmctc":
            from vcmctc import __version__

            return f"{__version__} (pycocotools {metadata.version('pycocotools')})"
        return metadata.version(_DISTRIBUTIONS[backend])
    except metadata.PackageNotFoundError:
        raise UserError(f"COCO backend {backend!r} is not installed "
                        f"(pip install {_DISTRIBUTIONS[backend]})") from None


def evaluate_coco(gt: Mapping, dets: Sequence[Mapping], iou_type: str = "bbox",
                  backend: str = DEFAULT_BACKEND) -> dict[str, float]:
    """COCO summary statistics of ``dets`` against ``gt``, on a 0-100 scale (NaN = undefined).

    ``gt`` is a COCO dict, ``dets`` a COCO results list (both as checked by the loaders of
    :mod:`vcmctc.datasets.coco`). Neither is modified. No detections at all is allowed: every
    category with GT then scores 0 (pycocotools' own ``loadRes`` cannot take an empty list).
    With the ``vcmctc`` backend this is ``coco_finalize(coco_state(gt, dets, iou_type))``.
    """
    _check_iou_type(iou_type)
    run = COCO_BACKENDS.get(backend)
    _check_image_ids(gt, dets)
    if backend == "vcmctc":
        return coco_finalize(coco_state(gt, dets, iou_type, backend))
    raw = run(*_private_copies(gt, dets), iou_type)
    names = stat_names(iou_type)
    return {name: _scale(float(value)) for name, value in zip(names, raw)}


def _check_image_ids(gt: Mapping, dets: Sequence[Mapping]) -> None:
    image_ids = {img["id"] for img in gt["images"]}
    if not {det["image_id"] for det in dets} <= image_ids:
        i, det = next((i, d) for i, d in enumerate(dets) if d["image_id"] not in image_ids)
        raise UserError(f"image_id {det['image_id']!r} is not a ground-truth image",
                        where=f"results[{i}]")


def _private_copies(gt: Mapping, dets: Sequence[Mapping]) -> tuple[dict, list]:
    """Copies the libraries may annotate in place (they add 'area', 'id', 'ignore'...)."""
    gt_copy = {k: v for k, v in gt.items() if k not in ("images", "annotations", "categories")}
    for key in ("images", "annotations", "categories"):
        gt_copy[key] = [dict(entry) for entry in gt[key]]
    return gt_copy, [dict(d) for d in dets]


# --------------------------------------------------------------------------------------------
# per-sequence state: a pooled class row without re-reading or re-evaluating its sequences

def coco_state(gt: Mapping, dets: Sequence[Mapping], iou_type: str = "bbox",
               backend: str = DEFAULT_BACKEND) -> "CocoState":
    """The per-image evaluation records of one sequence, as pycocotools' ``evaluate`` makes them.

    The state holds, per detection kept by ``evaluate`` (best ``maxDets[-1]`` per image and
    category), its category, image, rank, score and its matched / ignored flags per (area
    range, IoU threshold), and per (category, area range) the number of GT not ignored; see
    :mod:`vcmctc.evaluators._cocostate`. ``coco_finalize(state)`` equals ``evaluate_coco`` and
    ``coco_pool(states)`` equals ``evaluate_coco_pooled`` (bit for bit with pycocotools).
    ``state.to_arrays()`` / :func:`save_coco_state` give plain arrays (``allow_pickle=False``).

    Backends: ``vcmctc`` (boxes: vectorised numpy, no pycocotools; segm / keypoints:
    pycocotools' IoU / OKS and a vectorised matching) or ``pycocotools`` (its own ``evaluate``,
    records read off ``evalImgs``: slow, the reference). faster-coco-eval keeps its per-image
    records inside C++ and cannot give a state.
    """
    from vcmctc.evaluators import _cocostate as cs

    _check_iou_type(iou_type)
    COCO_BACKENDS.check(backend)
    if backend == "faster-coco-eval":
        raise UserError("the faster-coco-eval backend keeps its per-image records in C++ and "
                        "cannot give a per-sequence state; use vcmctc (same numbers as "
                        "pycocotools) or pycocotools")
    _check_image_ids(gt, dets)
    if backend == "vcmctc" and iou_type == "bbox":
        return cs.bbox_records(gt, dets)
    import numpy as np

    gt_copy, det_copy = _private_copies(gt, dets)
    cat_ids = {c["id"] for c in gt["categories"]}
    dropped = np.unique(np.asarray([d["category_id"] for d in dets
                                    if d["category_id"] not in cat_ids], dtype=np.int64))
    ev = _pycocotools_eval(gt_copy, det_copy, iou_type)
    with _silenced():
        if backend == "pycocotools":
            ev.evaluate()
            return cs.records_from_cocoeval(ev, gt, cs.loadres_branch(dets), dropped)
        cs._setup(ev)
        return cs.records_from_ious(ev, gt, cs.loadres_branch(dets), dropped)


def coco_finalize(state: "CocoState") -> dict[str, float]:
    """Summary statistics of one state (0-100, NaN undefined): pycocotools' ``accumulate``
    (re-done on the state's arrays with its operations) and its own ``summarize``."""
    raw = _summarize_state(state)
    return {name: _scale(float(v)) for name, v in zip(stat_names(state.iou_type), raw)}


def _summarize_state(state: "CocoState") -> Sequence[float]:
    from pycocotools.cocoeval import COCOeval

    from vcmctc.evaluators import _cocostate as cs

    ev = COCOeval(iouType=state.iou_type)
    precision, recall = cs.accumulate(state, ev.params.recThrs)
    ev.eval = {"precision": precision, "recall": recall}
    with _silenced():
        ev.summarize()
    return ev.stats


def coco_pool(states: Sequence["CocoState"]) -> dict[str, float]:
    """One evaluation over several sequences' states, in order: equals
    :func:`evaluate_coco_pooled` on the same sequences (image ids kept distinct, sequence order)."""
    from vcmctc.evaluators import _cocostate as cs

    return coco_finalize(cs.concatenate(states))


def save_coco_state(state: "CocoState", file: Any) -> None:
    """Write a state as a compressed ``.npz`` (a path or a binary file object)."""
    import numpy as np

    np.savez_compressed(file, **state.to_arrays())


def load_coco_state(file: Any) -> "CocoState":
    """Read a state written by :func:`save_coco_state` (no pickles)."""
    import numpy as np

    from vcmctc.evaluators._cocostate import CocoState

    try:
        with np.load(file, allow_pickle=False) as data:
            return CocoState.from_arrays({k: data[k] for k in data.files})
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read COCO state: {exc}", file=file) from None


def pool_sequences(sequences: Sequence[tuple[Mapping, Sequence[Mapping]]]) -> tuple[dict, list]:
    """Merge several (gt, dets) pairs into one, for a pooled (class-row) evaluation.

    Image ids are renumbered 1, 2, ... in (sequence order, original id order), so ids of
    different sequences never collide and COCOeval visits images in the same order as with the
    reference scripts' per-sequence id offsets (this matters only for score ties across images).
    Annotation ids are renumbered 1..N in order. Each pooled image keeps ``source_index`` (its
    position in ``sequences``) and ``source_id``. Categories are the union; a category id with
    two different names is an error.
    """
    images: list[dict] = []
    annotations: list[dict] = []
    categories: dict[int, dict] = {}
    pooled_dets: list[dict] = []
    next_id = 1
    for k, (gt, dets) in enumerate(sequences):
        id_map: dict[Any, int] = {}
        for img in sorted(gt["images"], key=lambda im: im["id"]):
            id_map[img["id"]] = next_id
            images.append({**img, "id": next_id, "source_index": k, "source_id": img["id"]})
            next_id += 1
        for cat in gt["categories"]:
            known = categories.get(cat["id"])
            if known is None:
                categories[cat["id"]] = dict(cat)
            elif known.get("name") != cat.get("name"):
                raise UserError(f"category {cat['id']} is named {known.get('name')!r} in one "
                                f"sequence and {cat.get('name')!r} in sequence {k}")
        for ann in gt["annotations"]:
            annotations.append({**ann, "id": len(annotations) + 1,
                                "image_id": id_map[ann["image_id"]]})
        for i, det in enumerate(dets):
            try:
                new_id = id_map[det["image_id"]]
            except KeyError:
                raise UserError(f"image_id {det['image_id']!r} is not a ground-truth image of "
                                f"sequence {k}", where=f"results[{i}]") from None
            pooled_dets.append({**det, "image_id": new_id})
    gt_out = {"images": images, "annotations": annotations,
              "categories": sorted(categories.values(), key=lambda c: c["id"])}
    return gt_out, pooled_dets


def evaluate_coco_pooled(sequences: Sequence[tuple[Mapping, Sequence[Mapping]]],
                         iou_type: str = "bbox", backend: str = DEFAULT_BACKEND
                         ) -> dict[str, float]:
    """One evaluation over all ``sequences`` pooled (see :func:`pool_sequences`)."""
    if backend == "vcmctc":
        return coco_pool([coco_state(gt, dets, iou_type, backend) for gt, dets in sequences])
    gt, dets = pool_sequences(sequences)
    return evaluate_coco(gt, dets, iou_type=iou_type, backend=backend)


# --------------------------------------------------------------------------------------------

def _check_iou_type(iou_type: str) -> None:
    if iou_type not in IOU_TYPES:
        raise UserError(f"unknown IoU type {iou_type!r} (known: {', '.join(IOU_TYPES)})")


def _scale(value: float) -> float:
    # COCOeval reports an undefined mean (no valid category / area bucket) as exactly -1.
    return math.nan if value == -1.0 else 100.0 * value


def _empty_results(coco_cls: type, gt_coco: Any) -> Any:
    """A results object with no detections, as ``loadRes`` would build it for an empty list."""
    res = coco_cls()
    res.dataset = {"images": list(gt_coco.dataset["images"]), "annotations": [],
                   "categories": [dict(c) for c in gt_coco.dataset["categories"]]}
    res.createIndex()
    return res


_STDOUT_LOCK = threading.Lock()


@contextlib.contextmanager
def _silenced():
    """Swallow the libraries' prints. ``sys.stdout`` is process-wide, so swapping it is
    serialised: two threads interleaving ``redirect_stdout`` would leave a StringIO in place."""
    with _STDOUT_LOCK, contextlib.redirect_stdout(io.StringIO()):
        yield


def _pycocotools_eval(gt: dict, dets: list, iou_type: str) -> Any:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with _silenced():
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets) if dets else _empty_results(COCO, coco_gt)
        return COCOeval(coco_gt, coco_dt, iou_type)


def _run_vcmctc(gt: dict, dets: list, iou_type: str) -> Sequence[float]:
    return _summarize_state(coco_state(gt, dets, iou_type, "vcmctc"))


def _run_pycocotools(gt: dict, dets: list, iou_type: str) -> Sequence[float]:
    ev = _pycocotools_eval(gt, dets, iou_type)
    with _silenced():
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    return None


def _run_faster_coco_eval(gt: dict, dets: list, iou_type: str) -> Sequence[float]:
    from faster_coco_eval import COCO, COCOeval_faster

    with _silenced():
        coco_gt = COCO(gt, print_function=_quiet)
        coco_dt = coco_gt.loadRes(dets) if dets else _empty_results(COCO, coco_gt)
        coco_dt.print_function = _quiet
        ev = COCOeval_faster(coco_gt, coco_dt, iou_type, print_function=_quiet)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return list(ev.stats)[: len(stat_names(iou_type))]
