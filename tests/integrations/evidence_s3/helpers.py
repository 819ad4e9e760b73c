"""Helpers of the S3 evidence-store tests (fixtures are in this folder's conftest)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

KEY = "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.json"
PREFIX = "soc2/cc7.2"
DAYS = 400


@contextmanager
def moto_server() -> Iterator[str]:
    """A real S3 endpoint on loopback (moto's server, port 0): its URL while it runs."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str, attempts: int) -> Any:
    """A boto3 S3 client for the moto endpoint with dummy credentials (never real AWS)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def bucket_name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def real_now() -> datetime:
    """The real clock: moto decides whether a version is still locked with it."""
    return datetime.now(UTC)


def versions(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    response = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in response.get("Versions", []) if v["Key"] == key]
