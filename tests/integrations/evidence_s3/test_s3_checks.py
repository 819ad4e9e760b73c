"""The S3 evidence store's bucket checks, its client and its retention dates, against moto on
loopback (fixtures in this folder's conftest)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.evidence import (
    EvidenceStoreError,
    S3EvidenceStore,
    build_s3_client,
    open_evidence_store,
)
from integrations.evidence.s3 import WRITE_CHECK_KEY, retain_until_for
from tests.integrations.evidence_s3.helpers import (
    DAYS,
    PREFIX,
    bucket_name,
    real_now,
    versions,
)


def test_check_healthy_locked_bucket(
    store: S3EvidenceStore, client: Any, locked_bucket: str
) -> None:
    assert store.check() == []
    assert store.check() == []
    # the write probe is one fixed object; repeated checks add no versions
    assert len(versions(client, locked_bucket, f"{PREFIX}/{WRITE_CHECK_KEY}")) == 1


def _store_for(client: Any, bucket: str) -> S3EvidenceStore:
    return S3EvidenceStore(client, bucket, "p", retention_days=DAYS)


def test_check_bucket_without_object_lock_or_versioning(client: Any) -> None:
    bucket = bucket_name("plain")
    client.create_bucket(Bucket=bucket)
    problems = _store_for(client, bucket).check()
    assert len(problems) == 2, problems
    assert f"bucket {bucket!r} versioning is not enabled" in problems[0]
    assert f"bucket {bucket!r} has no Object Lock configuration" in problems[1]
    assert "ObjectLockEnabledForBucket=true" in problems[1]


def test_check_versioned_bucket_without_object_lock(client: Any) -> None:
    bucket = bucket_name("versioned")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    problems = _store_for(client, bucket).check()
    assert len(problems) == 1, problems
    assert "no Object Lock configuration: evidence would be deletable" in problems[0]


def test_check_suspended_versioning(client: Any) -> None:
    bucket = bucket_name("suspended")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    problems = _store_for(client, bucket).check()
    assert any("versioning is Suspended" in p for p in problems), problems


def test_check_missing_bucket(client: Any) -> None:
    bucket = bucket_name("missing")
    problems = _store_for(client, bucket).check()
    assert problems == [
        f"bucket {bucket!r} does not exist: create it with ObjectLockEnabledForBucket=true"
    ]


def test_put_into_bucket_without_object_lock_fails_clearly(client: Any) -> None:
    bucket = bucket_name("plain")
    client.create_bucket(Bucket=bucket)
    with pytest.raises(EvidenceStoreError, match=rf"s3://{bucket}/p/k\.json.*InvalidRequest"):
        _store_for(client, bucket).put("k.json", b"x", content_type="text/plain", now=real_now())


@pytest.mark.usefixtures("dummy_aws_credentials")
def test_open_builds_its_own_client_from_the_endpoint(endpoint: str, client: Any) -> None:
    bucket = bucket_name("endpoint")
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)

    store = open_evidence_store(f"s3://{bucket}/ev", s3_endpoint_url=endpoint, retention_days=30)
    assert store.check() == []
    stored = store.put("a.json", b"{}", content_type="application/json", now=real_now())
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
