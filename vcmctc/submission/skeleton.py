"""``vcmctc init``: a manifest skeleton listing every sequence and rate point an edition needs."""

from __future__ import annotations

import json
from pathlib import Path



def _q(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def skeleton_text(edition_id: str, anchor_id: str | None = None, codec: str = "my-codec") -> str:
    from vcmctc.ctc.anchors import anchors_for
    from vcmctc.ctc.editions import load_edition

    ed = load_edition(edition_id)
    if anchor_id is None:   # the edition's first anchor, bundled or the user's
        found = anchors_for(ed.id)
        anchor_id = found[0].id if found else None
    lines = [
        f"# vcmctc submission manifest for edition {ed.id}: {ed.title}",
        "# Paths are relative to this folder. Fill in what you have for each rate point:",
        "#   bitstream (+ side_info) and a decoder  -> evidence 'decoded' (vcmctc decodes and scores)",
        "#   task_output (what the metric's task family reads) -> evidence 'outputs' (vcmctc scores)",
        "#   reported: {rate, metric}               -> evidence 'reported' (your numbers)",
        "# Remove the fields you do not use. See docs/submission.md.",
        f"codec: {_q(codec)}",
        f"track: {ed.track}",
        f"edition: {ed.id}",
        f"anchor: {anchor_id}" if anchor_id else
        "# anchor: <id>   # no anchor is bundled for this edition: without one there is no\n"
        "#                # BD-rate. Store yours with: vcmctc anchors add ID SOURCE --edition "
        + ed.id,
        f"scenario: {ed.default_scenario}",
        "decoder:",
        "  # argv template, never run through a shell; placeholders: {bitstream} {output} {width}",
        "  # {height} {frames} {bit_depth} {fps} {qp}",
        '  argv: [my-decoder, --input, "{bitstream}", --output, "{output}"]',
        *(["  # output: features   # FCM: the decoder writes the split point's tensors (.npz),"
            " see docs/features.md"] if any(s.split_point for s in ed.sequences.values()) else []),
        "  timeout_s: 3600",
        "task:",
        "  adapter: provided   # provided | command | detectron2 | torch | detectron2-split",
        "sequences:",
    ]
    from vcmctc.families import family_for

    for seq in ed.sequences.values():
        qps = ed.qps(seq) or [None] * ed.rate_points
        family = family_for(seq.metric) if seq.metric else None
        suffix = Path(family.output_name).suffix if family else ".json"
        comment = f"  # class {seq.cls}, {seq.metric}, rate in {seq.rate_unit}"
        if seq.optional:
            comment += " (optional)"
        lines += [f"  {_q(seq.id)}:{comment}"]
        for i, qp in enumerate(qps):
            label = f"qp: {qp}" if qp is not None else f"label: point{i}"
            stem = f"{seq.id}_qp{qp}" if qp is not None else f"{seq.id}_point{i}"
            lines += [f"    - {label}",
                      f"      bitstream: {_q(f'bitstream/{seq.id}/{stem}' + ('/' if seq.kind == 'images' else '.bin'))}"
                      + ("  # a folder: one bitstream per image, named <image id>.*"
                         if seq.kind == "images" else ""),
                      f"      task_output: {_q(f'outputs/{seq.id}/{stem}{suffix}')}",
                      "      # reported: {rate: 0.0, metric: 0.0}"]
    return "\n".join(lines) + "\n"


def write_skeleton(folder: Path, edition_id: str, anchor_id: str | None = None,
                   force: bool = False) -> Path:
    from vcmctc.submission.importers import write_manifest

    return write_manifest(folder, skeleton_text(edition_id, anchor_id), force=force)
