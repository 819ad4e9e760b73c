"""S3 evidence store against a real local S3 endpoint: moto's ThreadedMotoServer on loopback.

What moto (5.2.x, server mode) enforces and what it does not is noted where it matters; see
shared/reference/protocols.md section 4. Retention dates are computed from the *real* clock
here, because moto decides whether a version is still locked with the real clock.
"""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from integrations.evidence import (
    EvidenceNotFoundError,
    EvidenceStore,
    EvidenceStoreError,
    S3EvidenceStore,
    build_s3_client,
    open_evidence_store,
)
from integrations.evidence import s3 as s3_module
from integrations.evidence.s3 import WRITE_CHECK_KEY, retain_until_for

KEY = "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.json"
PREFIX = "soc2/cc7.2"
DAYS = 400


def _client(endpoint: str, attempts: int) -> Any:
    """A boto3 S3 client for the moto endpoint with dummy credentials (never real AWS)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(endpoint: str) -> Any:
    return _client(endpoint, attempts=2)


def _bucket_name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def locked_bucket(client: Any) -> str:
    name = _bucket_name("locked")
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def store(client: Any, locked_bucket: str) -> S3EvidenceStore:
    store = open_evidence_store(
        f"s3://{locked_bucket}/{PREFIX}",
        s3_endpoint_url=None,
        retention_days=DAYS,
        s3_client=client,
    )
    assert isinstance(store, S3EvidenceStore)
    return store


def _now() -> datetime:
    return datetime.now(UTC)


def _versions(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    response = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in response.get("Versions", []) if v["Key"] == key]


def test_is_an_evidence_store(store: S3EvidenceStore) -> None:
    assert isinstance(store, EvidenceStore)


def test_put_writes_a_compliance_locked_object_with_sha256(
    store: S3EvidenceStore, client: Any, locked_bucket: str
) -> None:
    body = b'{"week": "2025-W01", "overdue_without_exception": 0}'
    now = _now()
    stored = store.put(KEY, body, content_type="application/json", now=now)

    s3_key = f"{PREFIX}/{KEY}"
    digest = hashlib.sha256(body)
    assert stored.created is True
    assert stored.key == KEY
    assert stored.uri == f"s3://{locked_bucket}/{s3_key}"
    assert stored.sha256 == digest.hexdigest()
    assert stored.size == len(body)
    assert stored.version_id
    assert stored.retain_until == retain_until_for(now, DAYS)
    assert stored.retain_until is not None
    assert timedelta(days=DAYS) <= stored.retain_until - now < timedelta(days=DAYS, seconds=1)

    head = client.head_object(Bucket=locked_bucket, Key=s3_key, ChecksumMode="ENABLED")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == stored.retain_until
    assert head["VersionId"] == stored.version_id
    assert head["ContentType"] == "application/json"
    assert head["ChecksumSHA256"] == base64.b64encode(digest.digest()).decode()

    got = client.get_object(
        Bucket=locked_bucket, Key=s3_key, VersionId=stored.version_id, ChecksumMode="ENABLED"
    )
    assert got["Body"].read() == body
    assert base64.b64decode(got["ChecksumSHA256"]).hex() == stored.sha256

    assert store.get(KEY) == body
    assert store.get(KEY, version_id=stored.version_id) == body
    head_info = store.head(KEY)
    assert head_info is not None
    assert head_info == type(stored)(
        uri=stored.uri,
        key=KEY,
        sha256=stored.sha256,
        size=stored.size,
        version_id=stored.version_id,
        retain_until=stored.retain_until,
        created=False,
    )


def test_get_object_retention_reports_compliance(
    store: S3EvidenceStore, endpoint: str, locked_bucket: str
) -> None:
    stored = store.put(KEY, b"x", content_type="application/json", now=_now())
    one_shot = _client(endpoint, attempts=1)
    try:
        retention = one_shot.get_object_retention(
            Bucket=locked_bucket, Key=f"{PREFIX}/{KEY}", VersionId=stored.version_id
        )
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] >= 500:
            pytest.skip("this moto server does not implement GetObjectRetention (HTTP 500)")
        raise
    assert retention["Retention"]["Mode"] == "COMPLIANCE"
    assert retention["Retention"]["RetainUntilDate"] == stored.retain_until


def test_locked_version_cannot_be_deleted(
    store: S3EvidenceStore, client: Any, locked_bucket: str
) -> None:
    stored = store.put(KEY, b"evidence", content_type="application/json", now=_now())
    s3_key = f"{PREFIX}/{KEY}"

    with pytest.raises(ClientError) as info:
        client.delete_object(Bucket=locked_bucket, Key=s3_key, VersionId=stored.version_id)
    assert info.value.response["Error"]["Code"] == "AccessDenied"

    # A delete without a version id only adds a delete marker; the locked version remains and
    # is still readable by its version id (which is why readers address versions by id).
    client.delete_object(Bucket=locked_bucket, Key=s3_key)
    assert store.head(KEY) is None
    assert store.get(KEY, version_id=stored.version_id) == b"evidence"
    assert [v["VersionId"] for v in _versions(client, locked_bucket, s3_key)] == [stored.version_id]


def test_second_put_keeps_the_first_and_creates_no_version(
    store: S3EvidenceStore, client: Any, locked_bucket: str
) -> None:
    first = store.put(KEY, b"first", content_type="application/json", now=_now())
    second = store.put(
        KEY, b"second, different", content_type="application/json", now=_now() + timedelta(days=1)
    )

    assert (first.created, second.created) == (True, False)
    assert second.sha256 == first.sha256 == hashlib.sha256(b"first").hexdigest()
    assert second.version_id == first.version_id
    assert second.retain_until == first.retain_until
    assert second.uri == first.uri
    assert store.get(KEY) == b"first"
    assert len(_versions(client, locked_bucket, f"{PREFIX}/{KEY}")) == 1


def test_conditional_write_protects_a_racing_put(
    store: S3EvidenceStore,
    client: Any,
    locked_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other writer wins between our HeadObject and PutObject: If-None-Match saves us."""
    other = store.put(KEY, b"other writer", content_type="application/json", now=_now())
    real_head = store.head
    calls: list[str] = []

    def stale_head(key: str) -> Any:
        calls.append(key)
        return None if len(calls) == 1 else real_head(key)

    monkeypatch.setattr(store, "head", stale_head)
    ours = store.put(KEY, b"ours", content_type="application/json", now=_now())

    assert len(calls) == 2  # the stale look-up, then the one after 412 PreconditionFailed
    assert ours.created is False
    assert ours.version_id == other.version_id
    assert ours.sha256 == hashlib.sha256(b"other writer").hexdigest()
    assert len(_versions(client, locked_bucket, f"{PREFIX}/{KEY}")) == 1


