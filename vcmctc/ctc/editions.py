"""Load CTC editions from ``cfg/``: includes, overrides, per-field provenance, validation.

An edition file may ``include`` other files (paths relative to it; typically ``base/*.yaml`` that
hold clip metadata) and override what changed. Mappings merge key by key (sequences by id); lists
and scalars replace. Every sequence field remembers which source set it: the ``source`` of the
entry, else the file's ``default_source``. When an edition overrides a clip *fact* (fps, frames,
resolution...) that an included file set to another value, the disagreement is kept in the loaded
data beside the value used, and ``vcmctc tables --check`` demands a note explaining it.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from vcmctc.bd.settings import FIT_SOLVERS
from vcmctc.bd.settings import METHODS as BD_METHODS
from vcmctc.bd.settings import POLICIES as BD_POLICIES
from vcmctc.bd.settings import BDSettings
from vcmctc.ctc.schema import (
    CLASS_ROW_RULES, FACT_FIELDS, OVERALL_RULES, RATE_UNITS, TRACKS,
    Dataset, Sequence, _err, _int, _str, _unknown_keys, parse_sequence,
)
from vcmctc.errors import UserError
from vcmctc.paths import cfg_dir

TOP_FIELDS = {
    "id", "title", "track", "document", "software", "include", "abstract", "sources",
    "default_source", "scenarios", "default_scenario", "scenario_settings", "rate_points",
    "rate_unit", "bd", "aggregation", "classes", "datasets", "sequences", "drop_sequences",
    "notes", "order", "split_points",
}


@dataclass(frozen=True)
class Aggregation:
    class_rows: str = "mean"
    overall: str = "mean-of-sequences"


@dataclass(frozen=True)
class ClassInfo:
    id: str
    description: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class Edition:
    id: str
    title: str
    track: str
    document: str | None
    software: str | None
    sources: dict[str, str]
    scenarios: tuple[str, ...]
    default_scenario: str
    rate_points: int
    bd: BDSettings
    aggregation: Aggregation
    classes: dict[str, ClassInfo]
    datasets: dict[str, Dataset]
    sequences: dict[str, Sequence]
    notes: dict[str, str]
    scenario_settings: dict[str, Any]
    files: tuple[Path, ...]
    hash: str
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    # FCM: split point id -> SplitPoint (vcmctc.features.spec), named by datasets/sequences
    split_points: dict[str, Any] = field(default_factory=dict)

    def sequence(self, name: str) -> Sequence:
        """Find a sequence by id or alias; unknown names get a suggestion."""
        index = self.name_index()
        if name in index:
            return self.sequences[index[name]]
        near = difflib.get_close_matches(name, list(index), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise UserError(f"unknown sequence {name!r} in edition {self.id}{hint}")

    def name_index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for seq in self.sequences.values():
            index[seq.id] = seq.id
            for alias in seq.aliases:
                index.setdefault(alias, seq.id)
        return index

    def class_members(self, cls: str) -> list[Sequence]:
        return [s for s in self.sequences.values() if s.cls == cls]

    def qps(self, seq: Sequence, scenario: str | None = None) -> tuple[int, ...] | None:
        return seq.qps_for(scenario or self.default_scenario)

    def signature(self) -> dict[str, str]:
        return {"edition": self.id, "edition_hash": self.hash}


# ---------------------------------------------------------------------------------------------
# Reading and merging files


_PARSED: dict[tuple, Any] = {}  # (path, size, mtime, inode) -> parsed YAML, within a process


def _parse_cached(path: Path) -> Any:
    """The parsed YAML of a file (:func:`vcmctc.safeload.load_yaml`: size and depth limits,
    no aliases, no duplicate keys), parsed once per process while the file is unchanged;
    callers get their own copy."""
    from vcmctc.safeload import load_yaml

    try:
        st = path.stat()
    except FileNotFoundError:
        raise UserError("file not found", file=path) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", file=path) from None
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _PARSED:
        _PARSED[key] = load_yaml(path)
    return copy.deepcopy(_PARSED[key])


def _read_yaml(path: Path) -> dict[str, Any]:
    data = _parse_cached(path)
    if not isinstance(data, dict):
        raise UserError("expected a YAML mapping at the top level", file=path)
    _unknown_keys(str(path), data, TOP_FIELDS)
    return data


@dataclass
class _Merged:
    data: dict[str, Any]
    files: list[Path]
    # sequence id -> field -> source id of the file/entry that set it last
    field_sources: dict[str, dict[str, str]]
    # sequence id -> field -> (replaced value, its source)
    disagreements: dict[str, dict[str, tuple[Any, str]]]


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_merged(path: Path, stack: tuple[Path, ...] = ()) -> _Merged:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(p.name for p in (*stack, path))
        raise UserError(f"include cycle: {chain}", file=path)
    raw = _read_yaml(path)
    includes = raw.get("include") or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise UserError("field 'include': expected a file name or a list of them", file=path)

    merged = _Merged({}, [], {}, {})
    for inc in includes:
        sub = _load_merged(path.parent / inc, (*stack, path))
        merged.data = _deep_merge(merged.data, sub.data)
        merged.files += [f for f in sub.files if f not in merged.files]
        for sid, fs in sub.field_sources.items():
            merged.field_sources.setdefault(sid, {}).update(fs)
        for sid, dis in sub.disagreements.items():
            merged.disagreements.setdefault(sid, {}).update(dis)

    own = {k: v for k, v in raw.items() if k not in ("include", "abstract")}
    default_source = own.get("default_source") or merged.data.get("default_source")
    sequences = own.get("sequences") or {}
    if not isinstance(sequences, dict):
        raise UserError("field 'sequences': expected a mapping of sequence id -> fields", file=path)
    for sid, entry in sequences.items():
        if not isinstance(entry, dict):
            raise UserError(f"sequence {sid}: expected a mapping of fields", file=path)
        source = entry.get("source", default_source)
        previous = merged.data.get("sequences", {}).get(sid, {})
        prev_sources = merged.field_sources.get(sid, {})
        for key, value in entry.items():
            if key in ("source", "notes"):
                continue
            if (key in FACT_FIELDS and key in previous and previous[key] != value):
                merged.disagreements.setdefault(sid, {})[key] = (
                    previous[key], prev_sources.get(key, "?"))
            merged.field_sources.setdefault(sid, {})[key] = source or "?"

    merged.data = _deep_merge(merged.data, own)
    for sid in raw.get("drop_sequences") or []:
        merged.data.get("sequences", {}).pop(sid, None)
        merged.field_sources.pop(sid, None)
        merged.disagreements.pop(sid, None)
    merged.data.pop("drop_sequences", None)
    merged.files.append(path)
    return merged


# ---------------------------------------------------------------------------------------------
# Building the Edition


def _parse_bd(ctx: str, bd_raw: Any) -> BDSettings:
    """The edition's ``bd:`` settings; what it does not set comes from the engine defaults."""
    if not isinstance(bd_raw, dict):
        raise _err(ctx, f"field 'bd': expected a mapping, got {bd_raw!r}")
    _unknown_keys(f"{ctx}: bd", bd_raw, {"method", "policy", "min_points", "fit_solver",
                                         "min_overlap"})
    default = BDSettings()
    min_overlap = bd_raw.get("min_overlap", default.min_overlap)
    if isinstance(min_overlap, bool) or not isinstance(min_overlap, (int, float)) \
            or not 0 <= min_overlap <= 1:
        raise _err(ctx, f"field 'bd.min_overlap': expected a number in [0, 1], got {min_overlap!r}")
    return BDSettings(
        method=_str(ctx, "bd.method", bd_raw.get("method", default.method), choices=BD_METHODS,
                    nullable=False),
        policy=_str(ctx, "bd.policy", bd_raw.get("policy", default.policy), choices=BD_POLICIES,
                    nullable=False),
        min_points=_int(ctx, "bd.min_points", bd_raw.get("min_points", default.min_points),
                        minimum=2, nullable=False),
        fit_solver=_str(ctx, "bd.fit_solver", bd_raw.get("fit_solver", default.fit_solver),
                        choices=FIT_SOLVERS, nullable=False),
        min_overlap=float(min_overlap),
    )


