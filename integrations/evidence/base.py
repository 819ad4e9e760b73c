"""Evidence-store interface: write-once objects for SOC 2 CC7.2 evidence.

Two implementations live next to this module: :mod:`integrations.evidence.local` (a directory of
read-only files) and :mod:`integrations.evidence.s3` (S3 with Object Lock in COMPLIANCE mode).

Keys are relative, ``/``-separated paths such as
``sla-snapshots/2025/01/06/sla-snapshot-2025-W01.json``. Both stores validate them the same way
(:func:`validate_key`), so a key that works locally also works on S3 and vice versa.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "CHUNK_SIZE",
    "EvidenceNotFoundError",
    "EvidenceStore",
    "EvidenceStoreError",
    "InvalidEvidenceKeyError",
    "StoredObject",
    "normalize_sha256",
    "require_aware",
    "sha256_hex",
    "spool_chunks",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_LENGTH = 900  # S3 allows 1024 bytes for the full key; leave room for the URL prefix.
CHUNK_SIZE = 1 << 20  # 1 MiB: read/write/hash unit for file bodies; bounds memory per put_file
_SHA256_HEX_RE = re.compile(r"^[0-9a-fA-F]{64}$")


class EvidenceStoreError(Exception):
    """Any failure of an evidence store (I/O, permissions, S3 errors, integrity mismatches)."""


class EvidenceNotFoundError(EvidenceStoreError):
    """The requested key (or version) does not exist in the store."""


class InvalidEvidenceKeyError(EvidenceStoreError, ValueError):
    """The key is not an acceptable relative evidence path."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a store knows about one stored object.

    ``created`` is False when a ``put`` (of any kind) found the key already present: the existing
    object was kept (never overwritten) and these are *its* details, not those of the rejected
    body.
    """

    uri: str
    key: str
    sha256: str  # lower-case hex digest of the stored bytes
    size: int
    version_id: str | None
    retain_until: datetime | None
    created: bool


@runtime_checkable
class EvidenceStore(Protocol):
    """A write-once object store for evidence."""

    def put(self, key: str, body: bytes, *, content_type: str, now: datetime) -> StoredObject:
        """Store ``body`` under ``key`` unless the key exists; never overwrite.

        ``now`` (timezone-aware) is the caller's clock; retention is computed from it.
        """
        ...

    def put_file(
        self, key: str, path: Path, *, sha256: str, content_type: str, now: datetime
    ) -> StoredObject:
        """Like :meth:`put` for a large body in a finished local file, streamed, never loaded.

        ``sha256`` is the file's hex digest, computed by the caller while writing it. The store
        uses it as the integrity check of the upload (S3: ``ChecksumSHA256``, verified by the
        server) or verifies it while copying (local); a mismatch raises EvidenceStoreError and
        stores nothing. The caller keeps ownership of ``path`` (it is copied, never moved or
        linked) and may delete it afterwards. A malformed ``sha256`` raises ValueError.
        """
        ...

    def put_chunks(
        self, key: str, chunks: Iterable[bytes], *, content_type: str, now: datetime
    ) -> StoredObject:
        """Like :meth:`put` for a large body produced in pieces, never held whole in memory.

        ``chunks`` is consumed at most once (not at all when ``key`` already exists).
        """
        ...

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        """Return the stored bytes (of ``version_id`` when given)."""
        ...

    def head(self, key: str) -> StoredObject | None:
        """Details of the current object at ``key`` (``created=False``), or None."""
        ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (plain string prefix, as in S3), sorted."""
        ...

    def check(self) -> builtins.list[str]:
        """Configuration problems, one human-readable line each; empty when healthy."""
        ...

    def describe(self) -> str:
        """One line for logs and ``--help`` output, e.g. ``s3://b/p (Object Lock ...)``."""
        ...


def spool_chunks(chunks: Iterable[bytes], directory: str | None = None) -> tuple[Path, str]:
    """Write ``chunks`` to a new temporary file: (its path, hex SHA-256). The caller deletes
    the file. For stores that need the digest before the upload starts."""
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(prefix="slabot-evidence-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name), digest.hexdigest()


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def normalize_sha256(value: str) -> str:
    """``value`` as lower-case hex if it is a 64-digit hex SHA-256 digest, else ValueError."""
    if not isinstance(value, str) or not _SHA256_HEX_RE.match(value):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {value!r}")
    return value.lower()


def require_aware(now: datetime) -> datetime:
    """``now`` if it is timezone-aware, else ValueError."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative evidence path, else raise InvalidEvidenceKeyError.

    Rules: non-empty; ``/``-separated; not absolute; no backslash; no empty, ``.`` or ``..``
    segment; no segment starting with ``.`` (reserved for the stores' temporary files); no
    control characters; at most MAX_KEY_LENGTH UTF-8 bytes.
    """
    if not isinstance(key, str) or not key:
        raise InvalidEvidenceKeyError(f"evidence key must be a non-empty string, got {key!r}")

    def bad(reason: str) -> InvalidEvidenceKeyError:
        return InvalidEvidenceKeyError(f"invalid evidence key {key!r}: {reason}")

    if "\\" in key:
        raise bad("backslashes are not allowed; use '/' between path segments")
    if key.startswith("/"):
        raise bad("must be relative (no leading '/')")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise bad("control characters are not allowed")
    if len(key.encode("utf-8")) > MAX_KEY_LENGTH:
        raise bad(f"longer than {MAX_KEY_LENGTH} bytes")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise bad("empty, '.' and '..' path segments are not allowed")
        if segment.startswith("."):
            raise bad("path segments must not start with '.'")
    if len(key) >= 2 and key[1] == ":" and key[0].isalpha():
        raise bad("drive letters are not allowed")
    return key


def validate_prefix(prefix: str) -> str:
    """A list prefix: empty, or anything a key could start with (no '..', '\\', leading '/')."""
    if not prefix:
        return prefix
    if "\\" in prefix or prefix.startswith("/") or ".." in prefix.split("/"):
        raise InvalidEvidenceKeyError(
            f"invalid evidence prefix {prefix!r}: must be relative, without '\\' or '..'"
        )
    return prefix
