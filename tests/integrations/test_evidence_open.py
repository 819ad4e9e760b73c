"""open_evidence_store: URL parsing for file:// and s3:// evidence stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.evidence import (
    LocalEvidenceStore,
    S3EvidenceStore,
    open_evidence_store,
)


class _FakeClient:
    """Stands in for a boto3 client: opening a store makes no S3 call."""


def test_relative_file_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_evidence_store("file://./evidence", s3_endpoint_url=None, retention_days=400)
    assert isinstance(store, LocalEvidenceStore)
    assert store.root == tmp_path / "evidence"


def test_bare_relative_file_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_evidence_store("file://evidence/out", s3_endpoint_url=None, retention_days=400)
    assert isinstance(store, LocalEvidenceStore)
    assert store.root == tmp_path / "evidence" / "out"


def test_absolute_file_url(tmp_path: Path) -> None:
    target = tmp_path / "var" / "x"
    store = open_evidence_store(f"file://{target}", s3_endpoint_url=None, retention_days=400)
    assert isinstance(store, LocalEvidenceStore)
    assert store.root == target
    assert str(target).startswith("/")  # i.e. the URL was file:///...


def test_absolute_file_url_with_localhost_and_escapes(tmp_path: Path) -> None:
    store = open_evidence_store(
        f"file://localhost{tmp_path}/my%20evidence", s3_endpoint_url=None, retention_days=1
    )
    assert isinstance(store, LocalEvidenceStore)
    assert store.root == tmp_path / "my evidence"


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://evidence-bucket/prefix", "evidence-bucket", "prefix"),
        ("s3://evidence-bucket/soc2/cc7.2/", "evidence-bucket", "soc2/cc7.2"),
        ("s3://evidence-bucket", "evidence-bucket", ""),
        ("s3://evidence-bucket/", "evidence-bucket", ""),
        ("S3://my.bucket.example/p", "my.bucket.example", "p"),
    ],
)
def test_s3_url(url: str, bucket: str, prefix: str) -> None:
    store = open_evidence_store(
        url, s3_endpoint_url=None, retention_days=400, s3_client=_FakeClient()
    )
    assert isinstance(store, S3EvidenceStore)
    assert (store.bucket, store.prefix, store.retention_days) == (bucket, prefix, 400)
    expected = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}/"
    assert store.describe() == f"{expected} (Object Lock COMPLIANCE, 400 days)"
    assert store.object_key("a/b.json") == (f"{prefix}/a/b.json" if prefix else "a/b.json")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "evidence",
        "./evidence",
        "/var/evidence",
        "http://example.com/evidence",
        "gs://bucket/prefix",
        "file://",
        "file:///tmp/x?mode=ro",
        "s3://",
        "s3:///prefix",
        "s3://Bad_Bucket/prefix",
        "s3://ab/prefix",
        "s3://bucket/prefix?versionId=1",
        "s3://bucket/a/../b",
    ],
)
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ValueError) as info:
        open_evidence_store(url, s3_endpoint_url=None, retention_days=400, s3_client=_FakeClient())
    message = str(info.value)
    if url:
        assert repr(url) in message
    assert "file://" in message or "prefix" in message
    assert "s3://" in message


def test_s3_retention_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        open_evidence_store(
            "s3://bucket/p", s3_endpoint_url=None, retention_days=0, s3_client=_FakeClient()
        )
