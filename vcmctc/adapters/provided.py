"""The ``provided`` adapter: the submitter supplied the task output; check it, run nothing."""

from __future__ import annotations

from vcmctc.adapters import TaskRequest, TaskRun, finish_run


class ProvidedAdapter:
    """``request.output`` is the submitter's file; it must pass the request's check (the task
    family's output contract). ``request.decoded`` is not used."""

    def run(self, request: TaskRequest) -> TaskRun:
        return finish_run(request, status="ok",
                          message=f"{request.label}: using the submitted {request.output_kind} "
                                  f"{request.output}")
