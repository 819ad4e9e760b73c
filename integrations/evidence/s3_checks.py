"""Whether an S3 bucket can hold slabot's evidence: it exists and is reachable, keeps
versions, has Object Lock, and takes writes. Each problem is named with what to do about it."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from .s3_client import EXISTS_CODES, describe_error, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

WRITE_CHECK_BODY = b"slabot evidence-store write check\n"


def bucket_problems(client: S3Client, bucket: str, *, write_check_key: str) -> list[str]:
    """Everything that stops ``bucket`` from holding evidence (empty when it can); a bucket
    that cannot be reached at all is the only problem reported for it."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc)
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return [
                f"bucket {bucket!r} does not exist: create it with ObjectLockEnabledForBucket=true"
            ]
        if code in {"403", "AccessDenied", "Forbidden"}:
            return [f"bucket {bucket!r}: access denied (s3:ListBucket) - check credentials"]
        return [f"bucket {bucket!r} cannot be reached: {describe_error(exc)}"]
    except BotoCoreError as exc:
        return [f"bucket {bucket!r} cannot be reached: {describe_error(exc)}"]

    found = (
        _versioning_problem(client, bucket),
        _object_lock_problem(client, bucket),
        _write_problem(client, bucket, write_check_key),
    )
    return [problem for problem in found if problem]


def _versioning_problem(client: S3Client, bucket: str) -> str | None:
    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except (ClientError, BotoCoreError) as exc:
        return f"bucket {bucket!r}: cannot read versioning status: {describe_error(exc)}"
    if status != "Enabled":
        return (
            f"bucket {bucket!r} versioning is {status or 'not enabled'}: Object Lock "
            "needs versioning Enabled, or evidence versions are not kept"
        )
    return None


def _object_lock_problem(client: S3Client, bucket: str) -> str | None:
    no_lock = (
        f"bucket {bucket!r} has no Object Lock configuration: evidence would be deletable; "
        "create the bucket with ObjectLockEnabledForBucket=true"
    )
    try:
        lock = client.get_object_lock_configuration(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) == "ObjectLockConfigurationNotFoundError":
            return no_lock
        return f"bucket {bucket!r}: cannot read Object Lock configuration: {describe_error(exc)}"
    except BotoCoreError as exc:
        return f"bucket {bucket!r}: cannot read Object Lock configuration: {describe_error(exc)}"
    if lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
        return no_lock
    return None


def _write_problem(client: S3Client, bucket: str, key: str) -> str | None:
    """Prove s3:PutObject permission with one fixed, conditionally written probe object.

    The first check creates the probe; later checks get 412 (the condition is evaluated only
    after authorization), so checks do not pile up versions.
    """
    try:
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=WRITE_CHECK_BODY,
            ContentType="text/plain",
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(hashlib.sha256(WRITE_CHECK_BODY).digest()).decode(
                "ascii"
            ),
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if error_code(exc) in EXISTS_CODES:
            return None
        return f"s3://{bucket}/{key} is not writable: {describe_error(exc)}"
    except BotoCoreError as exc:
        return f"s3://{bucket}/{key} is not writable: {describe_error(exc)}"
    return None
