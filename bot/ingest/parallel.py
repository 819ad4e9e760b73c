"""A large CLI ingest in several processes: children parse, one child retains the raw body,
the parent writes to the database.

A body read line by line (JSONL, HEC lines: nearly every large Nuclei output) is cut at a
line boundary near its middle and its two halves are parsed by two children at once: parsing
is most of a re-ingest's work. The parent takes the first half's batches, then the second's,
so the findings arrive in body order, as from one parser. Other containers (an array, an
envelope) are parsed by one child.

The children are started before the parent loads its database code, so parsing overlaps
that start-up too. This module is kept light to import for that reason (no ORM, no database
engine); the parent's side of the work is :func:`bot.ingest.service.ingest`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.ingest.artifacts import retain_scan
from bot.ingest.body import Body, FileBody
from bot.ingest.forked import (
    MAX_REPORTED_PROBLEMS,
    Batch,
    ForkedParse,
    Parsed,
)
from bot.ingest.known import CommittedFingerprints
from bot.ingest.retainer import ForkedRetention
from bot.settings import Settings
from bot.stores import open_evidence
from integrations.evidence import StoredObject
from integrations.nuclei import first_line_end

# Below this, forking costs more than it saves.
FORKED_MIN = 8 * 1024 * 1024
# A first line longer than this is not looked at: the body is parsed by one child.
_PREFIX = 1 << 20


def worth_forking(body: Body) -> bool:
    return body.size >= FORKED_MIN and hasattr(os, "fork")


def parsers_for_this_machine() -> int:
    """Two parsing children on a machine with two cores or more, else one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 2 if (cores or 1) >= 2 else 1


def split_point(body: FileBody) -> int | None:
    """A line boundary near the middle of a body read line by line, or None (one part)."""
    prefix = b"".join(body.chunks_between(0, min(body.size, _PREFIX)))
    first_end = first_line_end(prefix)
    if first_end is None:
        return None
    start = max(body.size // 2, first_end - 1)
    position = start
    for chunk in body.chunks_between(start, body.size):
        newline = chunk.find(b"\n")
        if newline != -1:
            cut = position + newline + 1
            return cut if cut < body.size else None
        position += len(chunk)
    return None


class PartedParse:
    """The batches of parts of one body parsed by several children, in body order, then
    what the body declared (or its first problems), as from one :class:`ForkedParse`."""

    def __init__(self, parts: list[tuple[ForkedParse, int]]) -> None:
        """``parts``: each child with the offset of its first byte in the body."""
        self._parts = parts
        self.parsed: Parsed | None = None
        self.problems: list[str] = []

    def batches(self) -> Iterator[Batch]:
        """Each batch's ``read`` counts the bytes of the whole body read so far."""
        declared: list[Parsed] = []
        problems: list[str] = []
        for parse, offset in self._parts:
            for batch in parse.batches():
                if not problems:  # past a rejected part, only the problems matter
                    yield batch._replace(read=offset + batch.read)
            if parse.parsed is None:
                problems += parse.problems
                if len(problems) >= MAX_REPORTED_PROBLEMS:
                    break
            else:
                declared.append(parse.parsed)
        if problems:
            self.problems = problems[:MAX_REPORTED_PROBLEMS]
            return
        first, *rest = declared
        container = first.container
        if container == "object" and any(p.container == "jsonl" for p in rest):
            container = "jsonl"  # one line, then more lines: as one parser would name it
        self.parsed = replace(first, container=container, ignored=sum(p.ignored for p in declared))

    def close(self) -> None:
        errors: list[BaseException] = []
        for parse, _ in self._parts:
            try:
                parse.close()
            except BaseException as exc:  # every child is reaped, whatever one raises
                errors.append(exc)
        if errors:
            raise errors[0]


class ForkedIngest:
    """The children of one ingest of a file. ``now`` is the ingest's time (it dates the
    artifact). ``parsers``: how many children parse (1 or 2); by default
    :func:`parsers_for_this_machine`. (Only a file: each child reads it with a handle of its
    own, where a spooled body's one handle would be shared across the fork.)

    Use as a context manager: leaving it always ends and reaps every child.
    """

    def __init__(
        self,
        body: FileBody,
        *,
        settings: Settings,
        target: str | None,
        now: datetime,
        parsers: int | None = None,
    ) -> None:
        def retain(checked: Body, metadata: Callable[[], Mapping[str, Any]]) -> StoredObject:
            # A store of the child's own: a client inherited across fork may share sockets.
            return retain_scan(open_evidence(settings), checked, now=now, metadata=metadata)

        self.now = now
        self.retention = ForkedRetention(body, retain)
        started: list[tuple[ForkedParse, int]] = []
        try:
            cut = split_point(body) if (parsers or parsers_for_this_machine()) >= 2 else None
            ranges = [(0, body.size)] if cut is None else [(0, cut), (cut, body.size)]
            for start, stop in ranges:
                started.append(
                    (
                        ForkedParse(
                            _between(body, start, stop),
                            target=target,
                            max_problems=MAX_REPORTED_PROBLEMS,
                            known=CommittedFingerprints(settings.database_url),
                            after=_between(body, 0, start) if start else None,
                        ),
                        start,
                    )
                )
        except BaseException:
            PartedParse(started).close()
            self.retention.close()
            raise
        self.parse = PartedParse(started)

    def close(self) -> None:
        try:
            self.parse.close()
        finally:
            self.retention.close()

    def __enter__(self) -> ForkedIngest:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _between(body: FileBody, start: int, stop: int) -> Callable[[], Iterator[bytes]]:
    if (start, stop) == (0, body.size):
        return body.chunks
    return lambda: body.chunks_between(start, stop)
