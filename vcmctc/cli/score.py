"""``vcmctc score ...``: one sub-command per task metric (coco, mot, openimages, miou).

Each metric's command lives in its own module (``vcmctc.cli.score_<name>``) and adds itself to
``score_app``; this module only creates the group.
"""

from __future__ import annotations

import typer

from vcmctc.cli import app

score_app = typer.Typer(help="Score task outputs against ground truth (mAP, MOTA, mIoU...).",
                        no_args_is_help=True)
app.add_typer(score_app, name="score")
