"""S3 evidence store: write-once objects under Object Lock in COMPLIANCE mode.

Every ``put`` sends ``ChecksumAlgorithm=SHA256`` together with the precomputed
``ChecksumSHA256`` (so S3 rejects a corrupted upload with BadDigest, and a strong digest is
stored with the version), ``ObjectLockMode=COMPLIANCE`` and ``ObjectLockRetainUntilDate = now +
retention_days`` (``now`` comes from the caller's clock, never from this module).

Never overwriting: ``put`` first looks the key up (``HeadObject``) and returns the existing
object with ``created=False``; otherwise it writes with ``If-None-Match: *`` (S3 conditional
write, also honoured by moto), so a concurrent writer that got there first makes S3 answer
412 PreconditionFailed (or 409 ConditionalRequestConflict) instead of stacking a new version,
and we again return the existing object. On an S3-compatible server that ignores
``If-None-Match`` the head-then-put sequence still protects every non-concurrent case; two
writers racing on one key could then both create a version (both stay locked; readers address
versions by id). One more corner: if a successful write's response is lost and botocore's
retry then gets 412, ``put`` reports ``created=False`` for an object that this call wrote; its
``sha256`` then equals the body's.

Large bodies (``put_file``): the caller's file is sent as the streaming ``Body`` of the same
single PutObject (same lock, checksum and ``If-None-Match`` parameters, one shared code path),
with ``ContentLength`` from ``fstat`` and ``ChecksumSHA256`` from the caller's hex digest, so the
file is never read into memory nor read an extra time just to hash it; S3 verifies the digest
and answers BadDigest on a mismatch. botocore rewinds the open file to its start on a retry.
``put_chunks`` spools the pieces to a temporary file first (the checksum has to be known before
the upload starts) and sends it the same way. A single PutObject is limited to 5 GiB
(MAX_SINGLE_PUT_BYTES); larger bodies are refused
before any request, with no multipart fallback (slabot's body-size settings stay far below it).

This module never shortens, removes or downgrades a retention: it has no operation for it.
The client it is given (bounded retries and timeouts) comes from :mod:`.s3_client`, and
:meth:`S3EvidenceStore.check` asks :mod:`.s3_checks` what stops the bucket holding evidence.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from .base import (
    EvidenceNotFoundError,
    EvidenceStoreError,
    StoredObject,
    normalize_sha256,
    require_aware,
    spool_chunks,
    validate_key,
    validate_prefix,
)
from .s3_checks import bucket_problems
from .s3_client import (
    EXISTS_CODES,
    NOT_FOUND_CODES,
    b64_to_hex,
    build_s3_client,
    describe_error,
    error_code,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "LOCK_MODE",
    "MAX_SINGLE_PUT_BYTES",
    "WRITE_CHECK_KEY",
    "S3EvidenceStore",
    "build_s3_client",
    "retain_until_for",
]

LOCK_MODE: Final = "COMPLIANCE"
WRITE_CHECK_KEY = ".slabot-write-check"  # under the URL prefix; user keys cannot start with '.'
MAX_SINGLE_PUT_BYTES = 5 * 1024**3  # S3's limit for one PutObject (5 GiB)


def retain_until_for(now: datetime, retention_days: int) -> datetime:
    """``now + retention_days`` in UTC, rounded *up* to a whole second (S3 header precision)."""
    require_aware(now)
    until = now.astimezone(UTC) + timedelta(days=retention_days)
    if until.microsecond:
        until = until.replace(microsecond=0) + timedelta(seconds=1)
    return until


class S3EvidenceStore:
    """Evidence store backed by an S3 bucket with Object Lock (``s3://bucket/prefix``)."""

    def __init__(
        self, client: S3Client, bucket: str, prefix: str = "", *, retention_days: int
    ) -> None:
        if not bucket:
            raise ValueError("S3 evidence store needs a bucket name")
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, got {retention_days}")
        prefix = prefix.strip("/")
        if prefix:
            validate_prefix(prefix)
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._key_prefix = f"{prefix}/" if prefix else ""
        self._retention_days = retention_days

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def retention_days(self) -> int:
        return self._retention_days

    def object_key(self, key: str) -> str:
        """The full S3 object key for an evidence key (URL prefix + key)."""
        return self._key_prefix + validate_key(key)

    # -- EvidenceStore -------------------------------------------------------------------------

    def put(self, key: str, body: bytes, *, content_type: str, now: datetime) -> StoredObject:
        return self._put(
            key,
            body,
            size=len(body),
            digest=hashlib.sha256(body).digest(),
            content_type=content_type,
            now=now,
        )

    def put_file(
        self, key: str, path: Path, *, sha256: str, content_type: str, now: datetime
    ) -> StoredObject:
        digest = bytes.fromhex(normalize_sha256(sha256))
        require_aware(now)
        self.object_key(key)  # validate the key before touching the source file
        source_path = Path(path)
        try:
            source = open(source_path, "rb")  # noqa: SIM115 - closed by the with below
            size = os.fstat(source.fileno()).st_size
        except OSError as exc:
            raise EvidenceStoreError(
                f"cannot read evidence source file {str(source_path)!r}: {exc}"
            ) from exc
        with source:
            return self._put(
                key, source, size=size, digest=digest, content_type=content_type, now=now
            )

    def put_chunks(
        self, key: str, chunks: Iterable[bytes], *, content_type: str, now: datetime
    ) -> StoredObject:
        # The upload's ChecksumSHA256 has to be known before the first byte goes out.
        self.object_key(key)
        path, sha256 = spool_chunks(chunks)
        try:
            return self.put_file(key, path, sha256=sha256, content_type=content_type, now=now)
        finally:
            path.unlink(missing_ok=True)

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        s3_key = self.object_key(key)
        try:
            if version_id is None:
                response = self._client.get_object(
                    Bucket=self._bucket, Key=s3_key, ChecksumMode="ENABLED"
                )
            else:
                response = self._client.get_object(
                    Bucket=self._bucket, Key=s3_key, VersionId=version_id, ChecksumMode="ENABLED"
                )
            body = response["Body"].read()
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                version = f" version {version_id!r}" if version_id else ""
                raise EvidenceNotFoundError(
                    f"no evidence object {self._uri(s3_key)}{version}"
                ) from exc
            raise self._error("get", s3_key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("get", s3_key, exc) from exc

        stored = b64_to_hex(response.get("ChecksumSHA256"))
        actual = hashlib.sha256(body).hexdigest()
        if stored is not None and stored != actual:
            raise EvidenceStoreError(
                f"integrity check failed for {self._uri(s3_key)}: stored SHA-256 {stored}, "
                f"downloaded bytes hash to {actual}"
            )
        return body

    def head(self, key: str) -> StoredObject | None:
        s3_key = self.object_key(key)
        try:
            response = self._client.head_object(
                Bucket=self._bucket, Key=s3_key, ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise self._error("head", s3_key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("head", s3_key, exc) from exc

        version_id = response.get("VersionId")
        retain_until = response.get("ObjectLockRetainUntilDate")
        if retain_until is not None:
            # botocore may attach tzlocal() to a "...Z" value when the local zone is UTC.
            retain_until = retain_until.astimezone(UTC)
        sha256 = b64_to_hex(response.get("ChecksumSHA256"))
        if sha256 is None:
            # Written without a (full-object) SHA-256 checksum, e.g. by another tool: hash it.
            sha256 = hashlib.sha256(self.get(key, version_id=version_id)).hexdigest()
        return StoredObject(
            uri=self._uri(s3_key),
            key=key,
            sha256=sha256,
            size=response["ContentLength"],
            version_id=version_id,
            retain_until=retain_until,
            created=False,
        )

    def list(self, prefix: str) -> Iterator[str]:
        validate_prefix(prefix)
        keys: list[str] = []
        probe = self._key_prefix + WRITE_CHECK_KEY
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._bucket, Prefix=self._key_prefix + prefix):
                for item in page.get("Contents", []):
                    full = item.get("Key", "")
                    if full == probe or not full.startswith(self._key_prefix):
                        continue
                    keys.append(full[len(self._key_prefix) :])
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", self._key_prefix + prefix, exc) from exc
        return iter(sorted(keys))

    def check(self) -> builtins.list[str]:
        return bucket_problems(
            self._client, self._bucket, write_check_key=self._key_prefix + WRITE_CHECK_KEY
        )

    def describe(self) -> str:
        return f"{self._uri(self._prefix)} (Object Lock {LOCK_MODE}, {self._retention_days} days)"

    # -- internals -----------------------------------------------------------------------------

    def _put(
        self,
        key: str,
        body: bytes | IO[bytes],
        *,
        size: int,
        digest: bytes,
        content_type: str,
        now: datetime,
    ) -> StoredObject:
        """The one write path of ``put`` and ``put_file``.

        ``body`` is the bytes or an open binary file positioned at its start, ``size`` its
        length and ``digest`` its raw SHA-256 (sent as ``ChecksumSHA256``, which S3 verifies).
        """
        s3_key = self.object_key(key)
        retain_until = retain_until_for(now, self._retention_days)
        if size > MAX_SINGLE_PUT_BYTES:
            raise EvidenceStoreError(
                f"evidence body for {self._uri(s3_key)} is {size} bytes; a single S3 PutObject "
                f"takes at most {MAX_SINGLE_PUT_BYTES} bytes (5 GiB)"
            )

        existing = self.head(key)
        if existing is not None:
            return existing

        try:
            response = self._client.put_object(
                Bucket=self._bucket,
                Key=s3_key,
                Body=body,
                ContentLength=size,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
                ObjectLockMode=LOCK_MODE,
                ObjectLockRetainUntilDate=retain_until,
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if error_code(exc) in EXISTS_CODES:
                existing = self.head(key)
                if existing is not None:
                    return existing
            raise self._error("put", s3_key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("put", s3_key, exc) from exc

        echoed = response.get("ChecksumSHA256")
        if echoed is not None and b64_to_hex(echoed) not in (None, digest.hex()):
            raise EvidenceStoreError(
                f"S3 stored {self._uri(s3_key)} with SHA-256 {echoed!r}, which does not match "
                f"the body's {digest.hex()}"
            )
        return StoredObject(
            uri=self._uri(s3_key),
            key=key,
            sha256=digest.hex(),
            size=size,
            version_id=response.get("VersionId"),
            retain_until=retain_until,
            created=True,
        )

    def _uri(self, s3_key: str) -> str:
        return f"s3://{self._bucket}/{s3_key}"

    def _error(self, op: str, s3_key: str, exc: Exception) -> EvidenceStoreError:
        return EvidenceStoreError(f"S3 {op} {self._uri(s3_key)} failed: {describe_error(exc)}")
