"""``vcmctc score coco``: COCO mAP/AR of a results JSON against COCO or SFU-HW ground truth."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import List

import typer

from vcmctc.cli._common import OutputFormat, print_json, print_metrics_csv
from vcmctc.cli.score import score_app
from vcmctc.errors import UserError
from vcmctc.evaluators.coco import DEFAULT_BACKEND


class GtFormat(str, enum.Enum):
    auto = "auto"
    coco = "coco"
    sfu_json = "sfu-json"
    sfu_txt = "sfu-txt"


class PredIds(str, enum.Enum):
    coco = "coco"
    contiguous = "contiguous"


@score_app.command("coco")
def score_coco(
    gt: List[Path] = typer.Option(
        ..., "--gt", metavar="PATH",
        help="Ground truth: COCO JSON, MPEG SFU JSON, or an SFU-HW folder of per-frame .txt "
             "files. Repeat --gt/--pred pairs to score them pooled (an FCM class row)."),
    pred: List[Path] = typer.Option(
        ..., "--pred", metavar="PATH",
        help="COCO results JSON (list of detections), one per --gt."),
    iou_type: str = typer.Option("bbox", "--iou-type", metavar="TYPE",
                                 help="bbox, segm or keypoints."),
    backend: str = typer.Option(DEFAULT_BACKEND, "--backend", metavar="NAME",
                                help="faster-coco-eval (default, as in evaluate) or pycocotools "
                                     "(the reference)."),
    gt_format: GtFormat = typer.Option(
        GtFormat.auto, "--gt-format",
        help="auto: a folder is sfu-txt, a file is coco. sfu-json and sfu-txt map the 0..79 class "
             "index to COCO ids."),
    pred_ids: PredIds = typer.Option(
        PredIds.coco, "--pred-ids",
        help="Category ids of the results: coco (1..90) or contiguous (0..79, e.g. detectron2 on "
             "MPEG SFU JSON)."),
    width: List[int] = typer.Option([], "--width", metavar="N",
                                    help="Frame width (sfu-txt: required); once, or once per "
                                         "--gt."),
    height: List[int] = typer.Option([], "--height", metavar="N",
                                     help="Frame height (sfu-txt: required)."),
    frames: List[int] = typer.Option([], "--frames", metavar="N",
                                     help="Expected number of frames of the clip (SFU)."),
    skip: List[int] = typer.Option([], "--skip", metavar="N",
                                   help="sfu-txt: first frame of the clip (default 0)."),
    total: List[int] = typer.Option([], "--total", metavar="N",
                                    help="sfu-txt: frames of the whole source sequence; the "
                                         "folder must hold exactly these."),
    drop_unknown_categories: bool = typer.Option(
        False, "--drop-unknown-categories",
        help="Drop results whose category is not in the GT (pycocotools' silent behaviour) "
             "instead of failing."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text, csv or json."),
) -> None:
    """COCO summary statistics (AP, AP50, ... on a 0-100 scale; undefined values are NaN/null).

    Several --gt/--pred pairs are pooled into one evaluation (image ids kept distinct), as the
    FCM class rows are computed; they are not averaged.
    """
    from vcmctc.datasets.coco import CONTIGUOUS_TO_COCO_ID, load_coco_results
    from vcmctc.evaluators.coco import (
        COCO_BACKENDS,
        backend_version,
        evaluate_coco,
        pool_sequences,
        stat_names,
    )

    COCO_BACKENDS.check(backend)
    names = stat_names(iou_type)
    n = len(gt)
    if len(pred) != n:
        raise UserError(f"{n} --gt but {len(pred)} --pred: give one results file per ground truth")
    per_seq = {flag: _per_sequence(values, n, flag) for flag, values in (
        ("--width", width), ("--height", height), ("--frames", frames), ("--skip", skip),
        ("--total", total))}
    category_map = CONTIGUOUS_TO_COCO_ID if pred_ids is PredIds.contiguous else None
    sequences = []
    for k, (gt_path, pred_path) in enumerate(zip(gt, pred)):
        w, h, f, s, t = (per_seq[flag][k] for flag in
                         ("--width", "--height", "--frames", "--skip", "--total"))
        ground_truth = _load_gt(gt_path, gt_format.value, iou_type, w, h, f, s, t)
        dets = load_coco_results(pred_path, ground_truth, iou_type=iou_type,
                                 category_map=category_map,
                                 drop_unknown_categories=drop_unknown_categories)
        sequences.append((ground_truth, dets))
    ground_truth, dets = sequences[0] if n == 1 else pool_sequences(sequences)
    stats = evaluate_coco(ground_truth, dets, iou_type=iou_type, backend=backend)

    if fmt is OutputFormat.json:
        print_json(stats)
    elif fmt is OutputFormat.csv:
        print_metrics_csv(stats)
    else:
        pooled = f" (pooled over {n} ground truths)" if n > 1 else ""
        typer.echo(f"COCO {iou_type}{pooled}: {len(ground_truth['images'])} images, "
                   f"{len(ground_truth['annotations'])} GT, {len(dets)} results; "
                   f"backend {backend} {backend_version(backend)}")
        for name in names:
            value = stats[name]
            typer.echo(f"{name:<6} {'n/a' if value != value else f'{value:.3f}'}")


def _per_sequence(values: List[int], n: int, flag: str) -> list:
    """A repeatable option given never (None each), once (for all) or once per --gt."""
    if not values:
        return [None] * n
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        raise UserError(f"{flag} given {len(values)} times; give it once or once per --gt ({n})")
    return list(values)


def _load_gt(path: Path, kind: str, iou_type: str, width, height, frames, skip, total) -> dict:
    from vcmctc.datasets.coco import load_coco_gt

    if kind == "auto":
        kind = "sfu-txt" if path.is_dir() else "coco"
    if kind != "coco" and iou_type != "bbox":
        raise UserError(f"SFU-HW ground truth has boxes only; --iou-type {iou_type} needs COCO "
                        "ground truth", file=path)
    if kind == "sfu-txt":
        from vcmctc.datasets.sfu import load_sfu_txt

        if width is None or height is None:
            raise UserError("--width and --height are required with an SFU-HW txt folder",
                            file=path)
        return load_sfu_txt(path, width=width, height=height, frames=frames, skip=skip or 0,
                            total=total)
    if kind == "sfu-json":
        from vcmctc.datasets.sfu import load_sfu_json

        return load_sfu_json(path, frames=frames, width=width, height=height)
    return load_coco_gt(path, iou_type=iou_type)
