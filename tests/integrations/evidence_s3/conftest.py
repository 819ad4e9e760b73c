"""Shared fixtures of the S3 evidence-store tests: moto's ThreadedMotoServer on loopback
(one per test module) and a fresh Object Lock bucket per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from integrations.evidence import S3EvidenceStore, open_evidence_store
from tests.integrations.evidence_s3.helpers import DAYS, PREFIX, bucket_name, s3_client


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
