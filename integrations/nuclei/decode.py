"""One JSON value's bytes to Python, with the one repair the parser allows, and what a
top-level value is (record, HEC event or envelope). Shared by the container splitter
(:mod:`integrations.nuclei.containers`) and the cutting of a body into parts
(:mod:`integrations.nuclei.parts`).
"""

from __future__ import annotations

import re
from typing import Literal

import orjson

ContainerKind = Literal["empty", "array", "jsonl", "object", "envelope", "hec"]
RawRecord = tuple[int | None, object, str | None]

BOM = b"\xef\xbb\xbf"
RECORD_KEYS = ("template-id", "templateID")
_SURROGATES = re.compile(
    r"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)
_CONTROL_ESCAPES = {c: f"\\u{c:04x}" for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}
_CONTROL_ESCAPES[0] = ""


def _fix_surrogate(match: re.Match[str]) -> str:
    text = match.group(0)
    return "\\ufffd" if len(text) == 6 else text


def load_record(data: bytes | bytearray, line: int) -> RawRecord:
    """Decode one record's bytes; on failure repair once, else return an error item."""
    try:
        return line, orjson.loads(data), None
    except orjson.JSONDecodeError:
        pass
    text = data.decode("utf-8", "replace").translate(_CONTROL_ESCAPES)
    if "\\u" in text:
        text = _SURROGATES.sub(_fix_surrogate, text)
    try:
        return line, orjson.loads(text), None
    except orjson.JSONDecodeError as exc:
        where = line + max(exc.lineno, 1) - 1
        return where, None, f"invalid JSON: {exc.msg} (column {exc.colno})"


def as_bytes(chunk: object) -> bytes:
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8", "surrogatepass")
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"body chunks must be bytes, not {type(chunk).__name__}")


def line_content(line: bytes) -> bytes:
    """A JSONL line without its surrounding blanks and one trailing ``,`` (v3.3.6's ``-jle``):
    empty for a line that is no record."""
    stripped = line.strip()
    if stripped.endswith(b","):
        stripped = stripped[:-1].rstrip()
    return stripped


def loads_or_none(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def unwrap(value: dict[str, object]) -> object:
    """A Splunk HEC wrapper ``{"event": <result>, "time": ...}`` -> the result."""
    if any(key in value for key in RECORD_KEYS):
        return value
    return value["event"]


def kind_of(value: object) -> ContainerKind:
    if isinstance(value, dict) and not any(key in value for key in RECORD_KEYS):
        if "event" in value:
            return "hec"
        if "findings" in value or "scan_metadata" in value:
            return "envelope"
    return "object"
