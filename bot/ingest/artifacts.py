"""Raw scan retention: every accepted body, byte-exact, inside a metadata envelope.

The envelope is JSON: ``{"envelope": {...metadata...}, "body": "<the body>"}``. A body that
is valid UTF-8 is stored as a JSON string (readable, and ``body.encode()`` gives back the
exact bytes); anything else is base64. ``envelope.body_sha256`` is the sha256 of the original
bytes, so the artifact proves which scan result the findings came from. It is handed to the
evidence store in pieces: a large scan is never in memory.
"""

from __future__ import annotations

import base64
import codecs
from collections.abc import Iterator, Mapping
from datetime import datetime
from itertools import chain
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


def retain_scan(
    store: EvidenceStore,
    body: Body,
    *,
    now: datetime,
    metadata: Mapping[str, Any],
) -> StoredObject:
    envelope = {
        **metadata,
        "scanner": "nuclei",
        "control": CONTROL,
        "received_at": now,
        "body_sha256": body.sha256,
        "body_size": body.size,
        "body_encoding": "utf-8" if body.digest.utf8 else "base64",
    }
    head = b'{"envelope":' + orjson.dumps(envelope, option=orjson.OPT_UTC_Z | orjson.OPT_SORT_KEYS)
    key = artifact_key(now, body.sha256)
    if body.size <= IN_MEMORY_LIMIT:
        # A typical webhook body (one or a few events): no temporary file to write and copy.
        whole = b"".join(chain((head, b',"body":"'), _body_parts(body), (b'"}\n',)))
        return store.put(key, whole, content_type="application/json", now=now)
    # chain, not (*parts,): a tuple would hold the whole body in memory at once.
    parts = chain((head, b',"body":"'), _body_parts(body), (b'"}\n',))
    return store.put_chunks(key, parts, content_type="application/json", now=now)


def read_retained_body(artifact: bytes) -> bytes:
    """The original body bytes from an artifact (for audits and tests)."""
    data = orjson.loads(artifact)
    if data["envelope"]["body_encoding"] == "base64":
        return base64.b64decode(data["body"])
    return str(data["body"]).encode("utf-8")
