"""Local-directory evidence store: one read-only file per key, never overwritten.

Write protocol (``put``, ``put_chunks`` and ``put_file``): the body goes to a temporary file in
the target's own directory (``.slabot-tmp-*``), is fsynced and made read-only (0o444), and is
then published with ``os.link(tmp, final)``. ``link`` fails with EEXIST instead of replacing an
existing file, so of any number of concurrent writers (threads or processes) exactly one creates
the file, and a reader never sees a partially written file. The others get the existing object
back with ``created=False``.

``put_chunks`` writes the caller's pieces into that temporary file, hashing as it goes.
``put_file`` copies the caller's file into that temporary file in CHUNK_SIZE (1 MiB) pieces,
hashing as it goes, and refuses to publish (EvidenceStoreError, temporary file removed) when the
digest differs from the caller's ``sha256``; memory use does not grow with the body. The
caller's file is copied, never linked or moved: a hard link would share its inode (and so its
mode and any later writes through the caller's path) with the evidence. A rejected ``put_file``
may leave the key's (empty) parent directories behind, but no file.

On filesystems without hard links (some network or FUSE mounts) the temporary file is copied to
``open(final, "xb")`` instead: still never overwrites, but a crash mid-copy can leave a
truncated file (an I/O error mid-copy removes it).

There is no retention lock here: the file mode only guards against accidents (root, or the
owner with ``chmod``, can still change it). Use the S3 store for auditor-facing evidence.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from .base import (
    CHUNK_SIZE,
    EvidenceNotFoundError,
    EvidenceStoreError,
    StoredObject,
    normalize_sha256,
    require_aware,
    sha256_hex,
    validate_key,
    validate_prefix,
)

__all__ = ["READ_ONLY_MODE", "LocalEvidenceStore"]

READ_ONLY_MODE = 0o444
_TMP_PREFIX = ".slabot-tmp-"
_CHECK_PREFIX = ".slabot-check-"
_NO_HARDLINK_ERRNOS = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
)

# Writes a body into an open temporary file; returns (lower-case hex SHA-256, size) of it.
_BodyWriter = Callable[[IO[bytes]], tuple[str, int]]


class LocalEvidenceStore:
    """Evidence store backed by a directory (``file://dir``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).absolute()

    @property
    def root(self) -> Path:
        return self._root

    # -- EvidenceStore -------------------------------------------------------------------------

    def put(self, key: str, body: bytes, *, content_type: str, now: datetime) -> StoredObject:
        del content_type  # a file has no content type; the key's extension carries it

        def write(out: IO[bytes]) -> tuple[str, int]:
            out.write(body)
            return sha256_hex(body), len(body)

        return self._put(key, write, now)

    def put_chunks(
        self, key: str, chunks: Iterable[bytes], *, content_type: str, now: datetime
    ) -> StoredObject:
        del content_type

        def write(out: IO[bytes]) -> tuple[str, int]:
            digest = hashlib.sha256()
            size = 0
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            return digest.hexdigest(), size

        return self._put(key, write, now)

    def put_file(
        self, key: str, path: Path, *, sha256: str, content_type: str, now: datetime
    ) -> StoredObject:
        del content_type
        expected = normalize_sha256(sha256)
        require_aware(now)
        self._path(key)  # validate the key before touching the source file
        source_path = Path(path)
        try:
            source = open(source_path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise EvidenceStoreError(
                f"cannot read evidence source file {str(source_path)!r}: {exc}"
            ) from exc

        def write(out: IO[bytes]) -> tuple[str, int]:
            try:
                actual, size = _copy_hashing(source, out)
            except OSError as exc:
                raise EvidenceStoreError(
                    f"cannot copy evidence source file {str(source_path)!r}: {exc}"
                ) from exc
            if actual != expected:
                raise EvidenceStoreError(
                    f"evidence source file {str(source_path)!r} ({size} bytes) hashes to SHA-256 "
                    f"{actual}, not the expected {expected}; nothing was stored under {key!r}"
                )
            return actual, size

        with source:
            return self._put(key, write, now)

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        if version_id is not None:
            raise EvidenceStoreError(
                f"the local evidence store keeps no versions (asked for {key!r} "
                f"version {version_id!r})"
            )
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise EvidenceNotFoundError(f"no evidence object {key!r} in {self.describe()}") from exc
        except OSError as exc:
            raise EvidenceStoreError(f"cannot read evidence file {str(path)!r}: {exc}") from exc

    def head(self, key: str) -> StoredObject | None:
        return self._stat_object(key, self._path(key))

    def list(self, prefix: str) -> Iterator[str]:
        validate_prefix(prefix)
        # Walk only the deepest directory the prefix names, then filter by the plain prefix.
        start_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._root.joinpath(*start_dir.split("/")) if start_dir else self._root
        keys: list[str] = []
        if start.is_dir():
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                rel_dir = Path(dirpath).relative_to(self._root).as_posix()
                for name in filenames:
                    if name.startswith("."):
                        continue
                    key = name if rel_dir == "." else f"{rel_dir}/{name}"
                    if key.startswith(prefix):
                        keys.append(key)
        return iter(sorted(keys))

    def check(self) -> builtins.list[str]:
        root = self._root
        if root.exists() and not root.is_dir():
            return [f"evidence directory {str(root)!r} exists but is not a directory"]
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return [f"evidence directory {str(root)!r} does not exist and cannot be created: {exc}"]
        try:
            fd, probe = tempfile.mkstemp(dir=root, prefix=_CHECK_PREFIX)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return [f"evidence directory {str(root)!r} is not writable: {exc}"]
        return []

    def describe(self) -> str:
        return (
            f"{self._root.as_uri()} (local directory: read-only files, never overwritten; "
            "no retention lock)"
        )

    # -- internals -----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        validate_key(key)
        return self._root.joinpath(*key.split("/"))

    def _put(self, key: str, write: _BodyWriter, now: datetime) -> StoredObject:
        """The one write path of ``put`` and ``put_file``: ``write`` fills the temporary file."""
        require_aware(now)
        path = self._path(key)
        existing = self._stat_object(key, path)
        if existing is not None:
            return existing

        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvidenceStoreError(
                f"cannot create directory {str(parent)!r} for evidence key {key!r}: {exc}"
            ) from exc

        try:
            written = self._publish(path, write)
        except OSError as exc:
            raise EvidenceStoreError(f"cannot write evidence file {str(path)!r}: {exc}") from exc
        if written is None:
            existing = self._stat_object(key, path)
            if existing is None:  # pragma: no cover - someone removed it in between
                raise EvidenceStoreError(f"evidence file {str(path)!r} vanished during put")
            return existing
        sha256, size = written
        return StoredObject(
            uri=path.as_uri(),
            key=key,
            sha256=sha256,
            size=size,
            version_id=None,
            retain_until=None,
            created=True,
        )

    def _stat_object(self, key: str, path: Path) -> StoredObject | None:
        try:
            if not stat.S_ISREG(path.stat().st_mode):
                return None
            with open(path, "rb") as stored:
                sha256, size = _copy_hashing(stored, None)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise EvidenceStoreError(f"cannot read evidence file {str(path)!r}: {exc}") from exc
        return StoredObject(
            uri=path.as_uri(),
            key=key,
            sha256=sha256,
            size=size,
            version_id=None,
            retain_until=None,
            created=False,
        )

    @staticmethod
    def _publish(path: Path, write: _BodyWriter) -> tuple[str, int] | None:
        """Write the body to ``path`` unless it exists: its (sha256, size) if this call did."""
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as tmp:
                written = write(tmp)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, READ_ONLY_MODE)
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                return None
            except OSError as exc:
                if exc.errno not in _NO_HARDLINK_ERRNOS:
                    raise
                if not _copy_exclusive(Path(tmp_name), path):
                    return None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        _fsync_dir(path.parent)
        return written


def _copy_hashing(source: IO[bytes], out: IO[bytes] | None) -> tuple[str, int]:
    """Copy ``source`` to ``out`` (if given) in CHUNK_SIZE pieces: (hex SHA-256, size)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
        if out is not None:
            out.write(chunk)
    return digest.hexdigest(), size


def _copy_exclusive(source: Path, path: Path) -> bool:
    """Fallback without hard links: copy ``source`` to a new ``path`` (O_CREAT|O_EXCL).

    Still never overwrites. False if ``path`` already exists. A failed copy removes the
    partial file (this call created it, so nobody else's object is touched).
    """
    try:
        out = open(path, "xb")  # noqa: SIM115 - closed below, chmod after close
    except FileExistsError:
        return False
    try:
        with out, open(source, "rb") as src:
            _copy_hashing(src, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(path, READ_ONLY_MODE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    _fsync_dir(path.parent)
    return True


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)
