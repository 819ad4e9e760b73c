"""Raw scan retention: every accepted body, byte-exact, inside a metadata envelope.

The envelope is JSON: ``{"body": "<the body>", "envelope": {...metadata...}}`` (the body
first, so the artifact can be written while the body is still being parsed). A body that
is valid UTF-8 is stored as a JSON string (readable, and ``body.encode()`` gives back the
exact bytes); anything else is base64. ``envelope.body_sha256`` is the sha256 of the original
bytes, so the artifact proves which scan result the findings came from. It is handed to the
evidence store in pieces: a large scan is never in memory.
"""

from __future__ import annotations

import base64
import codecs
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import orjson

from bot.ingest.body import Body
from integrations.evidence import EvidenceStore, StoredObject

CONTROL = "CC7.2"
IN_MEMORY_LIMIT = 1024 * 1024


def artifact_key(now: datetime, sha256: str) -> str:
    return f"vulnerability-scans/{now:%Y/%m/%d}/nuclei-{now:%Y%m%dT%H%M%S%fZ}-{sha256[:12]}.json"


def _body_parts(body: Body) -> Iterator[bytes]:
    if body.digest.utf8:
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        for chunk in body.chunks():
            text = decoder.decode(chunk)
            if text:
                yield orjson.dumps(text)[1:-1]
        tail = decoder.decode(b"", final=True)
        if tail:
            yield orjson.dumps(tail)[1:-1]
        return
    carry = b""
    for chunk in body.chunks():
        data = carry + chunk
        cut = len(data) - len(data) % 3
        yield base64.b64encode(data[:cut])
        carry = data[cut:]
    if carry:
        yield base64.b64encode(carry)


def envelope_of(body: Body, *, now: datetime, metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **metadata,
        "scanner": "nuclei",
        "control": CONTROL,
        "received_at": now,
        "body_sha256": body.sha256,
        "body_size": body.size,
        "body_encoding": "utf-8" if body.digest.utf8 else "base64",
    }


def artifact_parts(
    body: Body, *, now: datetime, metadata: Callable[[], Mapping[str, Any]]
) -> Iterator[bytes]:
    """The artifact in pieces: the body first, then its envelope. ``metadata`` is called
    only after the body has been streamed, so a forked retainer can start before the body
    has been parsed (the envelope names the container and target the parse found)."""
    yield b'{"body":"'
    yield from _body_parts(body)
    envelope = envelope_of(body, now=now, metadata=metadata())
    yield b'","envelope":'
    yield orjson.dumps(envelope, option=orjson.OPT_UTC_Z | orjson.OPT_SORT_KEYS)
    yield b"}\n"


def retain_scan(
    store: EvidenceStore,
    body: Body,
    *,
    now: datetime,
    metadata: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> StoredObject:
    """Store the body in its envelope under its dated key (an existing key is kept as is)."""
    key = artifact_key(now, body.sha256)
    known = metadata
    parts = artifact_parts(body, now=now, metadata=known if callable(known) else (lambda: known))
    if body.size <= IN_MEMORY_LIMIT:
        # A typical webhook body (one or a few events): written in one piece.
        return store.put(key, b"".join(parts), content_type="application/json", now=now)
    return store.put_chunks(key, parts, content_type="application/json", now=now)


def read_retained_body(artifact: bytes) -> bytes:
    """The original body bytes from an artifact (for audits and tests)."""
    data = orjson.loads(artifact)
    if data["envelope"]["body_encoding"] == "base64":
        return base64.b64decode(data["body"])
    return str(data["body"]).encode("utf-8")
