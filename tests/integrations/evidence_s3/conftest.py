"""Shared fixtures of the S3 evidence-store tests: moto's ThreadedMotoServer on loopback
(one per test module) and a fresh Object Lock bucket per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.evidence import S3EvidenceStore, open_evidence_store
from tests.integrations.evidence_s3.helpers import (
    DAYS,
    PREFIX,
    bucket_name,
    moto_server,
    s3_client,
)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def client(endpoint: str) -> Any:
    return s3_client(endpoint, attempts=2)


@pytest.fixture
def locked_bucket(client: Any) -> str:
    name = bucket_name("locked")
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


@pytest.fixture
def dummy_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """For a client slabot builds itself (boto3's own credential chain): dummy keys in the
    environment, and no profile or file of this machine's that could point at real AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
