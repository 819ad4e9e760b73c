"""Pure Nuclei parsing: containers, records, finding identity and redaction (no I/O).

Entry points::

    for item in iter_results(chunks, default_target="https://example.com"):
        ...  # NucleiResult | Ignored | Invalid, in body order

    stream = NucleiStream(chunks, default_target=None)
    items = list(stream)          # single use; iterate once
    stream.container              # "empty" | "array" | "jsonl" | "object" | "envelope" | "hec"
    stream.scan_metadata          # the envelope's ``scan_metadata`` dict, or None
    stream.metadata               # the same as a typed ScanMetadata (raw dict + target), or None
    stream.default_target         # the target used for records without a location
    stream.results, stream.ignored, stream.invalid   # counts so far

    for item in NucleiStream(chunks).identified():    # findings only identified (cheaper):
        ...  # Identified | Ignored | Invalid; item.complete() gives the NucleiResult

``chunks`` is any iterable of ``bytes`` (e.g. 1 MiB reads of a request body); memory stays
bounded by the largest record (see :mod:`integrations.nuclei.containers`).

Every item has an ``index``: its 0-based position among the body's records (array elements,
JSONL lines, envelope findings, HEC events; blank lines are not records). A body is valid
when no item is :class:`Invalid`; an :class:`Invalid` carries the line and a message such as
``'line 3: invalid JSON: unexpected character (column 1)'`` or
``'record 4 (line 5): missing "template-id"'``.

Default target: a record with no ``matched-at``, ``host`` or ``url`` uses ``default_target``
(the request's ``target=``); when none is given, the envelope's ``scan_metadata.target`` is
used. Should an envelope put ``findings`` before ``scan_metadata``, records that need the
target are held back and emitted, with their original index, after the envelope ends. A
record with no location at all and no target is still a finding, on the placeholder asset
``UNKNOWN_ASSET`` (``"(unknown)"``).

Nothing here is redacted: apply :func:`redact_meta` / :func:`redact_http` to ``meta``,
``request``, ``response`` and ``curl_command`` before the data leaves slabot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import cast

from integrations.nuclei.containers import ContainerKind, RecordSplitter
from integrations.nuclei.identity import (
    UNKNOWN_ASSET,
    fingerprint,
    grouping_key,
    normalize_asset,
    select_asset,
    strip_nul,
)
from integrations.nuclei.normalize import Identified, identify_record, normalize_record
from integrations.nuclei.parts import count_lines_and_records, first_line_end
from integrations.nuclei.records import (
    Ignored,
    Invalid,
    NucleiResult,
    ParsedItem,
    Severity,
    parse_timestamp,
)
from integrations.nuclei.redact import REDACTED, redact_http, redact_meta

__all__ = [
    "REDACTED",
    "UNKNOWN_ASSET",
    "ContainerKind",
    "Identified",
    "Ignored",
    "Invalid",
    "NucleiResult",
    "NucleiStream",
    "ParsedItem",
    "ScanMetadata",
    "Severity",
    "count_lines_and_records",
    "fingerprint",
    "first_line_end",
    "grouping_key",
    "identify_record",
    "iter_results",
    "normalize_asset",
    "normalize_record",
    "parse_timestamp",
    "redact_http",
    "redact_meta",
    "select_asset",
    "strip_nul",
]


@dataclass(frozen=True, slots=True)
class ScanMetadata:
    """The envelope's ``scan_metadata``: the raw object and the scan target, if one."""

    raw: dict[str, object]
    target: str | None

    @classmethod
    def from_raw(cls, raw: Mapping[str, object]) -> ScanMetadata:
        target = raw.get("target")
        if target is None:
            target = raw.get("targets")
        if isinstance(target, list) and len(target) == 1:
            target = target[0]
        text = target.strip() if isinstance(target, str) else ""
        return cls(raw=dict(raw), target=text or None)


_Item = ParsedItem | Identified
_Normalize = Callable[..., _Item]


