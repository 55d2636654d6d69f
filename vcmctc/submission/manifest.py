"""The submission manifest (``submission.yaml``): what a submitter hands in.

See ``docs/submission.md`` for an annotated example. Paths are relative to the submission
folder and must stay inside it. Parsing checks the shape of the file only; whether the files
exist, sizes match and every required sequence is there is :mod:`vcmctc.submission.validate`'s job.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmctc.errors import UserError

MANIFEST_NAME = "submission.yaml"

TOP_FIELDS = {"codec", "track", "edition", "anchor", "scenario", "decoder", "task", "sequences",
              "description", "contact", "reported_classes"}
DECODER_FIELDS = {"argv", "image_argv", "timeout_s", "output_pix_fmt", "output"}
DECODER_OUTPUTS = ("pixels", "features")   # features: FCM, see docs/features.md
TASK_FIELDS = {"adapter", "argv", "timeout_s", "config", "weights", "options", "entry"}
POINT_FIELDS = {"qp", "label", "bitstream", "side_info", "decoded", "decoded_md5", "task_output",
                "reported", "enc_time_s", "dec_time_s", "logs", "complexity",
                "original_features"}
# time_s: encoding + decoding time together, for sources that print only the sum;
# nn_part_*_s: the split network's parts (FCM), shown beside the codec times, never in them.
REPORTED_FIELDS = {"rate", "metric", "enc_time_s", "dec_time_s", "time_s", "nn_part_1_s",
                   "nn_part_2_s"}
CLASS_POINT_FIELDS = {"label", "rate", "metric"}
LOG_FIELDS = {"encoder", "decoder"}
EVIDENCE_LEVELS = ("reported", "outputs", "decoded")


@dataclass(frozen=True)
class DecoderSpec:
    argv: tuple[str, ...]
    timeout_s: float = 3600.0
    image_argv: tuple[str, ...] | None = None   # for image-set points (default: argv)
    output: str = "pixels"                       # pixels (YUV / PNG) | features (.npz)

    def argv_for(self, kind: str) -> tuple[str, ...]:
        return self.image_argv if kind == "images" and self.image_argv else self.argv


@dataclass(frozen=True)
class TaskSpec:
    adapter: str = "provided"
    argv: tuple[str, ...] = ()
    timeout_s: float = 3600.0
    config: str | None = None
    weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    entry: str | None = None        # torch adapter: "module:callable" building part 2


@dataclass(frozen=True)
class Point:
    """One rate point of one sequence as the submitter describes it."""

    sequence: str           # as written in the manifest (may be an alias)
    index: int              # position in the manifest list (for messages)
    label: str              # "qp22" style label, or the given label
    qp: int | None
    bitstreams: tuple[str, ...] = ()
    side_info: tuple[str, ...] = ()
    decoded: str | None = None
    decoded_md5: str | None = None
    task_output: str | None = None
    reported: dict[str, float] = field(default_factory=dict)
    enc_time_s: float | None = None
    dec_time_s: float | None = None
    logs: dict[str, str] = field(default_factory=dict)
    complexity: dict[str, float] = field(default_factory=dict)   # component -> kMAC/pixel
    original_features: str | None = None   # FCM: part 1's features before coding (MSE)

    @property
    def where(self) -> str:
        return f"sequence {self.sequence}, point {self.label}"

    def files(self) -> dict[str, tuple[str, ...]]:
        """Every file the point names, by role (relative paths)."""
        out: dict[str, tuple[str, ...]] = {"bitstream": self.bitstreams, "side-info": self.side_info}
        if self.decoded:
            out["decoded"] = (self.decoded,)
        if self.task_output:
            out["task-output"] = (self.task_output,)
        if self.original_features:
            out["original-features"] = (self.original_features,)
        for kind, path in self.logs.items():
            out[f"{kind}-log"] = (path,)
        return {k: v for k, v in out.items() if v}

    def best_evidence(self, has_decoder: bool) -> str | None:
        """The strongest evidence this point can support."""
        if self.bitstreams and has_decoder:
            return "decoded"
        if self.task_output:
            return "outputs"
        if "metric" in self.reported:
            return "reported"
        return None


@dataclass(frozen=True)
class Manifest:
    root: Path
    path: Path
    codec: str
    edition: str
    anchor: str | None
    track: str | None
    scenario: str | None
    decoder: DecoderSpec | None
    task: TaskSpec
    points: tuple[Point, ...]
    description: str | None = None
    # the submitter's own class rows (e.g. CompressAI-Vision's), shown beside vcmctc's:
    # class -> [{label, rate, metric}]
    reported_classes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def sequences(self) -> list[str]:
        return list(dict.fromkeys(p.sequence for p in self.points))


def _need(cond: bool, path: Path, where: str, msg: str) -> None:
    if not cond:
        raise UserError(msg, file=path, where=where)


def _unknown(data: dict, allowed: set[str], path: Path, where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        hints = []
        for key in extra:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hints.append(repr(key) + (f" (did you mean {near[0]!r}?)" if near else ""))
        raise UserError(f"unknown field(s) {', '.join(hints)}", file=path, where=where)


MAX_TIMEOUT_S = 7 * 24 * 3600.0   # a week: anything longer is a typo (and overflows timers)


def _number(value: Any, path: Path, where: str, name: str, *, minimum: float | None = None,
            positive: bool = False, maximum: float | None = None) -> float:
    """A finite number (never NaN, inf, or an integer too large for a float) in range."""
    _need(isinstance(value, (int, float)) and not isinstance(value, bool), path, where,
          f"field {name!r}: expected a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    _need(math.isfinite(number), path, where, f"field {name!r}: {_show(value)} is not a finite number")
    if positive and number <= 0:
        raise UserError(f"field {name!r}: {number:g} must be positive", file=path, where=where)
    if minimum is not None and number < minimum:
        raise UserError(f"field {name!r}: {number:g} must be >= {minimum:g}", file=path,
                        where=where)
    if maximum is not None and number > maximum:
        raise UserError(f"field {name!r}: {number:g} must be <= {maximum:g}", file=path,
                        where=where)
    return number


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _time(value: Any, path: Path, where: str, name: str) -> float:
    return _number(value, path, where, name, minimum=0.0)


def _timeout(value: Any, path: Path, where: str) -> float:
    return _number(value, path, where, "timeout_s", positive=True, maximum=MAX_TIMEOUT_S)


def _paths(value: Any, path: Path, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    _need(isinstance(value, list) and all(isinstance(v, str) and v for v in value), path, where,
          f"field {name!r}: expected a path or a list of paths, got {value!r}")
    return tuple(value)


def _argv(value: Any, path: Path, where: str) -> tuple[str, ...]:
    _need(isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value),
          path, where, "field 'argv': expected a non-empty list of arguments (never a shell string)")
    return tuple(str(v) for v in value)


def _parse_point(seq: str, i: int, raw: Any, path: Path) -> Point:
    where = f"sequence {seq}, point {i + 1}"
    _need(isinstance(raw, dict), path, where, "expected a mapping of fields")
    _unknown(raw, POINT_FIELDS, path, where)
    qp = raw.get("qp")
    if qp is not None:
        _need(isinstance(qp, int) and not isinstance(qp, bool) and -64 <= qp <= 255, path, where,
              f"field 'qp': expected an integer QP (-64..255), got {_show(qp)}")
    label = raw.get("label")
    _need(label is None or (isinstance(label, (str, int)) and not isinstance(label, bool)
                            and len(str(label)) <= 100), path, where,
          "field 'label': expected a short text")
    _need(qp is not None or label is not None, path, where, "needs 'qp' or 'label'")
    label = str(label) if label is not None else f"qp{qp}"
    where = f"sequence {seq}, point {label}"
    reported = raw.get("reported") or {}
    _need(isinstance(reported, dict), path, where, "field 'reported': expected a mapping")
    _unknown(reported, REPORTED_FIELDS, path, f"{where}, reported")
    reported = {k: _number(v, path, where, f"reported.{k}", positive=k == "rate",
                           minimum=0.0 if k.endswith("_s") else None)
                for k, v in reported.items()}
    logs = raw.get("logs") or {}
    _need(isinstance(logs, dict), path, where, "field 'logs': expected a mapping encoder/decoder -> path")
    _unknown(logs, LOG_FIELDS, path, f"{where}, logs")
    for key, value in logs.items():
        _need(isinstance(value, str) and value, path, where, f"field 'logs.{key}': expected a path")
    complexity = raw.get("complexity") or {}
    _need(isinstance(complexity, dict), path, where,
          "field 'complexity': expected a mapping component -> kMAC/pixel")
    complexity = {str(k): _number(v, path, where, f"complexity.{k}", minimum=0.0)
                  for k, v in complexity.items()}
    md5 = raw.get("decoded_md5")
    if md5 is not None:
        _need(isinstance(md5, str) and len(md5) == 32 and all(c in "0123456789abcdef" for c in md5.lower()),
              path, where, f"field 'decoded_md5': expected 32 hex digits, got {md5!r}")
    for key in ("decoded", "task_output", "original_features"):
        if raw.get(key) is not None:
            _need(isinstance(raw[key], str) and raw[key], path, where, f"field {key!r}: expected a path")
    return Point(
        sequence=seq, index=i, label=label, qp=qp,
        bitstreams=_paths(raw.get("bitstream"), path, where, "bitstream"),
        side_info=_paths(raw.get("side_info"), path, where, "side_info"),
        decoded=raw.get("decoded"), decoded_md5=md5.lower() if md5 else None,
        task_output=raw.get("task_output"), reported=reported,
        enc_time_s=_time(raw["enc_time_s"], path, where, "enc_time_s") if "enc_time_s" in raw else None,
        dec_time_s=_time(raw["dec_time_s"], path, where, "dec_time_s") if "dec_time_s" in raw else None,
        logs=dict(logs), complexity=complexity, original_features=raw.get("original_features"),
    )


def load_manifest(folder: str | Path) -> Manifest:
    """Parse ``folder/submission.yaml`` (or a manifest path); errors name file and field."""
    import yaml

    from vcmctc.safeload import load_yaml

    folder = Path(folder)
    path = folder if folder.is_file() else folder / MANIFEST_NAME
    root = path.parent.resolve()
    if not path.is_file():
        raise UserError(f"no {MANIFEST_NAME} here (run 'vcmctc init --edition ID {folder}' to "
                        "write a skeleton)", file=folder)
    try:
        data = load_yaml(path)  # limits: size, depth, no aliases, no duplicate keys
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=path,
                        line=mark.line + 1 if mark else None) from None
    except UnicodeDecodeError:
        raise UserError("not a UTF-8 text file", file=path) from None
    _need(isinstance(data, dict), path, "top level", "expected a YAML mapping")
    _unknown(data, TOP_FIELDS, path, "top level")
    for key in ("codec", "edition"):
        _need(isinstance(data.get(key), str) and data[key], path, "top level",
              f"field {key!r}: expected a non-empty string")
    for key in ("anchor", "track", "scenario", "description", "contact"):
        _need(data.get(key) is None or (isinstance(data[key], str) and data[key]), path,
              "top level", f"field {key!r}: expected a non-empty string, got {_show(data.get(key))}")

    decoder = None
    if data.get("decoder") is not None:
        raw = data["decoder"]
        _need(isinstance(raw, dict), path, "decoder", "expected a mapping with 'argv'")
        _unknown(raw, DECODER_FIELDS, path, "decoder")
        _need(raw.get("output", "pixels") in DECODER_OUTPUTS, path, "decoder",
              f"field 'output': expected one of {', '.join(DECODER_OUTPUTS)}, got "
              f"{_show(raw.get('output'))}")
        decoder = DecoderSpec(argv=_argv(raw.get("argv"), path, "decoder"),
                              output=raw.get("output", "pixels"),
                              timeout_s=_timeout(raw.get("timeout_s", 3600), path, "decoder"),
                              image_argv=(_argv(raw["image_argv"], path, "decoder.image_argv")
                                          if raw.get("image_argv") is not None else None))
    raw_task = data.get("task") or {}
    _need(isinstance(raw_task, dict), path, "task", "expected a mapping with 'adapter'")
    _unknown(raw_task, TASK_FIELDS, path, "task")
    adapter = raw_task.get("adapter", "provided")
    _need(isinstance(adapter, str), path, "task", "field 'adapter': expected a name")
    for key in ("config", "weights", "entry"):
        _need(raw_task.get(key) is None or (isinstance(raw_task[key], str) and raw_task[key]),
              path, "task", f"field {key!r}: expected a path")
    _need(isinstance(raw_task.get("options") or {}, dict), path, "task",
          "field 'options': expected a mapping")
    task = TaskSpec(
        adapter=adapter,
        argv=_argv(raw_task["argv"], path, "task") if "argv" in raw_task else (),
        timeout_s=_timeout(raw_task.get("timeout_s", 3600), path, "task"),
        config=raw_task.get("config"), weights=raw_task.get("weights"),
        options=dict(raw_task.get("options") or {}), entry=raw_task.get("entry"),
    )
    if adapter == "command":
        _need(bool(task.argv), path, "task", "the command adapter needs 'argv'")

    seqs = data.get("sequences")
    _need(isinstance(seqs, dict) and seqs, path, "sequences",
          "expected a mapping: sequence name -> list of rate points")
    points: list[Point] = []
    for seq, raw_points in seqs.items():
        seq = str(seq)
        _need(isinstance(raw_points, list) and raw_points, path, f"sequence {seq}",
              "expected a non-empty list of rate points")
        points += [_parse_point(seq, i, p, path) for i, p in enumerate(raw_points)]
    classes: dict[str, list[dict[str, Any]]] = {}
    raw_classes = data.get("reported_classes") or {}
    _need(isinstance(raw_classes, dict), path, "reported_classes",
          "expected a mapping: class -> list of {label, rate, metric}")
    for cls, raw_points in raw_classes.items():
        where = f"reported_classes, {cls}"
        _need(isinstance(raw_points, list) and raw_points, path, where,
              "expected a non-empty list of {label, rate, metric}")
        classes[str(cls)] = []
        for i, raw in enumerate(raw_points):
            _need(isinstance(raw, dict), path, f"{where}[{i}]", "expected a mapping")
            _unknown(raw, CLASS_POINT_FIELDS, path, f"{where}[{i}]")
            classes[str(cls)].append({"label": str(raw.get("label", i)),
                                      "rate": _number(raw.get("rate"), path, where, "rate",
                                                      positive=True),
                                      "metric": _number(raw.get("metric"), path, where, "metric")})
    return Manifest(
        root=root, path=path, codec=data["codec"], edition=data["edition"],
        anchor=data.get("anchor"), track=data.get("track"), scenario=data.get("scenario"),
        decoder=decoder, task=task, points=tuple(points), description=data.get("description"),
        reported_classes=classes,
    )
