"""The ``command`` adapter: an external program writes the task output.

The program is an argv template (no shell) with placeholders ``{decoded}`` (the decoded YUV, or
the folder of decoded ``<image id>.png`` of an image set), ``{width}``, ``{height}``,
``{frames}`` (frames, or images of a set), ``{bit_depth}``, ``{chroma}`` (empty for image sets),
``{first_frame}``, ``{task}``, ``{output}``, ``{fps}``, ``{sequence}`` and ``{split_point}`` (FCM:
the split point id when ``{decoded}`` is a feature file or a folder of them, see
docs/features.md; else empty). It must write to
``{output}`` what the task family of the sequence's metric reads (see :mod:`vcmctc.families`:
a COCO results JSON, a MOT txt, an Open Images predictions CSV, a folder of label maps). It is
run by :func:`vcmctc.runner.run_process`, like decoders.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from vcmctc.adapters import TaskRequest, TaskRun, finish_run, remove_stale
from vcmctc.errors import UserError
from vcmctc.runner import (
    check_template, exit_status, fill_template, output_problem, run_process,
)

PLACEHOLDERS = ("decoded", "width", "height", "frames", "bit_depth", "chroma", "first_frame",
                "task", "output", "fps", "sequence", "split_point")


class CommandAdapter:
    """Run ``argv`` (a list of strings with placeholders) for each request; ``env`` replaces
    the environment when given."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
                 extra_values: Mapping[str, object] | None = None, contain=None):
        """``extra_values`` adds placeholders of the caller's (e.g. ``{submission}``);
        ``contain`` is the :class:`~vcmctc.runner.Containment` of the program."""
        if isinstance(argv, (str, bytes)) or not argv:
            raise UserError(f"task command must be a non-empty list of arguments, got {argv!r}")
        self.extra = dict(extra_values or {})
        check_template(argv, (*PLACEHOLDERS, *self.extra), what="task command")
        self.argv = list(argv)
        self.env = env
        self.contain = contain

    @staticmethod
    def values(request: TaskRequest) -> dict:
        fmt = request.fmt
        return {"decoded": request.decoded if request.decoded is not None else "",
                "width": fmt.width if fmt else "", "height": fmt.height if fmt else "",
                "frames": request.frames, "bit_depth": fmt.bit_depth if fmt else "",
                "chroma": fmt.chroma if fmt else "",
                "first_frame": request.first_frame, "task": request.task,
                "output": request.output, "fps": request.fps, "sequence": request.sequence,
                "split_point": request.features.split.id if request.features is not None else ""}

    def run(self, request: TaskRequest) -> TaskRun:
        if request.decoded is None:
            raise UserError(f"{request.label}: the command adapter needs decoded data")
        argv = fill_template(self.argv, {**self.extra, **self.values(request)},
                             what="task command")
        workdir = request.workdir or request.output.parent
        workdir.mkdir(parents=True, exist_ok=True)
        request.output.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(request.output)
        proc = run_process(argv, timeout_s=request.timeout_s, workdir=workdir,
                           log_path=request.log, env=self.env, contain=self.contain)
        status, message = exit_status(proc, "task command", f"for {request.label}")
        if status == "ok":
            message = (f"{request.label}: task command wrote {request.output} in "
                       f"{proc.wall_s:.3f} s")
            problem = output_problem(request.output)   # checked before anything reads it
            if problem is not None:
                return TaskRun(status="bad-output", output=request.output,
                               output_kind=request.output_kind,
                               message=f"{request.label}: task output {problem}",
                               wall_s=proc.wall_s, cpu_s=proc.cpu_s, returncode=proc.returncode,
                               peak_rss_mb=proc.peak_rss_mb, argv=proc.argv, log=proc.log)
        return finish_run(request, status=status, message=message, wall_s=proc.wall_s,
                          cpu_s=proc.cpu_s, returncode=proc.returncode,
                          peak_rss_mb=proc.peak_rss_mb, argv=proc.argv, log=proc.log)
