"""Semantic segmentation: mIoU from a pooled confusion matrix (see :mod:`vcmctc.evaluators.miou`
for the conventions).

Ground truth: a folder of label maps (single-channel PNG or ``.npy``), one per frame or image,
named by frame number or image id. Task output: a folder of label maps with the same names.
``metric_options``: ``num_classes`` (default: 1 + the largest GT label), ``ignore_index``
(default 255; null for none), ``absent`` (union or gt) and ``classes`` (ids averaged over).
The state is the confusion matrix, so a class row is the mIoU of the summed matrices.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vcmctc.families.base import Family, GroundTruth, Measurement, MetricDef

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence


class MIoUFamily(Family):
    name = "miou"
    metrics = (MetricDef("miou", "mIoU", "mIoU", "semantic-segmentation"),)
    output_kind = "label-maps"
    output_name = "labels"
    output_help = ("a folder of label maps (single-channel PNG or .npy), one per frame or image, "
                   "named like the ground truth's")

    def __init__(self, **_options):
        pass

    def _options(self, seq: "Sequence") -> dict[str, Any]:
        o = seq.metric_options
        return {"num_classes": o.get("num_classes"), "ignore_index": o.get("ignore_index", 255),
                "absent": o.get("absent", "union"), "classes": o.get("classes")}

    def settings(self, seq: "Sequence") -> dict[str, Any]:
        from vcmctc import __version__

        return {"family": self.name, "metric_backend": "vcmctc.evaluators.miou",
                "metric_backend_version": __version__, **self._options(seq)}

    def gt_files(self, seq: "Sequence", path: Path) -> list[Path]:
        from vcmctc.datasets.labelmaps import LABEL_EXTENSIONS

        if not path.is_dir():
            return [path]
        return sorted(p for p in path.iterdir() if p.suffix.lower() in LABEL_EXTENSIONS)

    def load_gt(self, seq: "Sequence", path: Path) -> GroundTruth:
        from vcmctc.errors import UserError

        if not path.is_dir():
            raise UserError("expected a folder of ground-truth label maps", file=path)
        files = self.gt_files(seq, path)
        if not files:
            raise UserError("no .png or .npy label maps", file=path)
        items = [p.stem for p in files] if seq.kind == "images" else None
        return GroundTruth(path, files, items=items)

    def check_output(self, seq: "Sequence", path: Path) -> str | None:
        from vcmctc.datasets.labelmaps import LABEL_EXTENSIONS

        if not path.is_dir():
            return f"{path.name} is not a folder of label maps"
        if not any(p.suffix.lower() in LABEL_EXTENSIONS for p in path.iterdir()):
            return f"{path.name} holds no .png or .npy label map"
        return None

    def measure(self, seq: "Sequence", gt: GroundTruth, output: Path) -> Measurement:
        from vcmctc.datasets.labelmaps import evaluate_files, pair_label_files

        o = self._options(seq)
        result = evaluate_files(pair_label_files(gt.data, output), num_classes=o["num_classes"],
                                ignore_index=o["ignore_index"], absent=o["absent"],
                                classes=o["classes"])
        return Measurement(_stats(result), {"confusion": result.confusion,
                                            "images": result.num_images})

    def pool(self, parts):
        from vcmctc.evaluators.miou import miou_from_confusion

        from vcmctc.errors import UserError

        shapes = {state["confusion"].shape for _, _, state in parts}
        if len(shapes) > 1:
            raise UserError("the members of a class row were scored with different numbers of "
                            "classes; set metric_options.num_classes in the edition")
        total = np.sum([state["confusion"] for _, _, state in parts], axis=0)
        o = self._options(parts[0][0])
        return _stats(miou_from_confusion(total, absent=o["absent"], classes=o["classes"],
                                          num_images=sum(int(s["images"]) for _, _, s in parts)))


def _stats(result) -> dict[str, Any]:
    return {"mIoU": 100.0 * result.miou, "pixel_accuracy": 100.0 * result.pixel_accuracy,
            "mean_accuracy": 100.0 * result.mean_accuracy, "images": int(result.num_images)}