def _parse_edition(merged: _Merged, path: Path) -> Edition:
    d = merged.data
    ctx = str(path)
    ed_id = _str(ctx, "id", d.get("id"), nullable=False)
    track = _str(ctx, "track", d.get("track"), choices=TRACKS, nullable=False)

    sources = d.get("sources") or {}
    if not isinstance(sources, dict) or not sources:
        raise _err(ctx, "field 'sources': expected a non-empty mapping source id -> description")

    scenarios = d.get("scenarios") or []
    if not isinstance(scenarios, list) or not scenarios:
        raise _err(ctx, "field 'scenarios': expected a non-empty list of scenario names")
    default_scenario = _str(ctx, "default_scenario", d.get("default_scenario", scenarios[0]),
                            choices=tuple(scenarios), nullable=False)
    rate_points = _int(ctx, "rate_points", d.get("rate_points"), minimum=2, nullable=False)
    rate_unit = _str(ctx, "rate_unit", d.get("rate_unit"), choices=RATE_UNITS)

    bd = _parse_bd(ctx, d.get("bd") or {})
    agg_raw = d.get("aggregation") or {}
    _unknown_keys(f"{ctx}: aggregation", agg_raw, {"class_rows", "overall"})
    aggregation = Aggregation(
        class_rows=_str(ctx, "aggregation.class_rows", agg_raw.get("class_rows", "mean"),
                        choices=CLASS_ROW_RULES, nullable=False),
        overall=_str(ctx, "aggregation.overall", agg_raw.get("overall", "mean-of-sequences"),
                     choices=OVERALL_RULES, nullable=False),
    )

    classes: dict[str, ClassInfo] = {}
    for cid, info in (d.get("classes") or {}).items():
        info = info or {}
        if not isinstance(info, dict):
            raise _err(f"{ctx}: class {cid}", "expected a mapping (description, optional)")
        _unknown_keys(f"{ctx}: class {cid}", info, {"description", "optional"})
        classes[str(cid)] = ClassInfo(str(cid), info.get("description"), bool(info.get("optional")))
    if not classes:
        raise _err(ctx, "field 'classes': expected at least one class")

    datasets = {}
    for ds_id, ds in (d.get("datasets") or {}).items():
        parsed = Dataset.parse(ctx, str(ds_id), ds)
        if parsed.rate_unit is None and rate_unit is not None:
            parsed = Dataset(**{**parsed.__dict__, "rate_unit": rate_unit})
        datasets[str(ds_id)] = parsed

    split_points = _split_points(ctx, d)
    sequences: dict[str, Sequence] = {}
    for sid, entry in (d.get("sequences") or {}).items():
        sid = str(sid)
        fs = merged.field_sources.get(sid, {})
        for key, src in fs.items():
            if src not in sources:
                raise _err(f"{ctx}: sequence {sid}",
                           f"field {key!r} cites source {src!r}, which is not in 'sources'")
        sequences[sid] = parse_sequence(ctx, sid, entry, track=track, datasets=datasets,
                                        classes=classes, field_sources=fs,
                                        disagreements=merged.disagreements.get(sid))
    if not sequences:
        raise _err(ctx, "field 'sequences': the edition has no sequences")
    for seq in sequences.values():
        if seq.split_point is not None and seq.split_point not in split_points:
            raise _err(f"{ctx}: sequence {seq.id}",
                       f"field 'split_point': {seq.split_point!r} is not defined in "
                       f"'split_points' (known: {', '.join(split_points) or 'none'})")
    order = d.get("order")
    if order is not None:  # explicit row order, e.g. as a paper or reporting template prints it
        if not isinstance(order, list) or sorted(map(str, order)) != sorted(sequences):
            missing = sorted(set(sequences) - set(map(str, order or [])))
            extra = sorted(set(map(str, order or [])) - set(sequences))
            raise _err(ctx, f"field 'order': must list every sequence once "
                            f"(missing: {missing or 'none'}; unknown: {extra or 'none'})")
        sequences = {str(sid): sequences[str(sid)] for sid in order}

    notes = d.get("notes") or {}
    if not isinstance(notes, dict):
        raise _err(ctx, "field 'notes': expected a mapping topic -> text")

    canonical = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return Edition(
        id=ed_id,
        title=_str(ctx, "title", d.get("title"), nullable=False),
        track=track,
        document=_str(ctx, "document", d.get("document")),
        software=_str(ctx, "software", d.get("software")),
        sources={str(k): str(v) for k, v in sources.items()},
        scenarios=tuple(str(s) for s in scenarios),
        default_scenario=default_scenario,
        rate_points=rate_points,
        bd=bd,
        aggregation=aggregation,
        classes=classes,
        datasets=datasets,
        sequences=sequences,
        notes={str(k): str(v) for k, v in notes.items()},
        scenario_settings=dict(d.get("scenario_settings") or {}),
        files=tuple(merged.files),
        hash=hashlib.sha256(canonical.encode()).hexdigest()[:16],
        raw=d,
        split_points=split_points,
    )


