"""Open Images challenge detection and instance segmentation: mAP@0.5 with group-of boxes and
verified image-level labels, as the TF Object Detection API challenge evaluator computes it.

Ground truth of an image set (the edition's ``gt`` folder under the data root): the challenge
CSVs (boxes ``*bbox*.csv`` or ``boxes.csv``, verified labels ``*labels*.csv``, masks
``*masks*.csv`` or ``segmentations.csv`` with PNG masks in ``masks/``), or one COCO-style JSON
(the MPEG OIV6 JSON or plain COCO). ``metric_options`` may name the files explicitly (``boxes``,
``labels``, ``masks``, ``mask_dir``, ``label_map``, ``hierarchy``: paths relative to the folder)
and change ``iou_threshold`` / ``group_of_weight``. Task output: the challenge predictions CSV
(``ImageID,LabelName,Score,XMin,XMax,YMin,YMax``; masks ``ImageID,ImageWidth,ImageHeight,
LabelName,Score,Mask``) or a COCO results JSON (with COCO-style ground truth).

The state (:func:`vcmctc.evaluators.openimages.oid_state`) is the per-class (score, TP) entries
with their images and the GT counts: a class row pools disjoint sets as one evaluation over their
union would see them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vcmctc.errors import UserError
from vcmctc.families.base import Family, GroundTruth, Measurement, MetricDef

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence

_PATTERNS = {"boxes": ("boxes.csv", "*bbox*.csv"), "labels": ("labels.csv", "*labels*.csv"),
             "masks": ("masks.csv", "*masks*.csv", "segmentations.csv")}
_FILE_OPTIONS = ("boxes", "labels", "masks", "mask_dir", "label_map", "hierarchy")
_NUMBER_OPTIONS = ("iou_threshold", "group_of_weight")


class OpenImagesFamily(Family):
    name = "openimages"
    metrics = (MetricDef("oid-bbox-map50", "mAP@0.5 (OID)", "mAP@0.5", "object-detection"),
               MetricDef("oid-segm-map50", "mAP@0.5 (OID segm)", "mAP@0.5",
                         "instance-segmentation"))
    output_kind = "oid-predictions"
    output_name = "output.csv"
    output_help = ("the Open Images challenge predictions CSV (ImageID,LabelName,Score,XMin,XMax,"
                   "YMin,YMax normalised; masks: ImageID,ImageWidth,ImageHeight,LabelName,Score,"
                   "Mask) or a COCO results JSON")

    def __init__(self, **_options):
        pass

    def _params(self, seq: "Sequence"):
        from vcmctc.evaluators.openimages import OIParams

        opts = seq.metric_options
        extra = {k: float(opts[k]) for k in _NUMBER_OPTIONS if k in opts}
        return OIParams(masks=seq.metric == "oid-segm-map50", **extra)

    def settings(self, seq: "Sequence") -> dict[str, Any]:
        from vcmctc import __version__

        p = self._params(seq)
        return {"family": self.name,
                "metric_backend": "vcmctc.evaluators.openimages (TF OD API challenge semantics)",
                "metric_backend_version": __version__, "iou_threshold": p.iou_threshold,
                "group_of_weight": p.group_of_weight, "masks": p.masks,
                "hierarchy": bool(seq.metric_options.get("hierarchy"))}

    # -- ground truth ---------------------------------------------------------------------
    def _files(self, seq: "Sequence", folder: Path) -> dict[str, Path]:
        opts = seq.metric_options
        files: dict[str, Path] = {}
        for key in _FILE_OPTIONS:
            if opts.get(key):
                path = folder / str(opts[key])
                if not path.exists():
                    raise UserError(f"sequence {seq.id}: metric_options.{key} names a missing "
                                    "file", file=path)
                files[key] = path
        for key, patterns in _PATTERNS.items():
            if key in files:
                continue
            for pattern in patterns:
                found = sorted(folder.glob(pattern))
                if len(found) > 1:
                    raise UserError(f"sequence {seq.id}: {len(found)} files match {pattern} "
                                    f"({', '.join(p.name for p in found)}); name the {key} file "
                                    f"in the edition's metric_options", file=folder)
                if found:
                    files[key] = found[0]
                    break
        if "mask_dir" not in files and (folder / "masks").is_dir():
            files["mask_dir"] = folder / "masks"
        return files

    def gt_files(self, seq: "Sequence", path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        if not any(path.glob("*.csv")):
            return sorted(path.glob("*.json"))
        files = self._files(seq, path)
        masks = seq.metric == "oid-segm-map50"
        used = [p for k, p in sorted(files.items()) if k != "mask_dir" and (masks or k != "masks")]
        if masks and "mask_dir" in files:
            used += sorted(p for p in files["mask_dir"].rglob("*") if p.is_file())
        return used

    def load_gt(self, seq: "Sequence", path: Path) -> GroundTruth:
        from vcmctc.datasets.openimages import load_coco_ground_truth, load_ground_truth

        masks = seq.metric == "oid-segm-map50"
        if path.is_file() or (path.is_dir() and not any(path.glob("*.csv"))):
            json_file = path
            if path.is_dir():
                found = sorted(path.glob("*.json"))
                if len(found) != 1:
                    raise UserError(f"expected the challenge CSVs or one COCO-style JSON, found "
                                    f"{len(found)} JSON files", file=path)
                json_file = found[0]
            files = self._files(seq, path) if path.is_dir() else {}
            gt = load_coco_ground_truth(json_file, masks=masks, label_map=files.get("label_map"))
            sizes = [(w, h) for _, w, h in (gt.coco_images or {}).values()]
            pixels = sum(w * h for w, h in sizes) if sizes and all(w and h for w, h in sizes) else None
            return GroundTruth(gt, [json_file], items=sorted(gt.images), pixels=pixels)
        files = self._files(seq, path)
        if masks and "masks" not in files:
            raise UserError(f"sequence {seq.id}: mask evaluation needs a masks CSV in the ground "
                            "truth folder", file=path)
        if "boxes" not in files and "masks" not in files:
            raise UserError(f"sequence {seq.id}: no boxes CSV (boxes.csv or *bbox*.csv) in the "
                            "ground truth folder", file=path)
        gt = load_ground_truth(files.get("boxes"), files.get("labels"),
                               masks=files.get("masks") if masks else None,
                               mask_dir=files.get("mask_dir"), label_map=files.get("label_map"),
                               hierarchy=files.get("hierarchy"))
        return GroundTruth(gt, self.gt_files(seq, path), items=sorted(gt.images))

    # -- outputs --------------------------------------------------------------------------
    def check_output(self, seq: "Sequence", path: Path) -> str | None:
        from vcmctc.datasets.openimages import PRED_BOX_COLUMNS, PRED_MASK_COLUMNS
        from vcmctc.families.base import read_output_json

        if path.suffix.lower() == ".json":
            data, problem = read_output_json(path)
            if problem:
                return problem
            if isinstance(data, dict) and isinstance(data.get("annotations"), list):
                data = data["annotations"]
            if not isinstance(data, list):
                return f"{path.name}: expected a list of COCO results, got {type(data).__name__}"
            return None
        if not path.is_file():
            return f"{path.name} was not written"
        if path.stat().st_size == 0:
            return f"{path.name} is empty"
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = [c.strip() for c in fh.readline().split(",")]
        required = PRED_MASK_COLUMNS if seq.metric == "oid-segm-map50" else PRED_BOX_COLUMNS
        missing = [c for c in required if c not in header]
        if missing:
            return f"{path.name}: header lacks column(s) {', '.join(missing)}"
        return None

    def measure(self, seq: "Sequence", gt: GroundTruth, output: Path) -> Measurement:
        from vcmctc.datasets.openimages import load_predictions
        from vcmctc.evaluators.openimages import oid_finalize, oid_state

        params = self._params(seq)
        preds = load_predictions(output, gt.data, masks=params.masks)
        state = oid_state(gt.data, preds, params)
        detections = sum(len(p.scores) for p in preds.values())
        return Measurement(_stats(oid_finalize(state), detections),
                           {**state.to_arrays(), "detections": int(detections)})

    def pool(self, parts):
        """One evaluation over the union of the members' images (disjoint sets with the same
        classes and settings, as one run would see them)."""
        from vcmctc.evaluators.openimages import OIState, oid_pool

        result = oid_pool([OIState.from_arrays(state) for _, _, state in parts])
        return _stats(result, int(sum(int(state["detections"]) for _, _, state in parts)))


def _stats(result, detections: int) -> dict[str, Any]:
    return {"mAP@0.5": 100.0 * result.map, "classes_with_gt": int((result.num_gt > 0).sum()),
            "GT": float(result.num_gt.sum()), "TP": float(result.num_tp.sum()),
            "entries": int(result.num_entries.sum()), "detections": int(detections),
            **{f"ignored_{k}": int(v) for k, v in sorted(result.counts.items())}}
