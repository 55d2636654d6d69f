"""Scoring task outputs of one rate point, and pooling them into class rows.

A scorer knows, for the metrics of one family, where the ground truth of a sequence is (the
edition's ``gt`` template under ``--data-root``), how to read a task output, what the headline
metric is and how a class row pools several sequences (COCO: one evaluation over the pooled
images; MOT: summed counts). Scorers never decide the evidence level or read manifests.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmctc.errors import UserError
from vcmctc.registry import Registry

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence


@dataclass
class Score:
    metric: float                    # the edition's metric, 0-100
    stats: dict[str, Any]            # every statistic the backend gives
    pool_state: Any = None           # what a class row needs (MOT counts); JSON-able
    output_kind: str = ""


@dataclass
class GroundTruth:
    data: Any
    files: list[Path] = field(default_factory=list)   # hashed into the signature / cache key


def gt_path(seq: "Sequence", data_root: Path | None) -> Path:
    if not seq.gt:
        raise UserError(f"sequence {seq.id}: the edition says nothing about its ground truth")
    if data_root is None:
        raise UserError(f"sequence {seq.id}: scoring needs the ground truth; pass --data-root "
                        f"(expected at DATA_ROOT/{seq.gt.format(id=seq.id)})")
    path = Path(data_root) / seq.gt.format(id=seq.id)
    if not path.exists():
        raise UserError(f"ground truth of sequence {seq.id} not found", file=path)
    return path


class CocoScorer:
    """COCO AP family: SFU-HW (txt folder or MPEG JSON) or COCO JSON ground truth."""

    output_kind = "coco-results-json"
    STAT = {"coco-bbox-ap": ("bbox", "AP"), "coco-bbox-ap50": ("bbox", "AP50"),
            "coco-segm-ap": ("segm", "AP")}

    def __init__(self, metric: str, backend: str = "faster-coco-eval"):
        self.metric = metric
        self.iou_type, self.stat = self.STAT[metric]
        self.backend = backend

    def versions(self) -> dict[str, str]:
        from vcmctc.evaluators.coco import backend_version

        return {"metric_backend": self.backend,
                "metric_backend_version": backend_version(self.backend),
                "iou_type": self.iou_type, "statistic": self.stat}

    def load_gt(self, seq: "Sequence", data_root: Path | None) -> GroundTruth:
        from vcmctc.datasets.coco import load_coco_gt
        from vcmctc.datasets.sfu import load_sfu_json, load_sfu_txt

        path = gt_path(seq, data_root)
        if path.is_file():
            return GroundTruth(load_coco_gt(path, iou_type=self.iou_type), [path])
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

    def read_output(self, path: Path, gt: GroundTruth) -> list[dict]:
        from vcmctc.datasets.coco import load_coco_results

        return load_coco_results(path, gt.data, iou_type=self.iou_type)

    def score(self, seq: "Sequence", gt: GroundTruth, output: Path) -> Score:
        from vcmctc.evaluators.coco import evaluate_coco

        stats = evaluate_coco(gt.data, self.read_output(output, gt), iou_type=self.iou_type,
                              backend=self.backend)
        return Score(stats[self.stat], stats, None, self.output_kind)

    def pool(self, items: list[tuple[GroundTruth, Path, Score]]) -> tuple[float, dict]:
        from vcmctc.evaluators.coco import evaluate_coco_pooled

        stats = evaluate_coco_pooled([(gt.data, self.read_output(out, gt)) for gt, out, _ in items],
                                     iou_type=self.iou_type, backend=self.backend)
        return stats[self.stat], stats


class MotScorer:
    """MOTA (and friends) from MOTChallenge ground truth; class rows from summed counts."""

    output_kind = "mot-txt"

    def __init__(self, metric: str = "mota", backend: str = ""):
        self.metric = metric

    def versions(self) -> dict[str, str]:
        from vcmctc import __version__

        return {"metric_backend": "vcmctc.evaluators.mot (motmetrics semantics)",
                "metric_backend_version": __version__, "iou_threshold": "0.5"}

    def load_gt(self, seq: "Sequence", data_root: Path | None) -> GroundTruth:
        from vcmctc.datasets.mot import load_mot_sequence

        path = gt_path(seq, data_root)
        table, info = load_mot_sequence(path, first_frame=seq.first_frame)
        skip = seq.skip or 0
        if seq.frames is not None and (skip or seq.frames < info.seq_length):
            # A clip of the source: keep its frames and number them from first_frame again.
            lo = seq.first_frame + skip
            keep = (table.frame >= lo) & (table.frame < lo + seq.frames)
            table = table.subset(keep)
            table = dataclasses.replace(table, frame=table.frame - skip)
        return GroundTruth({"table": table, "seq_length": seq.frames or info.seq_length},
                           [path / "gt" / "gt.txt", path / "seqinfo.ini"])

    def _counts(self, seq: "Sequence", gt: GroundTruth, output: Path):
        from vcmctc.datasets.mot import read_mot_txt
        from vcmctc.evaluators.mot import mot_counts

        opts = dict(seq.metric_options)
        pred = read_mot_txt(output, first_frame=seq.first_frame, seq_length=gt.data["seq_length"])
        return mot_counts(gt.data["table"], pred, protocol=opts.get("protocol", "plain"),
                          pred_offset=tuple(opts.get("pred_offset", (0.0, 0.0))),
                          seq_length=gt.data["seq_length"])

    def score(self, seq: "Sequence", gt: GroundTruth, output: Path) -> Score:
        from vcmctc.evaluators.mot import finalize

        counts = self._counts(seq, gt, output)
        stats = finalize(counts)
        return Score(stats["MOTA"], stats, counts.as_dict(), self.output_kind)

    def pool(self, items: list[tuple[GroundTruth, Path, Score]]) -> tuple[float, dict]:
        from vcmctc.evaluators.mot import MotCounts, finalize, sum_counts

        stats = finalize(sum_counts(MotCounts.from_dict(score.pool_state) for _, _, score in items))
        return stats["MOTA"], stats


SCORERS: Registry = Registry("scorer")
for _metric in CocoScorer.STAT:
    SCORERS.register(_metric, "vcmctc.submission.scoring:CocoScorer")
SCORERS.register("mota", "vcmctc.submission.scoring:MotScorer")


def scorer_for(seq: "Sequence", backend: str = "faster-coco-eval"):
    if seq.metric not in SCORERS:
        raise UserError(f"sequence {seq.id}: vcmctc cannot yet compute {seq.metric!r} from task "
                        "outputs; give reported metrics for it")
    return SCORERS.get(seq.metric)(seq.metric, backend)


def dump_score(score: Score) -> str:
    return json.dumps({"metric": score.metric, "stats": score.stats, "pool_state": score.pool_state,
                       "output_kind": score.output_kind}, allow_nan=True)


def load_score(text: str) -> Score:
    d = json.loads(text)
    return Score(d["metric"], d["stats"], d["pool_state"], d["output_kind"])
