"""The boto3 client slabot's S3 evidence store uses, and how its errors are read."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
# What a conditional write (If-None-Match: *) answers when the key already exists.
EXISTS_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


def build_s3_client(endpoint_url: str | None = None) -> S3Client:
    """A boto3 S3 client with bounded retries and timeouts.

    Credentials and region come from the usual boto3 chain (env, profile, instance role). With
    ``endpoint_url`` (an S3-compatible server such as moto) path-style addressing is used.

    Payload signing is off (``x-amz-content-sha256: UNSIGNED-PAYLOAD``): every write sends a
    signed ``x-amz-checksum-sha256`` header that S3 verifies against the body (BadDigest), so
    the SigV4 body hash adds no integrity, yet botocore would compute it by reading a file body
    once more before sending it (it does so whenever the caller supplies the checksum itself).
    """
    options: dict[str, Any] = {
        # total_max_attempts counts the first call too ("max_attempts" would mean retries).
        "retries": {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        "connect_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "request_checksum_calculation": "when_supported",
        "response_checksum_validation": "when_supported",
    }
    s3_options: dict[str, Any] = {"payload_signing_enabled": False}
    if endpoint_url:
        s3_options["addressing_style"] = "path"
    options["s3"] = s3_options
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url or None, config=Config(**options))


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.get('Code', '?')} (HTTP {status}): {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def b64_to_hex(value: str | None) -> str | None:
    """Hex of a base64 full-object SHA-256 checksum; None if absent or composite (``...-N``)."""
    if not value or "-" in value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None
