"""Evidence store (SOC 2 CC7.2): write-once local directory or S3 with Object Lock.

``open_evidence_store(settings.evidence_url, s3_endpoint_url=settings.s3_endpoint_url,
retention_days=settings.evidence_retention_days)`` is the one entry point the service uses.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote

from .base import (
    EvidenceNotFoundError,
    EvidenceStore,
    EvidenceStoreError,
    InvalidEvidenceKeyError,
    StoredObject,
    sha256_hex,
    validate_key,
)
from .local import LocalEvidenceStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from .s3 import S3EvidenceStore, build_s3_client

__all__ = [
    "EvidenceNotFoundError",
    "EvidenceStore",
    "EvidenceStoreError",
    "InvalidEvidenceKeyError",
    "LocalEvidenceStore",
    "S3EvidenceStore",
    "StoredObject",
    "build_s3_client",
    "open_evidence_store",
    "sha256_hex",
    "validate_key",
]

ACCEPTED_FORMS = (
    "file://DIR (relative, e.g. file://./evidence), file:///ABSOLUTE/DIR, or s3://BUCKET[/PREFIX]"
)
# S3 bucket naming rules (general purpose buckets): 3-63 chars, lower-case letters, digits,
# dots and hyphens, starting and ending with a letter or digit.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def open_evidence_store(
    url: str,
    *,
    s3_endpoint_url: str | None,
    retention_days: int,
    s3_client: object | None = None,
) -> EvidenceStore:
    """Open the store named by ``url`` (SLABOT_EVIDENCE_URL).

    ``s3_endpoint_url`` (SLABOT_S3_ENDPOINT_URL) selects an S3-compatible server; None means AWS.
    ``retention_days`` (SLABOT_EVIDENCE_RETENTION_DAYS) is the Object Lock retention for S3.
    ``s3_client`` injects a ready boto3 S3 client (tests); it wins over ``s3_endpoint_url``.
    Raises ValueError for a URL of any other form.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"empty evidence store URL; expected {ACCEPTED_FORMS}")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()

    if sep and scheme == "file":
        return LocalEvidenceStore(_file_path(url, rest))

    if sep and scheme == "s3":
        if retention_days < 1:
            raise ValueError(f"evidence retention must be at least 1 day, got {retention_days}")
        bucket, _, prefix = rest.partition("/")
        if "?" in rest or "#" in rest:
            raise ValueError(
                f"evidence store URL {url!r} must not have a query or fragment; "
                f"expected {ACCEPTED_FORMS}"
            )
        if not _BUCKET_RE.match(bucket):
            raise ValueError(
                f"evidence store URL {url!r}: {bucket!r} is not a valid S3 bucket name "
                f"(3-63 lower-case letters, digits, '.' or '-'); expected {ACCEPTED_FORMS}"
            )
        prefix = unquote(prefix).strip("/")
        from .s3 import S3EvidenceStore, build_s3_client  # boto3 only when S3 is configured

        try:
            if s3_client is None:
                client = build_s3_client(s3_endpoint_url)
            else:
                client = cast("S3Client", s3_client)
            return S3EvidenceStore(client, bucket, prefix, retention_days=retention_days)
        except InvalidEvidenceKeyError as exc:
            raise ValueError(f"evidence store URL {url!r}: bad prefix: {exc}") from exc

    raise ValueError(f"unsupported evidence store URL {url!r}; expected {ACCEPTED_FORMS}")


def _file_path(url: str, rest: str) -> str:
    if "?" in rest or "#" in rest:
        raise ValueError(
            f"evidence store URL {url!r} must not have a query or fragment; "
            f"expected {ACCEPTED_FORMS}"
        )
    if rest.startswith("localhost/"):
        rest = rest[len("localhost") :]
    path = unquote(rest)
    if not path:
        raise ValueError(
            f"evidence store URL {url!r} names no directory; expected {ACCEPTED_FORMS}"
        )
    return path


def __getattr__(name: str) -> object:
    """``S3EvidenceStore``/``build_s3_client`` import boto3 lazily (it costs ~0.3 s at start)."""
    if name in ("S3EvidenceStore", "build_s3_client"):
        from . import s3

        return getattr(s3, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
