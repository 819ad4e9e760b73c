"""Request and file bodies: bounded spooling, gzip with a decompressed-size limit, hashing.

Bodies are never held whole in memory: they are spooled (memory up to a few MiB, then a
temporary file) and read back in chunks. The sha256 of the exact bytes, their size and whether
they are valid UTF-8 are computed on the way through, for the scan row and the raw artifact.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 4 * 1024 * 1024


class BodyTooLargeError(Exception):
    def __init__(self, limit: int, what: str) -> None:
        super().__init__(f"{what} exceeds the limit of {limit} bytes")
        self.limit = limit


class BadEncodingError(Exception):
    pass


class BodyDigest:
    """sha256, size and UTF-8 validity of the bytes that pass through :meth:`feed`."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.size = 0
        self.utf8 = True

    def feed(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        self.size += len(chunk)
        if self.utf8:
            try:
                self._utf8.decode(chunk)
            except UnicodeDecodeError:
                self.utf8 = False

    def finish(self) -> None:
        if self.utf8:
            try:
                self._utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8 = False

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


@dataclass(frozen=True, slots=True)
class BodyFacts:
    """What the scan row records of a body: its sha256 and size."""

    sha256: str
    size: int


class Body:
    """A spooled body that can be read several times (parse, then retain)."""

    def __init__(self, spool: IO[bytes], digest: BodyDigest) -> None:
        self._spool = spool
        self._spooled_digest = digest

    @property
    def digest(self) -> BodyDigest:
        return self._spooled_digest

    @classmethod
    def from_chunks(cls, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> Body:
        writer = BodyWriter(max_bytes=max_bytes)
        try:
            for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        self._spool.seek(0)
        while chunk := self._spool.read(size):
            yield chunk

    @property
    def sha256(self) -> str:
        return self.digest.sha256

    @property
    def size(self) -> int:
        return self.digest.size

    @property
    def facts(self) -> BodyFacts:
        return BodyFacts(self.sha256, self.size)

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> Body:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class BodyWriter:
    """Spool a body written piece by piece (e.g. from an async request stream)."""

    def __init__(self, *, max_bytes: int | None = None, what: str = "request body") -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._digest = BodyDigest()
        self._max_bytes = max_bytes
        self._what = what

    def write(self, chunk: bytes) -> None:
        self._digest.feed(chunk)
        if self._max_bytes is not None and self._digest.size > self._max_bytes:
            self.abort()
            raise BodyTooLargeError(self._max_bytes, self._what)
        self._spool.write(chunk)

    def abort(self) -> None:
        self._spool.close()

    def finish(self) -> Body:
        self._digest.finish()
        return Body(self._spool, self._digest)


class FileBody(Body):
    """A file on disk, read in place (a CLI ingest of a large file is never copied).

    Its digest is taken on first use, so a process that only parses it (a forked parser)
    never reads it twice."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._digest: BodyDigest | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def digest(self) -> BodyDigest:
        if self._digest is None:
            digest = BodyDigest()
            with self._path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.feed(chunk)
            digest.finish()
            self._digest = digest
        return self._digest

    @property
    def size(self) -> int:
        # The size alone decides how to ingest: no need to read the file for it.
        return self._digest.size if self._digest is not None else self._path.stat().st_size

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        with self._path.open("rb") as handle:
            while chunk := handle.read(size):
                yield chunk

    def chunks_between(self, start: int, stop: int, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes in ``[start, stop)``, in chunks. A handle of its own: processes reading
        parts of one file never share an offset."""
        with self._path.open("rb") as handle:
            handle.seek(start)
            remaining = stop - start
            while remaining > 0 and (chunk := handle.read(min(size, remaining))):
                remaining -= len(chunk)
                yield chunk

    def close(self) -> None:
        pass


def gunzip(body: Body, *, max_bytes: int) -> Body:
    """Decompress a gzip body into a new spool, refusing to expand past ``max_bytes``."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)

    def expanded() -> Iterator[bytes]:
        for chunk in body.chunks():
            try:
                out = decompressor.decompress(chunk, max_bytes + 1)
            except zlib.error as exc:
                raise BadEncodingError(f"gzip body is corrupt: {exc}") from None
            yield out
            if decompressor.unconsumed_tail:
                raise BodyTooLargeError(max_bytes, "decompressed body")
        try:
            yield decompressor.flush()
        except zlib.error as exc:  # pragma: no cover - flush rarely fails after decompress
            raise BadEncodingError(f"gzip body is corrupt: {exc}") from None
        if not decompressor.eof:
            raise BadEncodingError("gzip body is truncated")

    writer = BodyWriter(max_bytes=max_bytes, what="decompressed body")
    try:
        for piece in expanded():
            writer.write(piece)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


class HmacTee:
    """HMAC-SHA256 of the raw bytes, computed while they stream past."""

    def __init__(self, secret: bytes) -> None:
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)

    def feed(self, chunk: bytes) -> bytes:
        self._mac.update(chunk)
        return chunk

    def matches(self, header: str) -> bool:
        value = header.strip()
        if not value.lower().startswith("sha256="):
            return False
        return hmac.compare_digest(value[7:].lower().encode(), self._mac.hexdigest().encode())