class NucleiStream:
    """Iterate once over the parsed items of a Nuclei body; expose what the body declared."""

    def __init__(self, chunks: Iterable[bytes], *, default_target: str | None = None) -> None:
        self._splitter = RecordSplitter(chunks)
        self._explicit_target = default_target.strip() if default_target else None
        self._seen_meta: dict[str, object] | None = None
        self.metadata: ScanMetadata | None = None
        self.results = self.ignored = self.invalid = 0
        self._started = False
        self._first_index = 0

    @classmethod
    def continuing(
        cls,
        chunks: Iterable[bytes],
        *,
        default_target: str | None,
        first_line: int,
        first_index: int,
    ) -> NucleiStream:
        """The rest of a body read line by line (JSONL or HEC lines), from a line boundary:
        its first line is numbered ``first_line`` and its first record ``first_index``. A
        large body is parsed in parts this way (``first_line_end`` says whether one can
        be); ``container`` is ``"jsonl"`` once a record was read, else ``"empty"``."""
        stream = cls((), default_target=default_target)
        stream._splitter = RecordSplitter.lines_from(chunks, first_line=first_line)
        stream._first_index = first_index
        return stream

    @property
    def container(self) -> ContainerKind:
        return self._splitter.container

    @property
    def scan_metadata(self) -> dict[str, object] | None:
        return self._splitter.scan_metadata

    @property
    def default_target(self) -> str | None:
        if self._explicit_target:
            return self._explicit_target
        raw = self._splitter.scan_metadata
        if raw is not self._seen_meta:
            self._seen_meta = raw
            self.metadata = ScanMetadata.from_raw(raw) if raw is not None else None
        return self.metadata.target if self.metadata is not None else None

    def __iter__(self) -> Iterator[ParsedItem]:
        return cast("Iterator[ParsedItem]", self._start(normalize_record))

    def identified(self) -> Iterator[Identified | Ignored | Invalid]:
        """Iterate once, as ``iter(stream)`` does, but each finding only identified: its
        :meth:`~integrations.nuclei.normalize.Identified.complete` gives the
        :class:`NucleiResult` (for the findings that turn out to need it)."""
        return cast("Iterator[Identified | Ignored | Invalid]", self._start(identify_record))

    def _start(self, normalize: _Normalize) -> Iterator[_Item]:
        if self._started:
            raise RuntimeError("a NucleiStream can be iterated only once")
        self._started = True
        return self._items(normalize)

    def _count(self, item: _Item) -> _Item:
        if type(item) is NucleiResult or type(item) is Identified:
            self.results += 1
        elif type(item) is Ignored:
            self.ignored += 1
        else:
            self.invalid += 1
        return item

    def _items(self, normalize: _Normalize) -> Iterator[_Item]:
        splitter = self._splitter
        held: list[tuple[object, int, int | None]] = []
        meta_seen: object = None
        target = self.default_target
        for index, (line, value, error) in enumerate(splitter, self._first_index):
            if error is not None:
                message = f"line {line}: {error}" if line is not None else error
                yield self._count(Invalid(index, line, message))
                continue
            if splitter.scan_metadata is not meta_seen:
                meta_seen = splitter.scan_metadata
                target = self.default_target
            item = normalize(value, index, line, default_target=target)
            if isinstance(item, Ignored | Invalid):
                yield self._count(item)
            elif (
                item.asset == UNKNOWN_ASSET
                and target is None
                and splitter.container == "envelope"
                and splitter.scan_metadata is None
            ):
                held.append((value, index, line))
            else:
                self.results += 1
                yield item
        target = self.default_target
        for value, held_index, line in held:
            yield self._count(normalize(value, held_index, line, default_target=target))


def iter_results(
    chunks: Iterable[bytes], *, default_target: str | None = None
) -> Iterator[ParsedItem]:
    """Parse a Nuclei body given as byte chunks; see :class:`NucleiStream` for metadata."""
    return iter(NucleiStream(chunks, default_target=default_target))
