"""Local-directory evidence store: large bodies from a finished local file (``put_file``) or
in pieces (``put_chunks``), never overwriting and never leaving half a file."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.evidence import (
    EvidenceStoreError,
    InvalidEvidenceKeyError,
    LocalEvidenceStore,
    sha256_hex,
)
from tests.integrations.helpers_evidence import SCAN_KEY, write_source

NOW = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
KEY = "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.json"


@pytest.fixture
def store(tmp_path: Path) -> LocalEvidenceStore:
    return LocalEvidenceStore(tmp_path / "evidence")


LARGE_SIZE = 5 * 1024 * 1024 + 12345  # several 1 MiB chunks plus a partial one


def _write_source(path: Path, size: int = LARGE_SIZE, seed: bytes = b"a") -> str:
    return write_source(path, size, seed)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_file_copies_a_large_file(store: LocalEvidenceStore, tmp_path: Path) -> None:
    source = tmp_path / "scan.jsonl"
    sha = _write_source(source)
    stored = store.put_file(
        SCAN_KEY, source, sha256=sha, content_type="application/x-ndjson", now=NOW
    )

    target = store.root / SCAN_KEY
    assert stored.created is True
    assert (stored.key, stored.uri, stored.sha256, stored.size) == (
        SCAN_KEY,
        target.as_uri(),
        sha,
        LARGE_SIZE,
    )
    assert (stored.version_id, stored.retain_until) == (None, None)
    assert target.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    # a copy, not a link: the caller's file keeps its own inode and mode, and can be deleted
    assert not os.path.samefile(source, target)
    assert source.stat().st_nlink == 1
    assert stat.S_IMODE(source.stat().st_mode) != 0o444
    source.unlink()
    assert hashlib.sha256(store.get(SCAN_KEY)).hexdigest() == sha
    head = store.head(SCAN_KEY)
    assert head is not None
    assert (head.sha256, head.size, head.created) == (sha, LARGE_SIZE, False)
    assert _files(store.root) == [SCAN_KEY]


def test_put_file_accepts_an_upper_case_digest(store: LocalEvidenceStore, tmp_path: Path) -> None:
    source = tmp_path / "small.json"
    source.write_bytes(b"{}")
    stored = store.put_file(
        KEY, source, sha256=sha256_hex(b"{}").upper(), content_type="application/json", now=NOW
    )
    assert stored.sha256 == sha256_hex(b"{}")


def test_put_file_never_overwrites(store: LocalEvidenceStore, tmp_path: Path) -> None:
    first_source = tmp_path / "first.jsonl"
    second_source = tmp_path / "second.jsonl"
    first_sha = _write_source(first_source, seed=b"first")
    second_sha = _write_source(second_source, size=LARGE_SIZE - 1, seed=b"second")
    assert first_sha != second_sha

    first = store.put_file(
        SCAN_KEY, first_source, sha256=first_sha, content_type="text/plain", now=NOW
    )
    second = store.put_file(
        SCAN_KEY, second_source, sha256=second_sha, content_type="text/plain", now=NOW
    )
    third = store.put(SCAN_KEY, b"bytes", content_type="text/plain", now=NOW)

    assert (first.created, second.created, third.created) == (True, False, False)
    assert second.sha256 == third.sha256 == first.sha256 == first_sha
    assert second.size == third.size == LARGE_SIZE
    assert (store.root / SCAN_KEY).read_bytes() == first_source.read_bytes()
    assert _files(store.root) == [SCAN_KEY]

    # and put_file onto a key that put() wrote keeps put()'s body
    store.put(KEY, b"first", content_type="application/json", now=NOW)
    kept = store.put_file(KEY, second_source, sha256=second_sha, content_type="x", now=NOW)
    assert (kept.created, kept.sha256) == (False, sha256_hex(b"first"))
    assert store.get(KEY) == b"first"


def test_put_file_rejects_a_digest_mismatch_and_leaves_nothing(
    store: LocalEvidenceStore, tmp_path: Path
) -> None:
    source = tmp_path / "scan.jsonl"
    sha = _write_source(source)
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(EvidenceStoreError, match=f"hashes to SHA-256 {sha}, not the expected"):
        store.put_file(SCAN_KEY, source, sha256=wrong, content_type="text/plain", now=NOW)

    assert store.head(SCAN_KEY) is None
    assert _files(store.root) == []  # neither the object nor a temporary file
    assert source.exists()  # the caller's file is untouched
    # the key is still free for the right body
    stored = store.put_file(SCAN_KEY, source, sha256=sha, content_type="text/plain", now=NOW)
    assert stored.created is True


def test_put_file_without_hard_links(
    store: LocalEvidenceStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported here")

    monkeypatch.setattr(os, "link", no_link)
    source = tmp_path / "scan.jsonl"
    sha = _write_source(source)
    first = store.put_file(SCAN_KEY, source, sha256=sha, content_type="text/plain", now=NOW)
    second = store.put_file(SCAN_KEY, source, sha256=sha, content_type="text/plain", now=NOW)
    assert (first.created, second.created) == (True, False)
    assert (store.root / SCAN_KEY).read_bytes() == source.read_bytes()
    assert stat.S_IMODE((store.root / SCAN_KEY).stat().st_mode) == 0o444
    assert _files(store.root) == [SCAN_KEY]

    wrong = hashlib.sha256(b"x").hexdigest()
    with pytest.raises(EvidenceStoreError, match="not the expected"):
        store.put_file("other.jsonl", source, sha256=wrong, content_type="text/plain", now=NOW)
    assert _files(store.root) == [SCAN_KEY]


@pytest.mark.parametrize("sha", ["", "abc", "g" * 64, "0" * 63, "0" * 65, " " + "0" * 64])
def test_put_file_rejects_a_malformed_digest(
    store: LocalEvidenceStore, tmp_path: Path, sha: str
) -> None:
    source = tmp_path / "x"
    source.write_bytes(b"x")
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        store.put_file(KEY, source, sha256=sha, content_type="text/plain", now=NOW)
    assert not store.root.exists()


def test_put_file_argument_errors(store: LocalEvidenceStore, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    sha = hashlib.sha256(b"").hexdigest()
    with pytest.raises(EvidenceStoreError, match="cannot read evidence source file"):
        store.put_file(KEY, missing, sha256=sha, content_type="text/plain", now=NOW)
    with pytest.raises(InvalidEvidenceKeyError):
        store.put_file("../x", missing, sha256=sha, content_type="text/plain", now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put_file(KEY, missing, sha256=sha, content_type="x", now=datetime(2025, 1, 6))
    assert not store.root.exists()


def _pieces(size: int = LARGE_SIZE, seed: bytes = b"a") -> tuple[list[bytes], str]:
    block = hashlib.sha512(seed).digest() * 2048  # 128 KiB
    pieces = [block] * (size // len(block)) + [block[: size % len(block)]]
    return pieces, hashlib.sha256(b"".join(pieces)).hexdigest()


def test_put_chunks_writes_the_pieces_in_order(store: LocalEvidenceStore) -> None:
    pieces, sha = _pieces()
    stored = store.put_chunks(SCAN_KEY, iter(pieces), content_type="application/x-ndjson", now=NOW)
    target = store.root / SCAN_KEY
    assert (stored.created, stored.sha256, stored.size) == (True, sha, LARGE_SIZE)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert not [p for p in target.parent.iterdir() if p.name != target.name]  # no temp left


def test_put_chunks_never_overwrites_and_leaves_the_pieces_unread(
    store: LocalEvidenceStore,
) -> None:
    first, first_sha = _pieces(seed=b"first")
    store.put_chunks(SCAN_KEY, iter(first), content_type="application/json", now=NOW)

    def second() -> Iterator[bytes]:
        raise AssertionError("an existing key must not consume the new body")
        yield b""  # pragma: no cover

    again = store.put_chunks(SCAN_KEY, second(), content_type="application/json", now=NOW)
    assert (again.created, again.sha256) == (False, first_sha)


def test_put_chunks_failing_midway_stores_nothing(store: LocalEvidenceStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * 1000
        raise OSError("disk gone")

    with pytest.raises(EvidenceStoreError, match="disk gone"):
        store.put_chunks(SCAN_KEY, broken(), content_type="application/json", now=NOW)
    assert store.head(SCAN_KEY) is None
    assert not any(p.is_file() for p in store.root.rglob("*"))
