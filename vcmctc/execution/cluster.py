"""Batch clusters (Slurm, PBS, SGE, LSF) through dask-jobqueue, from a ``--cluster FILE``.

The file is YAML. vcmctc's own keys:

``kind``
    ``slurm``, ``pbs``, ``sge`` or ``lsf``.
``jobs``
    Batch jobs to start (each runs ``processes`` Dask workers), or
``adapt``
    ``{minimum: M, maximum: N}``: jobs started and stopped with the work left.
``gpus``
    GPUs per job. The job's workers offer the Dask resource ``GPU`` (task-network steps need
    ``GPU=1``); on Slurm it adds ``--gres=gpu:N`` to the job script. Without any job that
    has GPUs, task-network steps run on any worker.
``groups``
    More kinds of jobs sharing the scheduler, each a mapping of overrides with its own
    ``jobs`` (e.g. CPU jobs for the decoders beside GPU jobs for the task networks).
``scheduler_options``, ``dashboard_address``, ``host``, ``shared_temp_directory``
    Passed to the cluster (where the scheduler listens).

``processes`` (Dask workers per job) is 1 unless given: one worker per job, with ``cores``
threads, whose ``GPU`` resource lets one task network run per GPU while its other threads
decode and score.

Every other key is dask-jobqueue's job option of that name (``queue``, ``account``, ``cores``,
``memory``, ``processes``, ``walltime``, ``job_extra_directives``, ``job_script_prologue``,
``python``, ``local_directory``, ``log_directory``, ``interface``, ``worker_extra_args``...),
see https://jobqueue.dask.org/en/latest/configuration.html.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmctc.errors import UserError

KINDS = ("slurm", "pbs", "sge", "lsf")
CLUSTER_KEYS = ("scheduler_options", "dashboard_address", "host", "shared_temp_directory")
OWN_KEYS = ("kind", "jobs", "adapt", "gpus", "groups")
PLACEHOLDER = "tcp://SCHEDULER:8786"


def _classes(kind: str):
    try:
        import dask_jobqueue
    except ImportError:
        raise UserError("--cluster needs dask-jobqueue: pip install 'vcmctc[dask]'") from None
    name = {"slurm": "SLURM", "pbs": "PBS", "sge": "SGE", "lsf": "LSF"}[kind]
    cluster_cls = getattr(dask_jobqueue, f"{name}Cluster")
    return cluster_cls, cluster_cls.job_cls


@dataclass
class Group:
    name: str
    jobs: int
    gpus: int
    options: dict[str, Any]        # dask-jobqueue job options


@dataclass
class ClusterConfig:
    path: Path
    kind: str
    groups: list[Group]            # the first is the cluster's own job template
    adapt: dict[str, int] | None = None
    cluster_options: dict[str, Any] = field(default_factory=dict)

    @property
    def has_gpus(self) -> bool:
        return any(g.gpus > 0 for g in self.groups)

    def describe(self) -> str:
        return ", ".join(
            f"{g.name}: " + (f"{self.adapt['minimum']}-{self.adapt['maximum']} adaptive"
                             if self.adapt and i == 0 else f"{g.jobs}") + " job(s)"
            + (f" with {g.gpus} GPU(s)" if g.gpus else "")
            for i, g in enumerate(self.groups))

    def job_scripts(self, scheduler: str = PLACEHOLDER) -> dict[str, str]:
        """The batch script of each group's jobs, as dask-jobqueue submits them (no scheduler
        is started: ``scheduler`` is the address written in it)."""
        _, job_cls = _classes(self.kind)
        out = {}
        for g in self.groups:
            # dask-jobqueue makes the log folder when it renders a script: not for a preview
            made = _missing_folders(g.options.get("log_directory"))
            try:
                out[g.name] = job_cls(scheduler, name=f"{g.name}-0", **g.options).job_script()
            except (TypeError, ValueError) as exc:
                raise UserError(f"job options of {g.name!r}: {exc}", file=self.path) from None
            finally:
                for folder in made:
                    try:
                        folder.rmdir()
                    except OSError:
                        pass
        return out

    def start(self):
        """Start the scheduler and submit the jobs; returns the dask-jobqueue cluster."""
        cluster_cls, _ = _classes(self.kind)
        main = self.groups[0]
        options = {"silence_logs": "error", **self.cluster_options}
        options.setdefault("dashboard_address", None)
        try:
            cluster = cluster_cls(**options, **main.options)
        except (TypeError, ValueError) as exc:
            raise UserError(f"cluster options: {exc}", file=self.path) from None
        if self.adapt:
            cluster.adapt(minimum_jobs=self.adapt["minimum"], maximum_jobs=self.adapt["maximum"])
        elif main.jobs:
            cluster.scale(jobs=main.jobs)
        if len(self.groups) > 1:
            for g in self.groups[1:]:
                spec: dict[str, Any] = {"cls": cluster.job_cls,
                                        "options": {**cluster._job_kwargs, **g.options}}
                processes = g.options.get("processes", 1)
                if processes > 1:
                    spec["group"] = [f"-{i}" for i in range(processes)]
                for i in range(g.jobs):
                    cluster.worker_spec[f"{g.name}-{i}"] = copy.deepcopy(spec)
            cluster.sync(cluster._correct_state)
        return cluster


def _missing_folders(folder: str | None) -> list[Path]:
    """The folders of ``folder`` (and its parents) that do not exist, deepest first."""
    if not folder:
        return []
    missing = []
    path = Path(folder).absolute()
    while not path.exists():
        missing.append(path)
        path = path.parent
    return missing


def _job_options(path: Path, where: str, data: dict[str, Any], kind: str) -> tuple[dict, int, int]:
    """(job options, jobs, gpus) of a group's settings."""
    options = {k: v for k, v in data.items() if k not in OWN_KEYS and k not in CLUSTER_KEYS}
    jobs = data.get("jobs", 1)
    gpus = data.get("gpus", 0)
    for name, value in (("jobs", jobs), ("gpus", gpus)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UserError(f"{where}{name}: expected a whole number >= 0, got {value!r}",
                            file=path)
    for name in ("job_extra_directives", "job_script_prologue", "worker_extra_args"):
        if name in options and not (isinstance(options[name], list)
                                    and all(isinstance(x, str) for x in options[name])):
            raise UserError(f"{where}{name}: expected a list of strings", file=path)
    # one worker per job unless told (dask-jobqueue would start about sqrt(cores) workers,
    # each offering the job's GPUs: several task networks on one GPU)
    options.setdefault("processes", 1)
    # every group states these (a group must not inherit the main jobs' GPU settings)
    options["worker_extra_args"] = list(options.get("worker_extra_args", []))
    options["job_extra_directives"] = list(options.get("job_extra_directives", []))
    if gpus:
        options["worker_extra_args"] = [*options.get("worker_extra_args", []),
                                        "--resources", f"GPU={gpus}"]
        if kind == "slurm":
            options["job_extra_directives"] = [*options.get("job_extra_directives", []),
                                               f"--gres=gpu:{gpus}"]
    return options, jobs, gpus


def load_cluster(path: Path) -> ClusterConfig:
    """Read a cluster file (see the module docstring); a mistake is a UserError naming it."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read the cluster file: {exc.strerror}", file=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=path,
                        line=mark.line + 1 if mark is not None else None) from None
    if not isinstance(data, dict):
        raise UserError("expected a YAML mapping at the top level", file=path)
    kind = data.get("kind")
    if kind not in KINDS:
        raise UserError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}", file=path)
    adapt = data.get("adapt")
    if adapt is not None:
        if not (isinstance(adapt, dict) and set(adapt) == {"minimum", "maximum"}
                and all(isinstance(v, int) and v >= 0 for v in adapt.values())
                and adapt["minimum"] <= adapt["maximum"]):
            raise UserError("adapt: expected {minimum: M, maximum: N} with 0 <= M <= N",
                            file=path)
        if data.get("groups"):
            raise UserError("adapt and groups cannot be combined: give each group its jobs",
                            file=path)
    base = {k: v for k, v in data.items() if k != "groups"}
    options, jobs, gpus = _job_options(path, "", base, kind)
    groups = [Group("main", jobs, gpus, options)]
    extra = data.get("groups") or {}
    if not isinstance(extra, dict):
        raise UserError("groups: expected a mapping of group name -> settings", file=path)
    for name, settings in extra.items():
        if not isinstance(settings, dict):
            raise UserError(f"groups.{name}: expected a mapping of settings", file=path)
        bad = sorted(set(settings) & set(CLUSTER_KEYS + ("kind", "adapt", "groups")))
        if bad:
            raise UserError(f"groups.{name}.{bad[0]}: only the top level can set it", file=path)
        merged = {**{k: v for k, v in base.items() if k not in ("jobs", "gpus")}, **settings}
        options, jobs, gpus = _job_options(path, f"groups.{name}.", merged, kind)
        groups.append(Group(str(name), jobs, gpus, options))
    config = ClusterConfig(path, kind, groups, adapt,
                           {k: data[k] for k in CLUSTER_KEYS if k in data})
    config.job_scripts()   # every group's options must make a job script
    return config
