"""``vcmctc score mot``: tracking metrics (MOTA, IDF1, HOTA...) of one MOTChallenge sequence."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vcmctc.cli._common import OutputFormat, print_json, print_metrics_csv
from vcmctc.cli.score import score_app
from vcmctc.errors import UserError


# First frame number per protocol when --first-frame is not given (TVD from 1, HiEve from 0).
_DEFAULT_FIRST_FRAME = {"tvd": 1, "hieve": 0, "plain": None}


def parse_offset(text: str) -> tuple[float, float]:
    """``"DX,DY"`` -> ``(dx, dy)``."""
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise UserError(f"--offset must be DX,DY (two numbers), got {text!r}") from None


@score_app.command("mot")
def score_mot(
    gt: Path = typer.Option(..., "--gt", help="Ground truth: a MOTChallenge gt.txt, or a sequence "
                            "folder with gt/gt.txt and seqinfo.ini."),
    pred: Path = typer.Option(..., "--pred", help="Tracker output txt "
                              "(frame,id,x,y,w,h,conf,-1,-1,-1)."),
    protocol: str = typer.Option(
        "plain", "--protocol",
        help="plain: motmetrics compare_to_groundtruth; tvd: CLEAR_MOT_M with MOT16 "
             "preprocessing (TVD); hieve: GT with confidence >= 1 (HiEve). IoU >= 0.5 always."),
    first_frame: Optional[int] = typer.Option(
        None, "--first-frame", help="Number of the first frame (TVD 1, HiEve/SFU 0); frames are "
                                    "checked against it and seqLength. Default: 1 for tvd, 0 for "
                                    "hieve, no check for plain."),
    seqinfo: Optional[Path] = typer.Option(
        None, "--seqinfo", help="seqinfo.ini giving seqLength (found automatically when --gt is "
                                "a sequence folder)."),
    offset: str = typer.Option("0,0", "--offset",
                               help="DX,DY added to predicted x,y before matching. 1,1 reproduces "
                                    "CompressAI-Vision's default (in-memory predictions against "
                                    "GT shifted by motmetrics' loader)."),
    solver: str = typer.Option(
        "scipy", "--solver",
        help="LAP solver motmetrics would use: scipy, lap or munkres (the last two need their "
             "package); they differ only on exact ties. CompressAI-Vision sets lap for TVD and "
             "munkres for HiEve."),
    hota: bool = typer.Option(True, "--hota/--no-hota", help="Also compute HOTA (TrackEval)."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text, csv or json."),
) -> None:
    """MOTA, MOTP, IDF1, HOTA... of one sequence with motmetrics 1.4.0 semantics.

    Percent metrics (MOTA, IDF1, IDP, IDR, Recall, Precision, HOTA, DetA, AssA, LocA, DetRe, DetPr,
    AssRe, AssPr) are on a 0-100 scale; MOTP is motmetrics' mean 1 - IoU of matched pairs (0-1,
    lower is better); the rest are integer counts. Undefined values are NaN (null in JSON).
    """
    from vcmctc.datasets.mot import check_frames, read_mot_txt, read_seqinfo
    from vcmctc.evaluators.mot import LAP_SOLVERS, evaluate_mot, get_protocol

    get_protocol(protocol)
    LAP_SOLVERS.check(solver)
    dx_dy = parse_offset(offset)
    if first_frame is None:
        first_frame = _DEFAULT_FIRST_FRAME.get(protocol)
    gt_file = gt
    if gt.is_dir():
        gt_file = gt / "gt" / "gt.txt"
        if seqinfo is None:
            seqinfo = gt / "seqinfo.ini"
    info = read_seqinfo(seqinfo) if seqinfo is not None else None
    seq_length = info.seq_length if info is not None else None
    gt_table = read_mot_txt(gt_file, ground_truth=True)
    pred_table = read_mot_txt(pred)
    if first_frame is not None:
        check_frames(gt_table, first_frame, seq_length)
        check_frames(pred_table, first_frame, seq_length)
    scores = evaluate_mot(gt_table, pred_table, protocol=protocol, pred_offset=dx_dy,
                          seq_length=seq_length, solver=solver, hota=hota)

    if fmt is OutputFormat.json:
        print_json(scores)
    elif fmt is OutputFormat.csv:
        print_metrics_csv(scores)
    else:
        name = info.name if info is not None else gt_file.name
        typer.echo(f"MOT {name}: {scores['Frames']} frames, {scores['GT']} GT boxes "
                   f"({scores['GT_IDs']} ids), {scores['Pred']} predictions")
        typer.echo(f"protocol:{protocol}|iou:0.5|solver:{solver}|"
                   f"offset:{dx_dy[0]:g},{dx_dy[1]:g}|semantics:motmetrics-1.4.0")
        for key, value in scores.items():
            if isinstance(value, int):
                typer.echo(f"{key:<10} {value}")
            else:
                typer.echo(f"{key:<10} {'n/a' if value != value else f'{value:.3f}'}")