def _split_points(ctx: str, d: dict[str, Any]) -> dict[str, Any]:
    """The edition's split points (FCM), see :mod:`vcmctc.features.spec`."""
    from vcmctc.features.spec import parse_split_point

    raw = d.get("split_points") or {}
    if not isinstance(raw, dict):
        raise _err(ctx, "field 'split_points': expected a mapping id -> split point")
    return {str(k): parse_split_point(ctx, str(k), v) for k, v in raw.items()}


_INDEX: dict[tuple, dict[str, Path]] = {}  # (folder, its files' stats) -> edition id -> file


def edition_paths(directory: Path | None = None) -> dict[str, Path]:
    """Edition id -> file, for the non-abstract top-level ``*.yaml`` files of ``cfg/``. Built
    once per process while the folder's files are unchanged (an unreadable file counts under
    its file name)."""
    directory = directory or cfg_dir()
    files = sorted(directory.glob("*.yaml"))
    stamp = []
    for path in files:
        try:
            st = path.stat()
            stamp.append((path.name, st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            stamp.append((path.name, None, None, None))
    key = (str(directory.resolve()), tuple(stamp))
    if key in _INDEX:
        return dict(_INDEX[key])
    out: dict[str, Path] = {}
    for path in files:
        try:
            head = _parse_cached(path) or {}
        except UserError:
            head = {}
        if isinstance(head, dict) and head.get("abstract"):
            continue
        ed_id = head.get("id", path.stem) if isinstance(head, dict) else path.stem
        out[ed_id if isinstance(ed_id, str) else path.stem] = path
    _INDEX[key] = out
    return dict(out)


def list_editions() -> list[str]:
    return list(edition_paths())


@lru_cache(maxsize=32)
def _load_path(path: Path) -> Edition:
    raw = _read_yaml(path)
    if raw.get("abstract"):
        raise UserError("is an abstract base file, not an edition", file=path)
    merged = _load_merged(path)
    edition = _parse_edition(merged, path)
    if edition.id != path.stem:
        raise UserError(f"edition id {edition.id!r} does not match the file name", file=path)
    return edition


def load_edition(name: str | Path) -> Edition:
    """Load an edition by id (from the bundled ``cfg/``) or by path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return _load_path(path.resolve())
    # a bundled edition's file is named by its id (_load_path checks): found without reading
    # every edition of cfg/ to index them
    named = cfg_dir() / f"{name}.yaml"
    if "/" not in str(name) and not str(name).startswith(".") and named.is_file() \
            and not (_read_yaml(named) or {}).get("abstract"):
        return _load_path(named.resolve())
    paths = edition_paths()
    if str(name) not in paths:
        near = difflib.get_close_matches(str(name), list(paths), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise UserError(f"unknown CTC edition {str(name)!r}{hint} (known: {', '.join(paths)})")
    return _load_path(paths[str(name)].resolve())
