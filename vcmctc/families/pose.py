"""Pose estimation: COCO keypoint AP (OKS), as pycocotools computes it for ``iouType='keypoints'``.

Ground truth: a COCO keypoints JSON (a file, or a folder holding exactly one) whose image ids
are the frame numbers. Task output: a COCO results JSON list with ``keypoints`` ([x, y, score]
x K), ``score``, ``category_id`` and ``image_id`` = frame number. Class rows pool the members
into one evaluation, as for detection.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vcmctc.families.base import GroundTruth, MetricDef
from vcmctc.families.coco import CocoFamily

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence


class PoseFamily(CocoFamily):
    name = "pose"
    metrics = tuple(MetricDef(f"coco-keypoints-{stat.lower()}", label, stat, "pose-estimation")
                    for stat, label in (("AP", "AP (keypoints)"), ("AP50", "AP@0.5 (keypoints)"),
                                        ("AP75", "AP@0.75 (keypoints)"),
                                        ("APm", "APm (keypoints)"), ("APl", "APl (keypoints)")))
    output_help = ("a COCO keypoint results JSON list (image_id = frame number, category_id, "
                   "keypoints [x, y, score] per keypoint, score)")

    def iou_type(self, seq: "Sequence") -> str:
        return "keypoints"

    def gt_files(self, seq: "Sequence", path: Path) -> list[Path]:
        return [path] if path.is_file() else sorted(path.glob("*.json"))

    def load_gt(self, seq: "Sequence", path: Path) -> GroundTruth:
        from vcmctc.datasets.coco import load_coco_gt
        from vcmctc.errors import UserError

        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if len(files) != 1:
                raise UserError(f"expected one COCO keypoints JSON, found {len(files)}", file=path)
            path = files[0]
        return GroundTruth(load_coco_gt(path, iou_type="keypoints"), [path])
