"""Multi-object tracking: MOTA (with MOTP, IDF1, IDSW, HOTA and the counts) as motmetrics and
TrackEval compute them, on MOTChallenge ground truth.

The protocol (``metric_options.protocol``: plain, tvd, hieve) and a prediction offset come from
the edition. Task output: a MOTChallenge txt (``frame,id,x,y,w,h,conf,...``) numbered like the
ground truth. The state is the additive counts, so a class row is MOTA of the summed counts
(motmetrics' OVERALL), never a mean of MOTAs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmctc.families.base import Family, GroundTruth, Measurement, MetricDef, frame_range

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence


class TrackingFamily(Family):
    name = "tracking"
    metrics = (MetricDef("mota", "MOTA", "MOTA", "object-tracking", lower=float("-inf")),
               MetricDef("idf1", "IDF1", "IDF1", "object-tracking"),
               MetricDef("hota", "HOTA", "HOTA", "object-tracking"))
    output_kind = "mot-txt"
    output_name = "output.txt"
    output_help = ("a MOTChallenge txt (frame,id,x,y,w,h,conf,...) with frames numbered from the "
                   "edition's first_frame")

    def __init__(self, **_options):
        pass

    def _options(self, seq: "Sequence") -> dict[str, Any]:
        opts = dict(seq.metric_options)
        return {"protocol": opts.get("protocol", "plain"),
                "pred_offset": [float(v) for v in opts.get("pred_offset", (0.0, 0.0))]}

    def settings(self, seq: "Sequence") -> dict[str, Any]:
        from vcmctc import __version__

        return {"family": self.name,
                "metric_backend": "vcmctc.evaluators.mot (motmetrics semantics)",
                "metric_backend_version": __version__, "iou_threshold": 0.5,
                **self._options(seq)}

    def gt_files(self, seq: "Sequence", path: Path) -> list[Path]:
        return [path / "gt" / "gt.txt", path / "seqinfo.ini"]

    def load_gt(self, seq: "Sequence", path: Path) -> GroundTruth:
        from vcmctc.datasets.mot import load_mot_sequence

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

    def check_output(self, seq: "Sequence", path: Path) -> str | None:
        if not path.is_file():
            return f"{path.name} was not written"
        if path.stat().st_size == 0:
            return f"{path.name} is empty"
        from vcmctc.datasets.mot import check_output_lines

        return check_output_lines(path, *frame_range(seq))

    def measure(self, seq: "Sequence", gt: GroundTruth, output: Path) -> Measurement:
        from vcmctc.datasets.mot import read_mot_txt
        from vcmctc.evaluators.mot import finalize, mot_counts

        opts = self._options(seq)
        pred = read_mot_txt(output, first_frame=seq.first_frame, seq_length=gt.data["seq_length"])
        counts = mot_counts(gt.data["table"], pred, protocol=opts["protocol"],
                            pred_offset=tuple(opts["pred_offset"]),
                            seq_length=gt.data["seq_length"])
        return Measurement(finalize(counts), {"counts": counts.as_dict()})

    def pool(self, parts):
        from vcmctc.evaluators.mot import MotCounts, finalize, sum_counts

        return finalize(sum_counts(MotCounts.from_dict(state["counts"]) for _, _, state in parts))
