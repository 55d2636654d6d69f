"""Published md5 checksums of the source clips and ground truth, and a check of a data root.

The checksums are data: ``cfg/base/checksums/*.yaml``, each entry one published md5 with its
source (repository + commit + path). An entry names the sequence(s) and data set it belongs to,
its role and where the file lies under a data root in each known layout::

    files:
      - {sequence: Traffic, dataset: SFU, role: gt, md5: f697..., source: cav-datasets-readme,
         at: {vcmctc: "{gt}/Traffic_2560x1600_30_val.json",
              compressai-vision: SFU_HW_Obj/Traffic_2560x1600_30_val/annotations/Traffic_2560x1600_30_val.json}}

Roles: ``gt`` (ground truth the metrics are computed against), ``clip`` (the coded frames
only, as a YUV), ``source`` (the whole source sequence). Layouts: ``vcmctc`` (the edition's
``gt`` template, ``{gt}`` in a path), ``compressai-vision`` (CompressAI-Vision's
``fcm_testdata`` / ``VCM_TESTDATA`` folders), ``vcm-rs`` (VCM-RS's ``Data/`` folder). An entry
applies to an edition's sequence with the same id and data set.

:func:`checksums` gives the expected files of an edition's sequences; :func:`check_data_root`
looks each one up under a data root (the ``vcmctc`` path first, then the others; a ``{gt}``
folder holding exactly one file of the expected kind counts, as the task families load it) and
compares md5s. ``vcmctc validate --data-root`` calls it (``--no-md5`` skips the hashing).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from vcmctc.errors import UserError

if TYPE_CHECKING:
    from vcmctc.ctc.editions import Edition

ROLES = ("gt", "clip", "source")
LAYOUTS = ("vcmctc", "compressai-vision", "vcm-rs")
STATUSES = ("ok", "mismatch", "missing", "present")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_ENTRY_KEYS = {"sequence", "sequences", "dataset", "role", "md5", "source", "also", "at"}


@dataclass(frozen=True)
class ExpectedFile:
    """One published checksum as it applies to one sequence of an edition."""

    sequence: str
    dataset: str
    role: str
    md5: str
    paths: dict[str, str]            # layout -> path relative to the data root
    source: str                      # the publication, as the checksum file describes it
    also: tuple[str, ...] = ()       # other publications of the same md5
    checksum_file: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "dataset": self.dataset, "role": self.role,
                "md5": self.md5, "paths": dict(self.paths), "source": self.source,
                "also": list(self.also)}


@dataclass(frozen=True)
class FileCheck:
    """The outcome for one expected file: ``ok``, ``mismatch``, ``missing`` or, without
    hashing, ``present``."""

    expected: ExpectedFile
    status: str
    path: Path | None = None         # the file looked at (None when missing)
    layout: str | None = None
    actual: str | None = None        # its md5 (None when not hashed)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "present")

    def message(self) -> str:
        e = self.expected
        what = f"{e.sequence}: {e.role} file"
        if self.status == "missing":
            where = ", ".join(f"{k}: {v}" for k, v in e.paths.items())
            return f"{what} not found under the data root ({where})"
        if self.status == "mismatch":
            return (f"{what} {self.path} has md5 {self.actual}, the published md5 is {e.md5} "
                    f"({e.source})")
        return f"{what} {self.path}: {self.status}"

    def to_dict(self) -> dict[str, Any]:
        return {"sequence": self.expected.sequence, "role": self.expected.role,
                "status": self.status, "path": str(self.path) if self.path else None,
                "layout": self.layout, "md5": self.actual, "expected_md5": self.expected.md5}


@dataclass
class _Entry:
    sequences: tuple[str, ...]
    dataset: str
    role: str
    md5: str
    at: dict[str, str]
    source: str
    also: tuple[str, ...]
    file: Path
    index: int


def checksum_dir() -> Path:
    from vcmctc.paths import cfg_dir

    return cfg_dir() / "base" / "checksums"


def _entries(path: Path) -> list[_Entry]:
    """The entries of one checksum file, checked; UserError naming file and entry otherwise."""
    from vcmctc.safeload import load_yaml

    data = load_yaml(path)
    if not isinstance(data, dict) or set(data) - {"sources", "files"}:
        raise UserError("expected a mapping with 'sources' and 'files'", file=path)
    sources = data.get("sources") or {}
    files = data.get("files") or []
    if not isinstance(sources, dict) or not all(isinstance(v, str) and v for v in sources.values()):
        raise UserError("field 'sources': expected a mapping id -> description", file=path)
    if not isinstance(files, list):
        raise UserError("field 'files': expected a list of entries", file=path)
    out = []
    for i, e in enumerate(files):
        where = f"files[{i}]"
        if not isinstance(e, dict):
            raise UserError("expected a mapping", file=path, where=where)
        extra = set(e) - _ENTRY_KEYS
        if extra:
            raise UserError(f"unknown field(s) {', '.join(sorted(extra))}", file=path, where=where)
        seqs = e.get("sequences", [e["sequence"]] if "sequence" in e else None)
        if not isinstance(seqs, list) or not seqs or not all(isinstance(s, str) and s for s in seqs):
            raise UserError("give 'sequence' or 'sequences' (names)", file=path, where=where)
        md5 = e.get("md5")
        if not isinstance(md5, str) or not _MD5.match(md5):
            raise UserError(f"field 'md5': expected 32 lower-case hex digits, got {md5!r}",
                            file=path, where=where)
        role = e.get("role")
        if role not in ROLES:
            raise UserError(f"field 'role': {role!r} is not one of {', '.join(ROLES)}",
                            file=path, where=where)
        if not isinstance(e.get("dataset"), str) or not e["dataset"]:
            raise UserError("field 'dataset': expected a data set id", file=path, where=where)
        at = e.get("at")
        if not isinstance(at, dict) or not at or set(at) - set(LAYOUTS) or \
                not all(isinstance(v, str) and v and not Path(v).is_absolute() and ".." not in Path(v).parts
                        for v in at.values()):
            raise UserError(f"field 'at': expected layout ({', '.join(LAYOUTS)}) -> relative path",
                            file=path, where=where)
        refs = [e.get("source"), *([e["also"]] if isinstance(e.get("also"), str) else e.get("also") or [])]
        for ref in refs:
            if ref not in sources:
                raise UserError(f"source {ref!r} is not in 'sources'", file=path, where=where)
        out.append(_Entry(tuple(seqs), e["dataset"], role, md5, dict(at), sources[refs[0]],
                          tuple(sources[r] for r in refs[1:]), path, i))
    return out


def checksum_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or checksum_dir()).glob("*.yaml"))


def all_entries(directory: Path | None = None) -> list[_Entry]:
    return [e for path in checksum_files(directory) for e in _entries(path)]


def checksums(edition: "Edition", *, roles: Iterable[str] | None = None,
              directory: Path | None = None) -> dict[str, list[ExpectedFile]]:
    """Sequence id -> the files with a published md5, for the sequences of ``edition`` (in its
    order; sequences without any are left out). ``roles`` limits the roles (default: all)."""
    wanted = set(roles or ROLES)
    unknown = wanted - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(sorted(unknown))}")
    entries = all_entries(directory)
    out: dict[str, list[ExpectedFile]] = {}
    for seq in edition.sequences.values():
        for e in entries:
            if seq.id not in e.sequences or e.dataset != seq.dataset or e.role not in wanted:
                continue
            gt = seq.gt.format(id=seq.id) if seq.gt else None
            paths = {}
            for layout, rel in e.at.items():
                if "{gt}" in rel:
                    if gt is None:
                        continue
                    rel = rel.replace("{gt}", gt)
                paths[layout] = rel
            out.setdefault(seq.id, []).append(ExpectedFile(
                seq.id, seq.dataset, e.role, e.md5, paths, e.source, e.also, e.file))
    return out


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _locate(root: Path, expected: ExpectedFile, gt_folder: str | None) -> tuple[Path, str] | None:
    order = [k for k in LAYOUTS if k in expected.paths]
    for layout in order:
        p = root / expected.paths[layout]
        if p.is_file():
            return p, layout
    # vcmctc's ground-truth folder with exactly one file of the expected kind (as loaded)
    if gt_folder is not None and "vcmctc" in expected.paths and \
            expected.paths["vcmctc"].startswith(gt_folder + "/"):
        folder = root / gt_folder
        suffix = Path(expected.paths["vcmctc"]).suffix
        if folder.is_dir():
            same = [p for p in folder.iterdir() if p.is_file() and p.suffix == suffix]
            if len(same) == 1:
                return same[0], "vcmctc"
    return None


def check_data_root(edition: "Edition", data_root: Path, *, sequences: Iterable[str] | None = None,
                    roles: Iterable[str] = ("gt",), hash_files: bool = True,
                    directory: Path | None = None) -> list[FileCheck]:
    """Look up every expected file of ``edition`` (only ``sequences``, ids or aliases, when given)
    under ``data_root`` and compare md5s. Without ``hash_files`` (``--no-md5``) found files are
    ``present``. Missing files are reported, not raised: whether they matter is the caller's call
    (a ground-truth file the plan needs is an error, a clip the submitter keeps elsewhere is not).
    """
    root = Path(data_root)
    if not root.is_dir():
        raise UserError("data root is not a folder", file=root)
    expected = checksums(edition, roles=roles, directory=directory)
    if sequences is not None:
        keep = {edition.sequence(s).id for s in sequences}
        expected = {k: v for k, v in expected.items() if k in keep}
    results = []
    for seq_id, files in expected.items():
        seq = edition.sequences[seq_id]
        gt_folder = seq.gt.format(id=seq.id) if seq.gt else None
        for exp in files:
            found = _locate(root, exp, gt_folder)
            if found is None:
                results.append(FileCheck(exp, "missing"))
                continue
            path, layout = found
            if not hash_files:
                results.append(FileCheck(exp, "present", path, layout))
                continue
            actual = md5_of(path)
            results.append(FileCheck(exp, "ok" if actual == exp.md5 else "mismatch", path, layout,
                                     actual))
    return results


def check_checksum_files(directory: Path | None = None) -> list[str]:
    """Problems of the bundled checksum files for ``vcmctc tables --check``: unreadable entries
    (``error: ...``), entries no edition uses and files published twice with different md5s."""
    from vcmctc.ctc.editions import list_editions, load_edition

    problems: list[str] = []
    entries: list[_Entry] = []
    for path in checksum_files(directory):
        try:
            entries += _entries(path)
        except UserError as exc:
            problems.append(f"error: {exc}")
    known = {(s.id, s.dataset) for ed_id in list_editions()
             for s in load_edition(ed_id).sequences.values()}
    seen: dict[tuple, str] = {}
    for e in entries:
        for seq in e.sequences:
            if (seq, e.dataset) not in known:
                problems.append(f"warning: {e.file.name}: files[{e.index}]: sequence {seq} of "
                                f"data set {e.dataset} is in no edition")
        for layout, rel in e.at.items():
            key = (layout, rel, e.sequences if "{gt}" in rel else ())
            if key in seen and seen[key] != e.md5:
                problems.append(f"error: {e.file.name}: files[{e.index}]: {rel} has md5 {e.md5} "
                                f"here and {seen[key]} in another entry")
            seen.setdefault(key, e.md5)
    return problems


__all__ = ["ExpectedFile", "FileCheck", "checksums", "check_data_root", "check_checksum_files",
           "md5_of", "ROLES", "LAYOUTS"]
