"""S3 evidence store: large bodies from a local file (``put_file``) or in pieces
(``put_chunks``), against moto on loopback (fixtures in this folder's conftest)."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from integrations.evidence import (
    EvidenceStoreError,
    S3EvidenceStore,
    build_s3_client,
)
from integrations.evidence import s3 as s3_module
from integrations.evidence.s3 import retain_until_for
from tests.integrations.evidence_s3.helpers import (
    DAYS,
    KEY,
    PREFIX,
    bucket_name,
    real_now,
    versions,
)
from tests.integrations.helpers_evidence import SCAN_KEY, write_source

LARGE_SIZE = 6 * 1024 * 1024 + 4321


def _write_source(path: Path, size: int = LARGE_SIZE, seed: bytes = b"a") -> str:
    return write_source(path, size, seed)


def test_put_file_streams_a_compliance_locked_object(
    store: S3EvidenceStore, client: Any, locked_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "scan.jsonl"
    sha = _write_source(source)
    now = real_now()
    stored = store.put_file(
        SCAN_KEY, source, sha256=sha, content_type="application/x-ndjson", now=now
    )

    s3_key = f"{PREFIX}/{SCAN_KEY}"
    assert stored.created is True
    assert (stored.key, stored.uri, stored.sha256, stored.size) == (
        SCAN_KEY,
        f"s3://{locked_bucket}/{s3_key}",
        sha,
        LARGE_SIZE,
    )
    assert stored.version_id
    assert stored.retain_until == retain_until_for(now, DAYS)

    head = client.head_object(Bucket=locked_bucket, Key=s3_key, ChecksumMode="ENABLED")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == stored.retain_until
    assert head["VersionId"] == stored.version_id
    assert head["ContentLength"] == LARGE_SIZE
    assert head["ContentType"] == "application/x-ndjson"
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha)).decode()

    body = store.get(SCAN_KEY, version_id=stored.version_id)  # verifies the stored checksum
    assert body == source.read_bytes()
    head_info = store.head(SCAN_KEY)
    assert head_info is not None
    assert (head_info.sha256, head_info.size, head_info.version_id) == (
        sha,
        LARGE_SIZE,
        stored.version_id,
    )
    assert source.exists()  # the caller's file is left for the caller to delete


def test_put_file_never_overwrites(
    store: S3EvidenceStore, client: Any, locked_bucket: str, tmp_path: Path
) -> None:
    first_source = tmp_path / "first.jsonl"
    second_source = tmp_path / "second.jsonl"
    first_sha = _write_source(first_source, size=1024 * 1024 + 1, seed=b"first")
    second_sha = _write_source(second_source, size=1024 * 1024 + 2, seed=b"second")

    first = store.put_file(
        SCAN_KEY, first_source, sha256=first_sha, content_type="text/plain", now=real_now()
    )
    second = store.put_file(
        SCAN_KEY, second_source, sha256=second_sha, content_type="text/plain", now=real_now()
    )
    third = store.put(SCAN_KEY, b"bytes", content_type="text/plain", now=real_now())

    assert (first.created, second.created, third.created) == (True, False, False)
    assert first.sha256 == second.sha256 == third.sha256 == first_sha
    assert first.version_id == second.version_id == third.version_id
    assert store.get(SCAN_KEY) == first_source.read_bytes()
    assert len(versions(client, locked_bucket, f"{PREFIX}/{SCAN_KEY}")) == 1


def test_put_file_racing_writer_is_stopped_by_if_none_match(
    store: S3EvidenceStore,
    client: Any,
    locked_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = store.put(SCAN_KEY, b"other writer", content_type="text/plain", now=real_now())
    source = tmp_path / "scan.jsonl"
    sha = _write_source(source, size=1024 * 1024)
    real_head = store.head
    calls: list[str] = []

    def stale_head(key: str) -> Any:
        calls.append(key)
        return None if len(calls) == 1 else real_head(key)

    monkeypatch.setattr(store, "head", stale_head)
    ours = store.put_file(SCAN_KEY, source, sha256=sha, content_type="text/plain", now=real_now())
    assert len(calls) == 2
    assert (ours.created, ours.version_id) == (False, other.version_id)
    assert ours.sha256 == hashlib.sha256(b"other writer").hexdigest()
    assert len(versions(client, locked_bucket, f"{PREFIX}/{SCAN_KEY}")) == 1


def test_put_file_over_the_single_put_limit_is_refused_before_any_request(
    store: S3EvidenceStore,
    client: Any,
    locked_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(s3_module, "MAX_SINGLE_PUT_BYTES", 1024)
    source = tmp_path / "big.jsonl"
    sha = _write_source(source, size=1025)
    with pytest.raises(EvidenceStoreError, match="at most 1024 bytes"):
        store.put_file(SCAN_KEY, source, sha256=sha, content_type="text/plain", now=real_now())
    assert versions(client, locked_bucket, f"{PREFIX}/{SCAN_KEY}") == []


def test_put_file_argument_errors(store: S3EvidenceStore, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    sha = hashlib.sha256(b"").hexdigest()
    with pytest.raises(EvidenceStoreError, match="cannot read evidence source file"):
        store.put_file(KEY, missing, sha256=sha, content_type="text/plain", now=real_now())
    with pytest.raises(ValueError, match="invalid evidence key"):
        store.put_file("../x", missing, sha256=sha, content_type="text/plain", now=real_now())
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        store.put_file(KEY, missing, sha256="abc", content_type="text/plain", now=real_now())
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put_file(KEY, missing, sha256=sha, content_type="x", now=datetime(2025, 1, 6))
    assert store.head(KEY) is None


@pytest.mark.usefixtures("dummy_aws_credentials")
def test_put_file_reads_the_source_once(
    endpoint: str,
    client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The production client sends the caller's digest and does not hash the file again."""
    bucket = bucket_name("once")
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store = S3EvidenceStore(build_s3_client(endpoint), bucket, "p", retention_days=DAYS)

    source = tmp_path / "scan.jsonl"
    sha = _write_source(source, size=3 * 1024 * 1024 + 5)
    bytes_read = 0

    class CountingReader(io.BufferedReader):
        def read(self, size: int | None = -1) -> bytes:
            nonlocal bytes_read
            chunk = super().read(size)
            bytes_read += len(chunk)
            return chunk

    def counting_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        assert (Path(file), mode) == (source, "rb")
        return CountingReader(io.FileIO(file, "rb"))

    monkeypatch.setattr(s3_module, "open", counting_open, raising=False)
    stored = store.put_file("scan.jsonl", source, sha256=sha, content_type="x", now=real_now())
    assert stored.created is True
    assert bytes_read == stored.size == source.stat().st_size
    assert hashlib.sha256(store.get("scan.jsonl")).hexdigest() == sha


def test_put_chunks_uploads_the_pieces_with_their_checksum(
    store: S3EvidenceStore, client: Any, locked_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "scan.jsonl"
    sha = _write_source(source)
    data = source.read_bytes()
    pieces = [data[i : i + 1_000_000] for i in range(0, len(data), 1_000_000)]
    now = real_now()
    stored = store.put_chunks(SCAN_KEY, iter(pieces), content_type="application/x-ndjson", now=now)
    assert (stored.created, stored.sha256, stored.size) == (True, sha, LARGE_SIZE)
    head = client.head_object(
        Bucket=locked_bucket, Key=f"{PREFIX}/{SCAN_KEY}", ChecksumMode="ENABLED"
    )
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha)).decode()
    assert hashlib.sha256(store.get(SCAN_KEY)).hexdigest() == sha