def test_moto_enforces_if_none_match(client: Any, locked_bucket: str) -> None:
    kwargs: dict[str, Any] = {
        "Bucket": locked_bucket,
        "Key": "plain-key",
        "Body": b"x",
        "ChecksumAlgorithm": "SHA256",
        "IfNoneMatch": "*",
    }
    client.put_object(**kwargs)
    with pytest.raises(ClientError) as info:
        client.put_object(**kwargs)
    assert info.value.response["Error"]["Code"] == "PreconditionFailed"


def test_head_and_get_missing(store: S3EvidenceStore) -> None:
    assert store.head("nothing/here.json") is None
    with pytest.raises(EvidenceNotFoundError, match=r"nothing/here\.json"):
        store.get("nothing/here.json")


def test_get_detects_a_checksum_mismatch(
    store: S3EvidenceStore, client: Any, locked_bucket: str
) -> None:
    # moto stores a supplied x-amz-checksum-sha256 without verifying it (real S3 would answer
    # BadDigest), which lets us plant a corrupt object and check that reads catch it.
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    client.put_object(
        Bucket=locked_bucket,
        Key=f"{PREFIX}/corrupt.json",
        Body=b"tampered",
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=wrong,
    )
    with pytest.raises(EvidenceStoreError):
        store.get("corrupt.json")


def test_list_sorted_under_prefix(store: S3EvidenceStore, client: Any, locked_bucket: str) -> None:
    keys = [
        "vulnerability-scans/2025/01/07/nuclei-b.json",
        "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.json",
        "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.csv",
        "vulnerability-scans/2025/01/06/nuclei-a.json",
    ]
    for key in keys:
        store.put(key, key.encode(), content_type="application/json", now=_now())
    assert store.check() == []  # writes the write-check probe, which list() must hide
    client.put_object(
        Bucket=locked_bucket, Key="elsewhere/x.json", Body=b"x", ChecksumAlgorithm="SHA256"
    )

    assert list(store.list("")) == sorted(keys)
    assert list(store.list("sla-snapshots/")) == sorted(k for k in keys if k.startswith("sla-"))
    assert list(store.list("vulnerability-scans/2025/01/06/")) == [
        "vulnerability-scans/2025/01/06/nuclei-a.json"
    ]
    assert list(store.list("nothing/")) == []


