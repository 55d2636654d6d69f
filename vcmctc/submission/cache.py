"""A content-addressed cache of evaluation steps that cannot lie, and atomic file writes.

A step's key is the hash of everything that determines its result (input digests, program
digests, settings, tool versions). Its folder ``<root>/<stage>/<key[:2]>/<key>/`` holds the
step's files and ``done.json``: a step without ``done.json`` never happened, so an interrupted
run leaves nothing half-done and the next run redoes only what is missing.

Each attempt at a step works in a private folder (:meth:`Cache.workdir`) that is renamed into
place, with its ``done.json``, when the step is sealed (:meth:`Cache.put`): several processes
or machines sharing one cache (Dask workers, shards of a Slurm job array) may run the same step
at once, or a worker may be killed in the middle of one, without any of them seeing a folder
half-written or another's files. The first complete result stays; a later attempt finding it
discards its own. A step that failed is sealed the same way with ``failed.json`` instead (its
logs kept), so a run that assembles what others computed does not run it again; a success
always replaces a failure. A step whose output files were deleted on purpose (the disk budget,
:meth:`Cache.prune`) keeps a valid record naming them (size, SHA-256), marked ``pruned``.

``done.json`` is signed with an HMAC-SHA256 keyed by a secret of the user (``cache-key`` in
:func:`vcmctc.paths.user_home`, made on first use with mode 0600, or ``$VCMCTC_CACHE_KEY`` for
workers that share a cache across machines). A record vcmctc did not write - shipped inside a
submission, edited by hand, signed by another user - fails the check and is recomputed, never
read. Records name their files relative to the step folder, with size and SHA-256: a moved or
copied cache stays valid, and a file that changed size is not trusted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

KEY_NAME = "cache-key"


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.
    ``mode`` defaults to what the umask allows (0666 & ~umask), as a plain ``open`` would."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def hash_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


_digests: dict[tuple, str] = {}
_used: set[tuple] = set()   # the entries this process looked up or computed
_digest_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered within the process per (device, inode, size, mtime, ctime):
    any write to the file changes its ctime, which a program cannot set back."""
    path = Path(path)
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _digest_lock:
        if key in _digests:
            _used.add(key)
            return _digests[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    with _digest_lock:
        _digests[key] = digest
        _used.add(key)
    return digest


def tree_sha256(paths: list[Path], root: Path) -> str:
    """One digest of several files: their paths relative to ``root`` and their SHA-256s."""
    return hash_json(sorted((str(p.relative_to(root)), file_sha256(p)) for p in paths))


def cache_secret() -> bytes:
    """The key that signs cache records (see the module docstring)."""
    env = os.environ.get("VCMCTC_CACHE_KEY")
    if env:
        return env.encode()
    from vcmctc.paths import user_home

    path = user_home() / KEY_NAME
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:       # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.urandom(32).hex().encode())
    return path.read_bytes()


class Cache:
    def __init__(self, root: Path, enabled: bool = True, secret: bytes | None = None):
        self.root = Path(root)
        self.enabled = enabled
        self.secret = cache_secret() if secret is None else secret

    def folder(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / key

    def _mac(self, stage: str, key: str, record: dict) -> str:
        body = json.dumps([stage, key, record], sort_keys=True, separators=(",", ":"))
        return hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()

    def _read(self, stage: str, key: str, name: str) -> dict | None:
        try:
            done = json.loads((self.folder(stage, key) / name).read_text(encoding="utf-8"))
            record, mac = done["record"], done["mac"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        sign_as = stage if name == "done.json" else f"failed:{stage}"
        if not isinstance(mac, str) or not hmac.compare_digest(mac, self._mac(sign_as, key, record)):
            return None
        return record

    def get(self, stage: str, key: str) -> dict | None:
        """The record of a finished step, or None if there is none vcmctc can trust. A record
        whose files were pruned on purpose is returned (with ``pruned``: true) without them."""
        if not self.enabled:
            return None
        record = self._read(stage, key, "done.json")
        if record is None:
            return None
        if record.get("pruned"):
            return record
        folder = self.folder(stage, key)
        for entry in record.get("files", []):
            path = folder / entry["name"]
            try:
                if path.is_symlink() or path.stat().st_size != entry["size"]:
                    return None
            except OSError:
                return None
        return record

    def get_failed(self, stage: str, key: str) -> dict | None:
        """The record of a step that failed (sealed by :meth:`put_failed`), if any."""
        if not self.enabled or self.get(stage, key) is not None:
            return None
        return self._read(stage, key, "failed.json")

    def workdir(self, stage: str, key: str) -> Path:
        """A new private folder for one attempt at the step, beside where the step's folder
        goes; :meth:`put` or :meth:`put_failed` moves it into place."""
        parent = self.folder(stage, key).parent
        parent.mkdir(parents=True, exist_ok=True)
        work = parent / f".{key}.{uuid.uuid4().hex[:12]}.tmp"
        work.mkdir()
        return work

    def put(self, stage: str, key: str, record: dict, files: tuple[str, ...] = (),
            work: Path | None = None) -> dict:
        """Seal a step: ``files`` (names in its work folder) are recorded with size and SHA-256,
        and the work folder becomes the step's folder. Returns the record in place: this one, or
        that of another process that sealed the same step first."""
        work = self.folder(stage, key) if work is None else Path(work)
        record = {**_relocate(record, work.name, key), "files": [
            {"name": name, "size": (work / name).stat().st_size,
             "sha256": file_sha256(work / name)} for name in files]}
        self._seal(work, "done.json", stage, key, record)
        if work == self.folder(stage, key):
            return record
        other = self._publish(stage, key, work, keep=lambda: self._complete(stage, key))
        return record if other is None else other

    def put_failed(self, stage: str, key: str, record: dict, work: Path) -> dict:
        """Seal a failed attempt (its logs stay in the step's folder). Returns the record in
        place: a success sealed by another process wins over this failure."""
        record = _relocate(record, Path(work).name, key)
        self._seal(Path(work), "failed.json", f"failed:{stage}", key, record)
        other = self._publish(stage, key, Path(work), keep=lambda: self.get(stage, key))
        return record if other is None else other

    def _complete(self, stage: str, key: str) -> dict | None:
        record = self.get(stage, key)
        return None if record is None or record.get("pruned") else record

    def _seal(self, work: Path, name: str, sign_as: str, key: str, record: dict) -> None:
        done = {"record": record, "mac": self._mac(sign_as, key, record)}
        atomic_write_text(work / name, json.dumps(done, indent=1))

    def _publish(self, stage: str, key: str, work: Path,
                 keep: Callable[[], dict | None]) -> dict | None:
        """Rename ``work`` to the step's folder. If a folder is there already, ``keep()`` says
        whether it stays (its record is returned and ``work`` deleted) or is replaced (None)."""
        final = self.folder(stage, key)
        for _ in range(100):
            try:
                os.rename(work, final)
                return None
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                    raise
            with self.lock(stage, key):
                existing = keep()
                if existing is not None:
                    shutil.rmtree(work, ignore_errors=True)
                    return existing
                trash = final.with_name(f".{key}.{uuid.uuid4().hex[:12]}.old")
                try:
                    os.rename(final, trash)
                except FileNotFoundError:
                    continue
                try:
                    os.rename(work, final)
                except OSError as exc:   # another process got in between: look again
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                        raise
                    continue
                finally:
                    shutil.rmtree(trash, ignore_errors=True)
                return None
        raise OSError(f"cannot seal cache step {final}: other processes keep replacing it")

    @contextlib.contextmanager
    def lock(self, stage: str, key: str) -> Iterator[None]:
        """An exclusive lock of one step across processes (``flock`` on a file beside it; NFS
        and Lustre clients map it to their lock protocol)."""
        import fcntl

        path = self.folder(stage, key).parent / f".{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def prune(self, stage: str, key: str) -> int:
        """Delete the output files of a finished step, keeping its record (names, sizes,
        SHA-256) valid and marked ``pruned``; returns the bytes freed. Files the record names
        in ``keep`` (evidence such as a feature decode's conformance file) stay."""
        with self.lock(stage, key):
            record = self.get(stage, key)
            if record is None or record.get("pruned"):
                return 0
            folder = self.folder(stage, key)
            freed = 0
            keep = set(record.get("keep", ()))
            for entry in record.get("files", []):
                if entry["name"] in keep:
                    continue
                try:
                    (folder / entry["name"]).unlink()
                    freed += entry["size"]
                except FileNotFoundError:
                    pass
            for sub in sorted({Path(e["name"]).parent for e in record.get("files", [])},
                              key=lambda p: -len(p.parts)):
                if sub != Path("."):
                    with contextlib.suppress(OSError):
                        (folder / sub).rmdir()
            self._seal(folder, "done.json", stage, key, {**record, "pruned": True})
        return freed

    def load_digests(self) -> int:
        """Read the digests of earlier runs (``digests.json``, signed like every record) into the
        process's memo; returns how many. A file's entry is keyed by device, inode, size,
        mtime and ctime: any write changes its ctime, which no program can set back, so a
        remembered digest is the file's. Entries that fail the signature are ignored."""
        if not self.enabled:
            return 0
        try:
            done = json.loads((self.root / "digests.json").read_text(encoding="utf-8"))
            entries, mac = done["entries"], done["mac"]
        except (OSError, ValueError, KeyError, TypeError):
            return 0
        if not isinstance(mac, str) or not hmac.compare_digest(
                mac, self._mac("digests", "", entries)):
            return 0
        loaded = 0
        with _digest_lock:
            for key, digest in entries:
                if isinstance(key, list) and len(key) == 5 and isinstance(digest, str):
                    _digests[tuple(key)] = digest
                    loaded += 1
        return loaded

    def save_digests(self) -> None:
        """Keep this process's file digests for the next run (see :meth:`load_digests`)."""
        if not self.enabled:
            return
        with _digest_lock:   # only what this run used: the file does not grow run after run
            entries = [[list(k), _digests[k]] for k in sorted(_used)]
        done = {"entries": entries, "mac": self._mac("digests", "", entries)}
        atomic_write_text(self.root / "digests.json", json.dumps(done, separators=(",", ":")))

    @staticmethod
    def file_digest(record: dict, name: str) -> str:
        return next(e["sha256"] for e in record["files"] if e["name"] == name)


def _relocate(record: dict, work_name: str, key: str) -> dict:
    """The record with the work folder's name replaced by the step's in every path it names,
    at any depth (a feature decode's conformance file sits in a nested mapping)."""
    def fix(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(work_name, key)
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value
    return fix(record)
