"""Helpers shared by the evidence-store tests (local folder and S3)."""

from __future__ import annotations

import hashlib
from pathlib import Path

SCAN_KEY = "vulnerability-scans/2025/01/06/nuclei-raw.jsonl"


def write_source(path: Path, size: int, seed: bytes = b"a") -> str:
    """Write ``size`` pseudo-random bytes the way a caller would, hashing while writing; the
    sha256 hex of what was written."""
    digest = hashlib.sha256()
    block = hashlib.sha512(seed).digest() * 2048  # 128 KiB
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = block[:remaining]
            out.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()