def test_bad_keys_rejected(store: S3EvidenceStore) -> None:
    for key in ("../x", "/abs", "a\\b", "a//b", ".hidden", WRITE_CHECK_KEY):
        with pytest.raises(ValueError, match="invalid evidence key"):
            store.put(key, b"x", content_type="text/plain", now=_now())


def test_naive_now_rejected(store: S3EvidenceStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put(KEY, b"x", content_type="application/json", now=datetime(2025, 1, 6))


def test_check_healthy_locked_bucket(
    store: S3EvidenceStore, client: Any, locked_bucket: str
) -> None:
    assert store.check() == []
    assert store.check() == []
    # the write probe is one fixed object; repeated checks add no versions
    assert len(_versions(client, locked_bucket, f"{PREFIX}/{WRITE_CHECK_KEY}")) == 1


def _store_for(client: Any, bucket: str) -> S3EvidenceStore:
    return S3EvidenceStore(client, bucket, "p", retention_days=DAYS)


def test_check_bucket_without_object_lock_or_versioning(client: Any) -> None:
    bucket = _bucket_name("plain")
    client.create_bucket(Bucket=bucket)
    problems = _store_for(client, bucket).check()
    assert len(problems) == 2, problems
    assert f"bucket {bucket!r} versioning is not enabled" in problems[0]
    assert f"bucket {bucket!r} has no Object Lock configuration" in problems[1]
    assert "ObjectLockEnabledForBucket=true" in problems[1]


def test_check_versioned_bucket_without_object_lock(client: Any) -> None:
    bucket = _bucket_name("versioned")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    problems = _store_for(client, bucket).check()
    assert len(problems) == 1, problems
    assert "no Object Lock configuration: evidence would be deletable" in problems[0]


def test_check_suspended_versioning(client: Any) -> None:
    bucket = _bucket_name("suspended")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    problems = _store_for(client, bucket).check()
    assert any("versioning is Suspended" in p for p in problems), problems


def test_check_missing_bucket(client: Any) -> None:
    bucket = _bucket_name("missing")
    problems = _store_for(client, bucket).check()
    assert problems == [
        f"bucket {bucket!r} does not exist: create it with ObjectLockEnabledForBucket=true"
    ]


def test_put_into_bucket_without_object_lock_fails_clearly(client: Any) -> None:
    bucket = _bucket_name("plain")
    client.create_bucket(Bucket=bucket)
    with pytest.raises(EvidenceStoreError, match=rf"s3://{bucket}/p/k\.json.*InvalidRequest"):
        _store_for(client, bucket).put("k.json", b"x", content_type="text/plain", now=_now())


def test_open_builds_its_own_client_from_the_endpoint(
    endpoint: str, client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    bucket = _bucket_name("endpoint")
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)

    store = open_evidence_store(f"s3://{bucket}/ev", s3_endpoint_url=endpoint, retention_days=30)
    assert store.check() == []
    stored = store.put("a.json", b"{}", content_type="application/json", now=_now())
    assert stored.created
    assert store.get("a.json", version_id=stored.version_id) == b"{}"
    assert store.describe() == f"s3://{bucket}/ev (Object Lock COMPLIANCE, 30 days)"


def test_client_has_bounded_retries_and_timeouts(endpoint: str) -> None:
    config: Any = build_s3_client(endpoint).meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert config.connect_timeout == 5
    assert config.read_timeout == 30
    assert config.s3 == {"addressing_style": "path", "payload_signing_enabled": False}
    aws_config: Any = build_s3_client(None).meta.config  # no request is made
    # AWS: default (virtual-hosted) addressing; bodies are covered by x-amz-checksum-sha256
    assert aws_config.s3 == {"payload_signing_enabled": False}


def test_retain_until_rounds_up_to_whole_seconds() -> None:
    now = datetime(2025, 1, 6, 2, 0, 0, 1, tzinfo=UTC)
    assert retain_until_for(now, 400) == datetime(2026, 2, 10, 2, 0, 1, tzinfo=UTC)
    exact = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
    assert retain_until_for(exact, 1) == datetime(2025, 1, 7, 2, 0, tzinfo=UTC)


# -- put_file: streaming a large body from a finished local file ------------------------------

SCAN_KEY = "vulnerability-scans/2025/01/06/nuclei-raw.jsonl"
LARGE_SIZE = 6 * 1024 * 1024 + 4321


def _write_source(path: Path, size: int = LARGE_SIZE, seed: bytes = b"a") -> str:
    digest = hashlib.sha256()
    block = hashlib.sha512(seed).digest() * 2048  # 128 KiB
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = block[:remaining]
            out.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def test_put_file_streams_a_compliance_locked_object(
    store: S3EvidenceStore, client: Any, locked_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "scan.jsonl"
    sha = _write_source(source)
    now = _now()
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
        SCAN_KEY, first_source, sha256=first_sha, content_type="text/plain", now=_now()
    )
    second = store.put_file(
        SCAN_KEY, second_source, sha256=second_sha, content_type="text/plain", now=_now()
    )
    third = store.put(SCAN_KEY, b"bytes", content_type="text/plain", now=_now())

    assert (first.created, second.created, third.created) == (True, False, False)
    assert first.sha256 == second.sha256 == third.sha256 == first_sha
    assert first.version_id == second.version_id == third.version_id
    assert store.get(SCAN_KEY) == first_source.read_bytes()
    assert len(_versions(client, locked_bucket, f"{PREFIX}/{SCAN_KEY}")) == 1


def test_put_file_racing_writer_is_stopped_by_if_none_match(
    store: S3EvidenceStore,
    client: Any,
    locked_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = store.put(SCAN_KEY, b"other writer", content_type="text/plain", now=_now())
    source = tmp_path / "scan.jsonl"
    sha = _write_source(source, size=1024 * 1024)
    real_head = store.head
    calls: list[str] = []

    def stale_head(key: str) -> Any:
        calls.append(key)
        return None if len(calls) == 1 else real_head(key)

    monkeypatch.setattr(store, "head", stale_head)
    ours = store.put_file(SCAN_KEY, source, sha256=sha, content_type="text/plain", now=_now())
    assert len(calls) == 2
    assert (ours.created, ours.version_id) == (False, other.version_id)
    assert ours.sha256 == hashlib.sha256(b"other writer").hexdigest()
    assert len(_versions(client, locked_bucket, f"{PREFIX}/{SCAN_KEY}")) == 1


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
        store.put_file(SCAN_KEY, source, sha256=sha, content_type="text/plain", now=_now())
    assert _versions(client, locked_bucket, f"{PREFIX}/{SCAN_KEY}") == []


def test_put_file_argument_errors(store: S3EvidenceStore, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    sha = hashlib.sha256(b"").hexdigest()
    with pytest.raises(EvidenceStoreError, match="cannot read evidence source file"):
        store.put_file(KEY, missing, sha256=sha, content_type="text/plain", now=_now())
    with pytest.raises(ValueError, match="invalid evidence key"):
        store.put_file("../x", missing, sha256=sha, content_type="text/plain", now=_now())
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        store.put_file(KEY, missing, sha256="abc", content_type="text/plain", now=_now())
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put_file(KEY, missing, sha256=sha, content_type="x", now=datetime(2025, 1, 6))
    assert store.head(KEY) is None


def test_put_file_reads_the_source_once(
    endpoint: str,
    client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The production client sends the caller's digest and does not hash the file again."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    bucket = _bucket_name("once")
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
    stored = store.put_file("scan.jsonl", source, sha256=sha, content_type="x", now=_now())
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
    now = _now()
    stored = store.put_chunks(SCAN_KEY, iter(pieces), content_type="application/x-ndjson", now=now)
    assert (stored.created, stored.sha256, stored.size) == (True, sha, LARGE_SIZE)
    head = client.head_object(
        Bucket=locked_bucket, Key=f"{PREFIX}/{SCAN_KEY}", ChecksumMode="ENABLED"
    )
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha)).decode()
    assert hashlib.sha256(store.get(SCAN_KEY)).hexdigest() == sha
