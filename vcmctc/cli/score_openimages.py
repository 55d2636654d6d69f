"""``vcmctc score openimages`` (Open Images Challenge mAP) and ``vcmctc score miou``."""

from __future__ import annotations

import enum
import math
from pathlib import Path
from typing import Optional

import typer

from vcmctc.cli._common import OutputFormat, print_json
from vcmctc.cli.score import score_app
from vcmctc.errors import UserError


class OIIouType(str, enum.Enum):
    auto = "auto"
    bbox = "bbox"
    segm = "segm"


class Absent(str, enum.Enum):
    union = "union"
    gt = "gt"


def _pct(value: float) -> float:
    value = float(value)
    return value * 100.0 if value == value else float("nan")


def _num(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


@score_app.command("openimages")
def score_openimages(
    gt_boxes: Optional[Path] = typer.Option(None, "--gt-boxes", help="GT boxes CSV (ImageID,"
                                            "LabelName,XMin,XMax,YMin,YMax,IsGroupOf)."),
    gt_labels: Optional[Path] = typer.Option(None, "--gt-labels", help="Verified image-level "
                                             "labels CSV (ImageID,LabelName,Confidence)."),
    gt_masks: Optional[Path] = typer.Option(None, "--gt-masks", help="GT instance masks CSV "
                                            "(challenge layout with a Mask column, or Open Images "
                                            "V6 segmentations.csv with PNGs); implies segm."),
    mask_dir: Optional[Path] = typer.Option(None, "--mask-dir", help="Folder of the PNG masks "
                                            "named by MaskPath (default: beside --gt-masks)."),
    gt_json: Optional[Path] = typer.Option(None, "--gt-json", help="COCO-style GT JSON instead "
                                           "of CSVs (MPEG oic_annotations, or iscrowd=group-of)."),
    pred: Path = typer.Option(..., "--pred", help="Detections: challenge CSV (ImageID,LabelName,"
                              "Score,XMin,XMax,YMin,YMax; masks: ImageID,ImageWidth,ImageHeight,"
                              "LabelName,Score,Mask) or COCO results JSON (needs --gt-json)."),
    label_map: Optional[Path] = typer.Option(None, "--label-map", help="Classes to evaluate "
                                             "(.pbtxt, JSON {id,name} list, CSV or one name per "
                                             "line). Default: the classes of the GT files."),
    hierarchy: Optional[Path] = typer.Option(None, "--hierarchy", help="Open Images hierarchy "
                                             "JSON: expand GT boxes/labels to parents (off by "
                                             "default, as in the MPEG OIV6 runs)."),
    iou_type: OIIouType = typer.Option(OIIouType.auto, "--iou-type", help="bbox or segm "
                                       "(auto: segm when --gt-masks is given)."),
    iou_threshold: float = typer.Option(0.5, "--iou-threshold", help="IoU (and group-of IoA) "
                                        "threshold."),
    group_of_weight: float = typer.Option(1.0, "--group-of-weight", help="TP weight of a hit "
                                          "group-of box (challenge: 1; 0 ignores group-of)."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text, csv or json."),
) -> None:
    """Open Images Challenge AP per class and mAP (0-100) of detections or instance masks."""
    from vcmctc.datasets.openimages import (
        load_coco_ground_truth,
        load_ground_truth,
        load_predictions,
    )
    from vcmctc.evaluators.openimages import OIParams, evaluate

    masks = iou_type is OIIouType.segm or (iou_type is OIIouType.auto and gt_masks is not None)
    if not 0.0 < iou_threshold <= 1.0:
        raise UserError(f"--iou-threshold must be in (0, 1], got {iou_threshold}")
    if group_of_weight < 0 or not math.isfinite(group_of_weight):
        raise UserError(f"--group-of-weight must be >= 0, got {group_of_weight}")
    if gt_json is not None:
        if gt_boxes or gt_labels or gt_masks:
            raise UserError("give either --gt-json or the GT CSVs, not both")
        if hierarchy is not None:
            raise UserError("--hierarchy works on the GT CSVs only")
        gt = load_coco_ground_truth(gt_json, masks=masks, label_map=label_map)
    else:
        if gt_boxes is None and gt_masks is None:
            raise UserError("give --gt-boxes (and --gt-labels), --gt-masks, or --gt-json")
        if masks and gt_masks is None:
            raise UserError("--iou-type segm needs --gt-masks")
        gt = load_ground_truth(gt_boxes, gt_labels, masks=gt_masks if masks else None,
                               mask_dir=mask_dir, label_map=label_map, hierarchy=hierarchy)
    preds = load_predictions(pred, gt, masks=masks)
    params = OIParams(iou_threshold=iou_threshold, group_of_weight=group_of_weight, masks=masks)
    result = evaluate(gt, preds, params)

    key = f"mAP@{iou_threshold:g}"
    signature = {**result.signature(), "hierarchy": hierarchy is not None,
                 "label_map": str(label_map) if label_map else None}
    counts = {"images_gt": len(gt.images), "images_pred": len(preds),
              "gt_instances": gt.num_boxes,
              "detections": sum(len(p.scores) for p in preds.values()), **result.counts,
              **{k.replace(" ", "_"): v for k, v in gt.dropped.items()}}
    if fmt is OutputFormat.json:
        print_json({key: _pct(result.map),
                    "per_class": {n: _pct(v) for n, v in result.per_class().items()},
                    "num_gt": {n: float(g) for n, g in zip(result.classes, result.num_gt) if g > 0},
                    "counts": counts, "signature": signature})
        return
    if fmt is OutputFormat.csv:
        typer.echo("class,AP,num_gt,num_tp,entries")
        for i, name in enumerate(result.classes):
            if result.num_gt[i] > 0:
                typer.echo(f"{name},{_pct(result.ap[i])!r},{result.num_gt[i]:g},"
                           f"{result.num_tp[i]:g},{result.num_entries[i]}")
        typer.echo(f"{key},{_pct(result.map)!r},{result.num_gt.sum():g},"
                   f"{result.num_tp.sum():g},{result.num_entries.sum()}")
        return
    what = "instance masks" if masks else "boxes"
    typer.echo(f"Open Images Challenge {what}: {counts['images_gt']} GT images, "
               f"{counts['gt_instances']} GT instances, {counts['detections']} detections "
               f"(IoU {iou_threshold:g}, group-of weight {group_of_weight:g})")
    ignored = {k: v for k, v in counts.items()
               if k not in ("images_gt", "images_pred", "gt_instances", "detections") and v}
    if ignored:
        typer.echo("ignored: " + ", ".join(f"{k.replace('_', ' ')} {v}"
                                           for k, v in ignored.items()))
    width = max([5, *(len(n) for n in result.classes)])
    typer.echo(f"{'class':<{width}}  {'AP':>6}  {'GT':>7}  {'TP':>7}  {'entries':>7}")
    for i, name in enumerate(result.classes):
        if result.num_gt[i] > 0:
            typer.echo(f"{name:<{width}}  {_num(_pct(result.ap[i])):>6}  "
                       f"{result.num_gt[i]:>7g}  {result.num_tp[i]:>7g}  "
                       f"{result.num_entries[i]:>7}")
    typer.echo(f"{key} {_num(_pct(result.map), 3)} over "
               f"{int((result.num_gt > 0).sum())} classes")


def _parse_classes(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise UserError(f"--classes: {part!r} is not an integer class id") from None
    if not out:
        raise UserError("--classes is empty")
    return out


@score_app.command("miou")
def score_miou(
    gt: Path = typer.Option(..., "--gt", help="Folder of GT label maps (.png / .npy), or one "
                            "file."),
    pred: Path = typer.Option(..., "--pred", help="Folder of predicted label maps matched by "
                              "file name (stem), or one file."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Number of classes "
                                              "(default: 1 + largest GT label)."),
    ignore_index: int = typer.Option(255, "--ignore-index", help="GT value to ignore; a "
                                     "negative value ignores nothing."),
    absent: Absent = typer.Option(Absent.union, "--absent", help="union: a class with no GT "
                                  "and no predicted pixel is left out of the mean (mmseg, "
                                  "Cityscapes); gt: a class with no GT pixel is left out "
                                  "(CompressAI-Vision Pandaset)."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Comma-separated class ids "
                                          "to average over (default: all)."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text, csv or json."),
) -> None:
    """Semantic segmentation mIoU, pixel accuracy and per-class IoU (0-100), pooled over images."""
    from vcmctc.datasets.labelmaps import evaluate_files, pair_label_files

    if num_classes is not None and num_classes < 1:
        raise UserError(f"--num-classes must be >= 1, got {num_classes}")
    selected = _parse_classes(classes)
    pairs = pair_label_files(gt, pred)
    result = evaluate_files(pairs, num_classes=num_classes,
                            ignore_index=None if ignore_index < 0 else ignore_index,
                            absent=absent.value, classes=selected)
    settings = {"num_classes": int(result.confusion.shape[0]),
                "ignore_index": None if ignore_index < 0 else ignore_index,
                "absent": absent.value, "classes": result.classes}
    if fmt is OutputFormat.json:
        print_json({"mIoU": _pct(result.miou), "pixel_accuracy": _pct(result.pixel_accuracy),
                    "mean_accuracy": _pct(result.mean_accuracy),
                    "per_class": {str(c): _pct(v) for c, v in result.per_class().items()},
                    "num_images": result.num_images, "settings": settings})
        return
    if fmt is OutputFormat.csv:
        typer.echo("class,IoU,accuracy,gt_pixels")
        gt_pixels = result.confusion.sum(axis=1)
        for c, v in result.per_class().items():
            typer.echo(f"{c},{_pct(v)!r},{_pct(result.accuracy[c])!r},{gt_pixels[c]}")
        typer.echo(f"mIoU,{_pct(result.miou)!r},{_pct(result.pixel_accuracy)!r},"
                   f"{result.confusion.sum()}")
        return
    typer.echo(f"mIoU over {result.num_images} label maps, {settings['num_classes']} classes "
               f"(ignore index {settings['ignore_index']}, absent classes: {absent.value})")
    for c, v in result.per_class().items():
        typer.echo(f"class {c:>4}  IoU {_num(_pct(v)):>6}")
    typer.echo(f"mIoU {_num(_pct(result.miou), 3)}  pixel accuracy "
               f"{_num(_pct(result.pixel_accuracy), 3)}  mean accuracy "
               f"{_num(_pct(result.mean_accuracy), 3)}")
