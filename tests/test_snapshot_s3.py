"""The weekly snapshot on S3 with Object Lock (moto's ThreadedMotoServer on loopback).

moto decides whether a version is still locked with the real clock, so these tests write the
previous real ISO week at the real "now".
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bot.context import AppContext
from bot.snapshots.service import write_snapshot
from bot.snapshots.weeks import IsoWeek
from integrations.evidence import EvidenceStoreError, S3EvidenceStore
from tests.integrations.evidence_s3.helpers import moto_server
from tests.integrations.evidence_s3.helpers import s3_client as client_for
from tests.test_snapshot_support import History

PREFIX = "soc2"
DAYS = 400


@pytest.fixture(scope="module")
def s3_client() -> Iterator[Any]:
    with moto_server() as endpoint:
        yield client_for(endpoint, attempts=2)


def _s3_ctx(ctx: AppContext, client: Any, *, locked: bool) -> tuple[AppContext, str]:
    bucket = f"{'locked' if locked else 'plain'}-{uuid.uuid4().hex[:12]}"
    if locked:
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    else:
        client.create_bucket(Bucket=bucket)
    store = S3EvidenceStore(client, bucket, PREFIX, retention_days=DAYS)
    return replace(ctx, evidence=store), bucket


def test_snapshot_is_a_compliance_locked_object(ctx: AppContext, s3_client: Any) -> None:
    s3ctx, bucket = _s3_ctx(ctx, s3_client, locked=True)
    assert s3ctx.evidence.check() == []
    now = datetime.now(UTC)
    week = IsoWeek.previous_of(now)
    h = History(s3ctx)
    h.open_ticket(week.start + timedelta(days=1), due=week.first_day)
    h.scan(week.start + timedelta(days=1, hours=1))

    result = write_snapshot(s3ctx, week=week, now=now)
    assert result.created
    key = f"sla-snapshots/{now:%Y/%m/%d}/sla-snapshot-{week.label}.json"
    assert result.key == key and result.uri == f"s3://{bucket}/{PREFIX}/{key}"
    head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/{key}", ChecksumMode="ENABLED")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > now + timedelta(days=DAYS - 1)
    assert head["VersionId"] == result.version_id
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(result.sha256)).decode()
    body = s3ctx.evidence.get(key, version_id=result.version_id)
    assert hashlib.sha256(body).hexdigest() == result.sha256
    csv_head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/{key[:-5]}.csv")
    assert csv_head["ObjectLockMode"] == "COMPLIANCE"

    with pytest.raises(ClientError) as refused:
        s3_client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{key}", VersionId=result.version_id)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    again = write_snapshot(s3ctx, week=week, now=now + timedelta(minutes=5))
    assert (again.created, again.uri, again.version_id) == (False, result.uri, result.version_id)
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix=f"{PREFIX}/sla-snapshots/")
    assert len(versions.get("Versions", [])) == 2  # the JSON and the CSV, once each


def test_bucket_without_object_lock_is_reported_and_refused(
    ctx: AppContext, s3_client: Any
) -> None:
    s3ctx, _ = _s3_ctx(ctx, s3_client, locked=False)
    problems = s3ctx.evidence.check()
    assert any("no Object Lock configuration" in p for p in problems), problems
    now = datetime.now(UTC)
    week = IsoWeek.previous_of(now)
    History(s3ctx).open_ticket(week.start + timedelta(days=1))
    with pytest.raises(EvidenceStoreError):
        write_snapshot(s3ctx, week=week, now=now)
