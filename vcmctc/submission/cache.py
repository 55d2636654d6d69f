"""A content-addressed cache of evaluation steps that cannot lie, and atomic file writes.

A step's key is the hash of everything that determines its result (input digests, program
digests, settings, tool versions). Its folder ``<root>/<stage>/<key[:2]>/<key>/`` holds the
step's files and, written last and atomically, ``done.json``: a step without ``done.json`` never
happened, so an interrupted run leaves nothing half-done and the next run redoes only what is
missing.

``done.json`` is signed with an HMAC-SHA256 keyed by a secret of the user (``cache-key`` in
:func:`vcmctc.paths.user_home`, made on first use with mode 0600, or ``$VCMCTC_CACHE_KEY`` for
workers that share a cache across machines). A record vcmctc did not write - shipped inside a
submission, edited by hand, signed by another user - fails the check and is recomputed, never
read. Records name their files relative to the step folder, with size and SHA-256: a moved or
copied cache stays valid, and a file that changed size is not trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

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
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def lock(self, stage: str, key: str) -> threading.Lock:
        """The lock of one step: two points whose step has the same key (identical inputs) run
        it once, the second reading what the first wrote."""
        with self._locks_lock:
            return self._locks.setdefault((stage, key), threading.Lock())

    def folder(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / key

    def _mac(self, stage: str, key: str, record: dict) -> str:
        body = json.dumps([stage, key, record], sort_keys=True, separators=(",", ":"))
        return hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()

    def get(self, stage: str, key: str) -> dict | None:
        """The record of a finished step, or None if there is none vcmctc can trust."""
        if not self.enabled:
            return None
        folder = self.folder(stage, key)
        try:
            done = json.loads((folder / "done.json").read_text(encoding="utf-8"))
            record, mac = done["record"], done["mac"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(mac, str) or not hmac.compare_digest(mac, self._mac(stage, key, record)):
            return None
        for entry in record.get("files", []):
            path = folder / entry["name"]
            try:
                if path.is_symlink() or path.stat().st_size != entry["size"]:
                    return None
            except OSError:
                return None
        return record

    def workdir(self, stage: str, key: str) -> Path:
        """A clean folder for the step's files (anything left by an interrupted try is removed)."""
        folder = self.folder(stage, key)
        if folder.exists() or folder.is_symlink():
            if folder.is_symlink() or not folder.is_dir():
                folder.unlink()
            else:
                shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def put(self, stage: str, key: str, record: dict, files: tuple[str, ...] = ()) -> dict:
        """Seal a step: ``files`` (names in its folder) are recorded with size and SHA-256."""
        folder = self.folder(stage, key)
        record = {**record, "files": [
            {"name": name, "size": (folder / name).stat().st_size,
             "sha256": file_sha256(folder / name)} for name in files]}
        done = {"record": record, "mac": self._mac(stage, key, record)}
        atomic_write_text(folder / "done.json", json.dumps(done, indent=1))
        return record

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
