"""COCO detection and instance segmentation: AP, AP50, AP75, APs/m/l (pycocotools semantics).

Ground truth of a video sequence: SFU-HW per-frame txt files or the MPEG JSON (a folder), or a
COCO JSON file. Task output: a COCO *results* JSON list whose ``image_id`` is the frame number
(``first_frame ..``) and whose ``category_id`` is the real COCO id. A class row is one evaluation
over the pooled ground truth and detections of its members (image ids kept apart), never a mean
of APs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmctc.families.base import (
    Family, GroundTruth, Measurement, MetricDef, frame_range, read_output_json,
)

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence


def _defs(prefix: str, label: str, task: str, stats: tuple[tuple[str, str], ...]):
    return tuple(MetricDef(f"{prefix}-{suffix}", f"{name} ({label})" if label else name, stat, task)
                 for suffix, name, stat in ((s.lower(), n, s) for s, n in stats))


_BOX_STATS = (("AP", "mAP"), ("AP50", "mAP@0.5"), ("AP75", "mAP@0.75"), ("APs", "APs"),
              ("APm", "APm"), ("APl", "APl"))


class CocoFamily(Family):
    name = "coco"
    metrics = (_defs("coco-bbox", "", "object-detection", _BOX_STATS)
               + _defs("coco-segm", "segm", "instance-segmentation", _BOX_STATS))
    output_kind = "coco-results-json"
    output_name = "output.json"
    output_help = ("a COCO results JSON list (image_id = frame number from the edition's "
                   "first_frame, category_id = COCO id, bbox XYWH, score; segmentation RLE for "
                   "masks)")

    def __init__(self, coco_backend: str | None = None, **_options):
        from vcmctc.evaluators.coco import DEFAULT_BACKEND

        self.backend = coco_backend or DEFAULT_BACKEND
        # faster-coco-eval keeps its per-image records in C++: its class rows re-evaluate the
        # members' detections, with their ground truth; the others pool additive states
        self.pool_needs_gt = self.backend == "faster-coco-eval"

    def iou_type(self, seq: "Sequence") -> str:
        return seq.metric.split("-")[1]   # coco-bbox-ap -> bbox, coco-segm-ap50 -> segm

    def settings(self, seq: "Sequence") -> dict[str, Any]:
        from vcmctc.evaluators.coco import backend_version

        return {"family": self.name, "metric_backend": self.backend,
                "metric_backend_version": backend_version(self.backend),
                "iou_type": self.iou_type(seq), "statistic": self.metric(seq.metric).stat}

    def gt_files(self, seq: "Sequence", path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        return sorted(path.glob("*.json")) or sorted(path.glob("*.txt"))

    def load_gt(self, seq: "Sequence", path: Path) -> GroundTruth:
        from vcmctc.datasets.coco import load_coco_gt
        from vcmctc.datasets.sfu import load_sfu_json, load_sfu_txt
        from vcmctc.errors import UserError

        if path.is_file():
            return GroundTruth(load_coco_gt(path, iou_type=self.iou_type(seq)), [path])
        jsons = sorted(path.glob("*.json"))
        if len(jsons) == 1:
            gt = load_sfu_json(jsons[0], frames=seq.frames, width=seq.width, height=seq.height)
            return GroundTruth(gt, jsons)
        if seq.skip is None:
            raise UserError(f"sequence {seq.id}: the edition gives no 'skip', so the frames of "
                            "the ground truth cannot be located (see its notes)")
        gt = load_sfu_txt(path, width=seq.width, height=seq.height, frames=seq.frames,
                          skip=seq.skip, total=seq.total_frames, sequence=seq.id)
        return GroundTruth(gt, sorted(path.glob("*.txt")))

    def check_output(self, seq: "Sequence", path: Path) -> str | None:
        data, problem = read_output_json(path)
        if problem:
            return problem
        if not isinstance(data, list):
            return f"{path.name}: a COCO results file must be a JSON list, got {type(data).__name__}"
        lo, hi = frame_range(seq)
        for i, det in enumerate(data):
            image_id = det.get("image_id") if isinstance(det, dict) else None
            if isinstance(image_id, bool) or not isinstance(image_id, (int, float)):
                return f"{path.name}: entry [{i}] has no numeric image_id"
            if not (math.isfinite(image_id) and image_id == int(image_id) and lo <= image_id <= hi):
                return (f"{path.name}: entry [{i}] has image_id {image_id!r}, outside the frames "
                        f"{lo}..{hi} of this sequence")
        return None

    def read_output(self, seq: "Sequence", gt: GroundTruth, output: Path) -> list[dict]:
        from vcmctc.datasets.coco import validate_coco_results
        from vcmctc.families.base import take_output_json

        return validate_coco_results(take_output_json(output), gt.data, source=output,
                                     iou_type=self.iou_type(seq), copy=False)

    def measure(self, seq: "Sequence", gt: GroundTruth, output: Path) -> Measurement:
        from vcmctc.evaluators.coco import coco_finalize, coco_state, evaluate_coco

        dets = self.read_output(seq, gt, output)
        if self.pool_needs_gt:
            stats = evaluate_coco(gt.data, dets, iou_type=self.iou_type(seq), backend=self.backend)
            return Measurement(stats, {"detections": dets})
        state = coco_state(gt.data, dets, iou_type=self.iou_type(seq), backend=self.backend)
        return Measurement(coco_finalize(state), state.to_arrays())

    def pool(self, parts):
        from vcmctc.evaluators._cocostate import CocoState
        from vcmctc.evaluators.coco import coco_pool, evaluate_coco_pooled

        if self.pool_needs_gt:
            return evaluate_coco_pooled(
                [(gt.data, state["detections"]) for _, gt, state in parts],
                iou_type=self.iou_type(parts[0][0]), backend=self.backend)
        return coco_pool([CocoState.from_arrays(state) for _, _, state in parts])
