"""Streaming container detection and splitting of Nuclei bodies.

A body arrives as an iterable of byte chunks (any sizes, down to one byte). The container is
detected from the first non-blank byte, after an optional UTF-8 BOM:

* nothing (0 bytes, whitespace only) -> ``"empty"``, zero records;
* ``[`` -> a JSON array (``-json-export``; compact or pretty-printed) -> ``"array"``;
* ``{`` -> the first top-level value is scanned; if it is a one-line object followed by a
  newline (or the end of the body), possibly after a ``,`` (nuclei v3.3.6 ``-jle``), the rest
  is read as JSONL line by line (``"jsonl"``; ``"object"`` when that single line is the whole
  body). Otherwise top-level values are split one by one: a pretty-printed object
  (``"object"``), concatenated objects, Splunk HEC bodies ``{"event": {...}}`` (``"hec"``;
  ``time``/``host``/``sourcetype`` beside ``event`` are ignored) or the envelope
  ``{"scan_metadata": {...}, "findings": [...]}`` (``"envelope"``), whose findings are
  streamed element by element;
* anything else -> read as JSONL, so every line becomes a line-numbered error.

Memory stays bounded by the largest single record: JSONL is split with ``bytes.split`` and
each line decoded with ``orjson.loads``; arrays, envelopes and concatenated values use an
incremental splitter that finds the structural tokens (``{ } [ ]`` and whole strings) with a
compiled regex, keeps depth state across chunks, and cuts out one element at a time.

A record whose bytes ``orjson`` rejects is retried once after repair (invalid UTF-8 replaced,
NUL bytes removed, other raw control characters escaped, lone surrogate escapes replaced);
if that fails too it becomes an error item with its line number.

:class:`RecordSplitter` yields ``(line, value, error)`` tuples: ``error`` is ``None`` for a
decoded value, otherwise a message such as ``"invalid JSON: unexpected character (column 7)"``
and ``line`` is the 1-based line of the problem. After (or during) iteration,
``.container`` names the detected container and ``.scan_metadata`` holds the envelope's
``scan_metadata`` object (known before the first finding when it precedes ``findings``).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator

import orjson

from integrations.nuclei.decode import (
    BOM,
    RECORD_KEYS,
    ContainerKind,
    RawRecord,
    as_bytes,
    kind_of,
    line_content,
    load_record,
    loads_or_none,
    unwrap,
)

__all__ = ["ContainerKind", "RawRecord", "RecordSplitter", "load_record"]

_QUOTE, _LBRACE, _LBRACKET, _NEWLINE = 0x22, 0x7B, 0x5B, 0x0A
_NON_WS = re.compile(rb"[^ \t\r\n]")
_NON_SEP = re.compile(rb"[^ \t\r\n,]")
_NON_INLINE_SEP = re.compile(rb"[^ \t\r,]")
# A whole string, a bracket, or a lone quote (a string not yet complete in the buffer).
_TOKEN = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[{}\[\]]|"', re.DOTALL)
# Inside a record: skip whole strings and plain bytes in one match, up to the next bracket.
_SKIP_TO_BRACKET = re.compile(rb'(?:[^"{}\[\]]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+[{}\[\]]', re.DOTALL)
# The end of an array element: "}" then "," and "{" (next element) or "]"; \Z = need more.
_ELEMENT_END = re.compile(rb"\}[ \t\r\n]*+(?:,[ \t\r\n]*+(?:\{|\Z)|\]|\Z)")
_FAST_MISSES = 8
_STRING_BODY = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)


class RecordSplitter:
    """Split a chunked Nuclei body into decoded records (see the module docstring)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.container: ContainerKind = "empty"
        self.scan_metadata: dict[str, object] | None = None
        self._chunks = iter(chunks)
        self._buf = bytearray()
        self._line_base = 1  # line number of self._buf[0]
        self._eof = False
        self._lines_only = False

    @classmethod
    def lines_from(cls, chunks: Iterable[bytes], *, first_line: int) -> RecordSplitter:
        """A splitter for the rest of a body already known to be read line by line (see
        :func:`first_line_end`), starting at a line boundary numbered ``first_line``.
        ``container`` is ``"jsonl"`` once it has read a record."""
        splitter = cls(chunks)
        splitter._line_base = first_line
        splitter._lines_only = True
        return splitter

    def __iter__(self) -> Iterator[RawRecord]:
        return self._run()

    # -- buffer -----------------------------------------------------------------------
    def _more(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buf += as_bytes(chunk)
                return True
        self._eof = True
        return False

    def _discard(self, n: int) -> None:
        if n:
            self._line_base += self._buf.count(b"\n", 0, n)
            del self._buf[:n]

    def _line_at(self, pos: int) -> int:
        return self._line_base + self._buf.count(b"\n", 0, pos)

    def _seek(self, pattern: re.Pattern[bytes]) -> int | None:
        """Discard bytes until ``pattern`` matches; position of the match or None at EOF."""
        while True:
            match = pattern.search(self._buf)
            if match:
                return match.start()
            self._discard(len(self._buf))
            if not self._more():
                return None

    # -- detection ----------------------------------------------------------------------
    def _run(self) -> Iterator[RawRecord]:
        if self._lines_only:
            yield from self._lines(first_kind="object")
            return
        buf = self._buf
        while len(buf) < 3 and BOM.startswith(buf) and self._more():
            pass
        if buf.startswith(BOM):
            del buf[:3]
        start = self._seek(_NON_WS)
        if start is None:
            return
        self._discard(start)
        if buf[0] == _LBRACE or (buf[0] == _LBRACKET and self._array_follows()):
            yield from self._values()
        else:
            self.container = "jsonl"
            yield from self._lines(first_kind=None)

    def _array_follows(self) -> bool:
        """``[`` then a JSON value or ``]``; not nuclei's text output (``[INF] ...``)."""
        while (match := _NON_WS.search(self._buf, 1)) is None:
            if not self._more():
                return True
        return self._buf[match.start()] in b'{}[]"-0123456789tfn'

    def _values(self) -> Iterator[RawRecord]:
        first = True
        while True:
            start = self._seek(_NON_SEP)
            if start is None:
                return
            self._discard(start)
            if self._buf[0] not in (_LBRACE, _LBRACKET):
                yield self._garbage()
                first = False
                continue
            kind, multiline = yield from self._value()
            if first:
                self.container = kind
                if kind in ("object", "hec") and not multiline and self._newline_follows():
                    yield from self._lines(first_kind=kind)
                    return
            elif kind == "object" and self.container == "object":
                self.container = "jsonl"
            first = False

    def _newline_follows(self) -> bool:
        while True:
            match = _NON_INLINE_SEP.search(self._buf)
            if match:
                return self._buf[match.start()] == _NEWLINE
            if not self._more():
                return True

    def _garbage(self) -> RawRecord:
        """Unexpected top-level content in splitter mode: one error item for the line."""
        while (end := self._buf.find(b"\n")) == -1 and self._more():
            pass
        end = len(self._buf) if end == -1 else end
        line = self._line_at(0)
        item = load_record(bytes(self._buf[:end]).strip(), line)
        self._discard(end)
        return item

    # -- JSONL ----------------------------------------------------------------------------
    def _lines(self, first_kind: ContainerKind | None) -> Iterator[RawRecord]:
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        lineno = self._line_base
        parts: list[bytes] = [bytes(self._buf)] if self._buf else []
        self._buf.clear()
        seen = 0
        while True:
            chunk: bytes | None = None
            for raw in self._chunks:
                if raw:
                    chunk = as_bytes(raw)
                    break
            if chunk is None:
                lines = b"".join(parts).split(b"\n")
            elif b"\n" not in chunk:
                parts.append(chunk)
                continue
            else:
                parts.append(chunk)
                lines = b"".join(parts).split(b"\n")
                last = lines.pop()
                parts = [last] if last else []
            for line in lines:
                try:
                    value = loads(line)
                except decode_error:
                    item = self._slow_line(line, lineno)
                    if item is not None:
                        seen += 1
                        yield item
                else:
                    if type(value) is dict and "event" in value:
                        value = unwrap(value)
                    seen += 1
                    yield lineno, value, None
                lineno += 1
            if chunk is None:
                break
        if first_kind is None or (first_kind == "object" and seen):
            self.container = "jsonl"

    @staticmethod
    def _slow_line(line: bytes, lineno: int) -> RawRecord | None:
        stripped = line_content(line)
        if not stripped:
            return None
        return load_record(stripped, lineno)

    # -- splitter -------------------------------------------------------------------------
    def _items_of(self, line: int, value: object) -> Iterator[RawRecord]:
        """Classify a fully decoded top-level object (HEC, small envelope or a record)."""
        if isinstance(value, dict) and not any(key in value for key in RECORD_KEYS):
            if "event" in value:
                yield line, value["event"], None
                return
            if "findings" in value or "scan_metadata" in value:
                self._set_metadata(value)
                findings = value.get("findings")
                for element in findings if isinstance(findings, list) else ():
                    yield line, element, None
                return
        yield line, value, None

    def _set_metadata(self, envelope: object) -> None:
        if isinstance(envelope, dict):
            meta = envelope.get("scan_metadata")
            if isinstance(meta, dict):
                self.scan_metadata = meta

    def _gap(self, start: int, end: int) -> Iterator[RawRecord]:
        """Non-object elements (numbers, literals) between two array elements."""
        text = bytes(self._buf[start:end])
        if not text.strip(b" \t\r\n,"):
            return
        line = self._line_at(start)
        for piece in text.split(b","):
            piece = piece.strip()
            if piece:
                yield load_record(piece, line)

    def _value(self) -> Generator[RawRecord, None, tuple[ContainerKind, bool]]:
        """Scan the top-level value at buf[0]; yield its records; return (kind, multiline)."""
        buf = self._buf
        top_array = buf[0] == _LBRACKET
        depth = pos = 0
        elem_depth = 1 if top_array else 0  # depth at which streamed elements live (0 = none)
        elem_start = str_start = key_end = -1
        gap_start, skel_start = (1 if top_array else 0), 0
        key_is_findings = False
        skeleton: list[bytes] | None = None
        if top_array and self.container == "empty":
            self.container = "array"
        while True:
            if str_start >= 0:  # inside a string that was incomplete in the buffer
                end = _STRING_BODY.match(buf, pos).end()  # type: ignore[union-attr]
                if end >= len(buf) or buf[end] != _QUOTE:
                    pos = end
                    if not self._more():
                        break
                    continue
                start, stop, char = str_start, end + 1, _QUOTE
                str_start = -1
            else:
                skip = None
                if depth > elem_depth and depth > 1:  # inside a record: strings don't matter
                    skip = _SKIP_TO_BRACKET.match(buf, pos)
                if skip is not None:
                    stop = skip.end()
                    start = stop - 1
                else:
                    match = _TOKEN.search(buf, pos)
                    if match is None:
                        pos = len(buf)
                        if not self._more():
                            break
                        continue
                    start, stop = match.span()
                    if buf[start] == _QUOTE and stop - start == 1:
                        str_start, pos = start, start + 1
                        continue
                char = buf[start]
            pos = stop
            if char == _QUOTE:
                if elem_depth and depth == elem_depth and elem_start < 0:
                    yield from self._gap(gap_start, start)
                    yield load_record(buf[start:stop], self._line_at(start))
                    gap_start = stop
                elif depth == 1 and not top_array:
                    key_end, key_is_findings = stop, buf[start:stop] == b'"findings"'
            elif char in (_LBRACE, _LBRACKET):
                if elem_depth and depth == elem_depth:
                    yield from self._gap(gap_start, start)
                    fast = self._fast_element(start) if char == _LBRACE else None
                    if fast is not None:
                        yield fast
                        pos = gap_start = 0
                        continue
                    elem_start = start
                elif (
                    depth == 1
                    and char == _LBRACKET
                    and not top_array
                    and key_is_findings
                    and buf[key_end:start].strip() == b":"
                ):  # the envelope's findings: stream them element by element
                    skeleton = skeleton if skeleton is not None else []
                    if self.container == "empty":
                        self.container = "envelope"
                    skeleton.append(bytes(buf[skel_start : start + 1]))
                    self._early_metadata(skeleton)
                    self._discard(stop)
                    pos = gap_start = 0
                    depth, elem_depth, key_end, key_is_findings = 1, 2, -1, False
                depth += 1
            else:
                depth -= 1
                if elem_depth and depth == elem_depth and elem_start >= 0:
                    yield load_record(buf[elem_start:stop], self._line_at(elem_start))
                    self._discard(stop)
                    pos = gap_start = 0
                    elem_start = -1
                elif elem_depth and depth == elem_depth - 1:
                    yield from self._gap(gap_start, start)
                    if top_array:
                        self._discard(stop)
                        return "array", True
                    skel_start, elem_depth, key_end = start, 0, -1  # findings closed
                elif depth <= 0:
                    if skeleton is not None:
                        skeleton.append(bytes(buf[skel_start:stop]))
                        self._set_metadata(loads_or_none(b"".join(skeleton)))
                        self._discard(stop)
                        return "envelope", True
                    multiline = buf.find(b"\n", 0, stop) != -1
                    line, value, error = load_record(buf[:stop], self._line_at(0))
                    self._discard(stop)
                    if error is not None:
                        yield line, value, error
                        return "object", multiline
                    kind = kind_of(value)
                    yield from self._items_of(line or 1, value)
                    return kind, multiline
        # End of input inside the value.
        if elem_depth and elem_start < 0:
            yield from self._gap(gap_start, len(buf))
            closer = "]" if top_array else "]}"
            where, message = len(buf), f"unexpected end of input: missing {closer!r}"
        else:
            where, message = (elem_start if elem_start >= 0 else 0), "unexpected end of input"
        line = self._line_at(where)
        self._discard(len(buf))
        yield line, None, f"invalid JSON: {message}"
        return ("array" if top_array else "envelope" if skeleton is not None else "object"), True

    def _fast_element(self, start: int) -> RawRecord | None:
        """Fast path for an array element ``{...}``: try ``orjson`` on the text up to each
        ``}`` that is followed by ``, {`` or ``]``. JSON objects are prefix-free, so the first
        candidate that decodes is the element. After a few misses (``},{`` inside strings)
        the caller falls back to the bracket scanner."""
        buf, search_from, misses = self._buf, start + 1, 0
        while misses < _FAST_MISSES:
            match = _ELEMENT_END.search(buf, search_from)
            if match is None or (match.end() == len(buf) and not self._eof):
                # No "}" before the end can be a candidate any more: resume past them.
                search_from = len(buf) if match is None else match.start()
                if not self._more() and match is None:
                    return None
                continue
            end = match.start() + 1
            try:
                value = orjson.loads(buf[start:end])
            except orjson.JSONDecodeError:
                misses += 1
                search_from = end
                continue
            line = self._line_at(start)
            self._discard(end)
            return line, value, None
        return None

    def _early_metadata(self, skeleton: list[bytes]) -> None:
        """``{"scan_metadata": {...}, "findings": [`` + ``]}`` is valid JSON: read it now."""
        self._set_metadata(loads_or_none(b"".join(skeleton) + b"]}"))
