"""Task-output checks remembered by content, so a re-run does not parse every output again.

The verdict of :meth:`Family.check_output` (None, or the one-line problem) depends only on the
task output's bytes, its file name (messages name it), the family and the version of its check,
the sequence fields the check reads (metric, frame range) and vcmctc's version. It is stored in
the run's signed cache (:mod:`vcmctc.submission.cache`, stage ``output-check``) under the digest
of exactly those; a changed file has another SHA-256, misses and is checked again. A record
vcmctc did not sign (shipped, edited, another user's) is ignored and the file is checked.

The file's SHA-256 comes from :func:`~vcmctc.submission.cache.file_sha256`, remembered within
the process and across runs (``digests.json``): the digest a step key needs later is the same
one, never computed twice.

``vcmctc validate`` has no output folder and checks every output; ``vcmctc evaluate`` reads the
verdicts of earlier runs in its output folder while it validates, and seals the new ones once
the folder is its own (:func:`seal_checks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vcmctc import __version__
from vcmctc.submission.cache import Cache, file_sha256, hash_json

if TYPE_CHECKING:
    from vcmctc.ctc.schema import Sequence
    from vcmctc.families.base import Family

STAGE = "output-check"


def check_key(family: "Family", seq: "Sequence", path: Path, digest: str) -> str:
    """The cache key of the check of the task output ``path`` (SHA-256 ``digest``)."""
    return hash_json({"step": STAGE, "family": family.name, "check": family.check_version,
                      "metric": seq.metric, "kind": seq.kind,
                      "frames": [seq.first_frame, seq.frames], "name": Path(path).name,
                      "sha256": digest, "vcmctc": __version__})


def output_problem(family: "Family", seq: "Sequence", path: Path, cache: Cache | None = None,
                   *, found: dict[str, str | None] | None = None,
                   digest: str | None = None) -> str | None:
    """``family.check_output(seq, path)``, read back from ``cache`` when this content was
    checked before. A verdict computed here is sealed in ``cache`` at once, or (``found``
    given) kept there, key -> verdict, to be sealed later by :func:`seal_checks`. Folders
    (label maps) are always checked: their check lists them, it parses nothing."""
    if cache is None or not cache.enabled or not path.is_file():
        return family.check_output(seq, path)
    key = check_key(family, seq, path, digest or file_sha256(path))
    hit = cache.get(STAGE, key)
    if hit is not None and (hit.get("problem") is None or isinstance(hit["problem"], str)):
        return hit["problem"]
    problem = family.check_output(seq, path)
    if found is None:
        _seal(cache, key, problem)
    else:
        found[key] = problem
    return problem


def seal_checks(cache: Cache, found: dict[str, str | None]) -> int:
    """Seal verdicts kept by :func:`output_problem` (``found``); returns how many."""
    if not cache.enabled:
        return 0
    for key, problem in found.items():
        if cache.get(STAGE, key) is None:
            _seal(cache, key, problem)
    return len(found)


def _seal(cache: Cache, key: str, problem: str | None) -> None:
    cache.put(STAGE, key, {"problem": problem}, work=cache.workdir(STAGE, key))
