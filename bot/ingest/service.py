"""Ingest one Nuclei body atomically: all of it is stored, or none of it.

A body with any invalid record is rejected with the first 20 problems, and the transaction
(scan row, findings, tickets, events, jobs) rolls back. An accepted body is retained raw in
the evidence store before the transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.bulk import (
    advisory_xact_lock,
    allocate_ids,
    driver_rows,
    execute_many,
    insert_sql,
    to_db,
)
from bot.database.core import table_of, transaction, widen_cache_for_bulk
from bot.events.service import NewEvent, append_events
from bot.findings.rules import KevFacts
from bot.ingest.artifacts import IN_MEMORY_LIMIT, retain_scan
from bot.ingest.body import Body, BodyFacts
from bot.ingest.evidence import without_nul
from bot.ingest.forked import MAX_REPORTED_PROBLEMS, Parsed, read_stream
from bot.ingest.parallel import ForkedIngest
from bot.ingest.pipeline import IngestPipeline
from bot.kev.service import kev_lookup
from bot.scans.models import Scan
from integrations.evidence import EvidenceStoreError, StoredObject
from integrations.nuclei import NucleiResult, NucleiStream

INGEST_LOCK_ID = 0x51AB08
# Bodies up to this size are parsed whole before the write transaction opens.
PREPARSED_LIMIT = IN_MEMORY_LIMIT
_CURRENT_KEV_SQL = "SELECT id FROM kev_catalogs WHERE is_current = true"
_SCAN_COLUMNS = (
    "id",
    "received_at",
    "source",
    "scanner",
    "container",
    "sha256",
    "size_bytes",
    "findings",
    "new",
    "duplicate",
    "reopened",
    "escalated_kev",
    "tickets_opened",
    "ignored",
)


@dataclass(frozen=True, slots=True)
class IngestSummary:
    scan_id: int | None
    findings: int
    new: int
    duplicate: int
    reopened: int
    escalated_kev: int
    tickets_opened: int
    ignored: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class IngestRejectedError(Exception):
    """The body is not acceptable; ``problems`` name each bad record (first 20)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} invalid record(s): " + "; ".join(problems[:3]))
        self.problems = problems


class EvidenceUnavailableError(Exception):
    """The raw body could not be retained, so nothing was stored."""


def _kev_for_ingest(ctx: AppContext, session: Session) -> dict[str, KevFacts]:
    """The current catalog's lookup, cached per process until a new catalog becomes current
    (a stored catalog never changes, so its id is a safe cache key)."""
    rows = driver_rows(session, _CURRENT_KEV_SQL)
    if not rows:
        return {}
    current = rows[0][0]
    cached = ctx.services.get("kev.lookup")
    if cached is not None and cached[0] == current:
        lookup: dict[str, KevFacts] = cached[1]
        return lookup
    lookup = kev_lookup(session, int(current))
    ctx.services["kev.lookup"] = (current, lookup)
    return lookup


def _serialize_ingests(session: Session) -> None:
    """One ingest at a time, so two bodies carrying the same new finding cannot both insert
    it."""
    advisory_xact_lock(session, INGEST_LOCK_ID)


def _metadata(ctx: AppContext, parsed: Parsed, *, source: str) -> dict[str, Any]:
    """The envelope's description of an accepted body."""
    return {
        "target": parsed.target,
        "source": source,
        "policy": ctx.policy.name,
        "container": parsed.container,
    }


def _retain(
    ctx: AppContext, body: Body, parsed: Parsed, *, source: str, now: datetime
) -> StoredObject:
    try:
        return retain_scan(
            ctx.evidence, body, now=now, metadata=_metadata(ctx, parsed, source=source)
        )
    except EvidenceStoreError as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: EvidenceStoreError) -> EvidenceUnavailableError:
    return EvidenceUnavailableError(f"evidence store unavailable: {exc}")


def _read(stream: NucleiStream, accept: Callable[[Any], None]) -> Parsed:
    outcome = read_stream(stream, accept, max_problems=MAX_REPORTED_PROBLEMS)
    if isinstance(outcome, list):
        raise IngestRejectedError(outcome)
    return outcome


def ingest(
    ctx: AppContext,
    body: Body,
    *,
    source: str,
    target: str | None,
    now: datetime,
    on_bytes: Callable[[int], None] | None = None,
    forked: ForkedIngest | None = None,
) -> IngestSummary:
    """Store one body atomically; the ingest summary.

    ``forked``: children already parsing and retaining ``body`` (:mod:`bot.ingest.parallel`;
    the CLI starts them for a large file before it loads the database code). This process
    then only writes, and this call ends them.
    """
    if forked is not None:
        with forked:
            return _ingest_forked(ctx, body, forked, source=source, now=now, on_bytes=on_bytes)

    def chunks() -> Iterator[bytes]:
        for chunk in body.chunks():
            yield chunk
            if on_bytes is not None:
                on_bytes(len(chunk))

    stream = NucleiStream(chunks(), default_target=target)
    if body.size <= PREPARSED_LIMIT:
        # A webhook-sized body is read and retained before the write transaction: the
        # evidence file's fsyncs then overlap other requests' writes instead of holding the
        # database's single write lock. (If the transaction then fails, the artifact stays:
        # the bytes were received and verified, and nothing in the database points to it.)
        results: list[NucleiResult] = []
        parsed = _read(stream, results.append)
        stored = _retain(ctx, body, parsed, source=source, now=now)
        with transaction(ctx.sessions) as session:
            pipeline = _open_scan(ctx, session, body.facts, source=source, now=now, bulk=False)
            for result in results:
                pipeline.add(result)
            pipeline.flush()
            return _finish(pipeline, body.facts, parsed, stored, source)
    with transaction(ctx.sessions) as session:
        pipeline = _open_scan(ctx, session, body.facts, source=source, now=now, bulk=True)
        parsed = _read(stream, pipeline.add)
        pipeline.flush()
        stored = _retain(ctx, body, parsed, source=source, now=now)
        return _finish(pipeline, body.facts, parsed, stored, source)


def _ingest_forked(
    ctx: AppContext,
    body: Body,
    forked: ForkedIngest,
    *,
    source: str,
    now: datetime,
    on_bytes: Callable[[int], None] | None,
) -> IngestSummary:
    if forked.now != now:
        raise ValueError("the forked children were started for another ingest time")
    reported = 0
    with transaction(ctx.sessions) as session:
        # The body's digest comes from the retaining child at the end (it reads the whole
        # body anyway); until then the scan row holds its size only.
        size_only = BodyFacts("", body.size)
        pipeline = _open_scan(ctx, session, size_only, source=source, now=now, bulk=True)
        for batch in forked.parse.batches():
            pipeline.add_parsed(batch.sightings, batch.known_ids)
            if on_bytes is not None:
                on_bytes(batch.read - reported)
                reported = batch.read
        parsed = forked.parse.parsed
        if parsed is None:
            raise IngestRejectedError(forked.parse.problems)
        forked.retention.provide(_metadata(ctx, parsed, source=source))
        pipeline.flush()
        try:
            stored, facts = forked.retention.result()
        except EvidenceStoreError as exc:
            raise _unavailable(exc) from exc
        return _finish(pipeline, facts, parsed, stored, source)


def _open_scan(
    ctx: AppContext,
    session: Session,
    facts: BodyFacts,
    *,
    source: str,
    now: datetime,
    bulk: bool,
) -> IngestPipeline:
    """Start the write transaction's work: the ingest lock, the scan row, and the pipeline
    that writes into it. ``bulk``: a large body (its connection gets a bigger cache)."""
    _serialize_ingests(session)
    if bulk:
        widen_cache_for_bulk(session)
    scan_id = _insert_scan(session, facts, source=source, now=now)
    return IngestPipeline(ctx, session, scan_id, now, _kev_for_ingest(ctx, session))


def _insert_scan(session: Session, facts: BodyFacts, *, source: str, now: datetime) -> int:
    """The scan row, first: findings point at it. Its counts are filled in by ``_finish``."""
    scans = table_of(Scan)
    [scan_id] = allocate_ids(session, scans, 1)
    execute_many(
        session,
        insert_sql(scans, _SCAN_COLUMNS),
        [
            (
                scan_id,
                to_db(session, scans, "received_at", now),
                source,
                "nuclei",
                "unknown",
                facts.sha256,
                facts.size,
                *(0,) * 7,
            )
        ],
    )
    return scan_id


def _finish(
    pipeline: IngestPipeline,
    facts: BodyFacts,
    parsed: Parsed,
    stored: StoredObject,
    source: str,
) -> IngestSummary:
    """Complete the scan row and record ``scan.ingested``; the summary."""
    session, scan_id, now = pipeline.session, pipeline.scan_id, pipeline.now
    counts = pipeline.counts
    summary = IngestSummary(
        scan_id=scan_id,
        findings=counts.findings,
        new=counts.new,
        duplicate=counts.duplicate,
        reopened=counts.reopened,
        escalated_kev=counts.escalated_kev,
        tickets_opened=counts.tickets_opened,
        ignored=parsed.ignored,
    )
    scans = table_of(Scan)
    execute_many(
        session,
        "UPDATE scans SET sha256 = ?, size_bytes = ?, target = ?, container = ?, "
        "scan_metadata = ?, artifact_uri = ?, artifact_key = ?, findings = ?, new = ?, "
        "duplicate = ?, reopened = ?, escalated_kev = ?, tickets_opened = ?, ignored = ? "
        "WHERE id = ?",
        [
            (
                facts.sha256,
                facts.size,
                without_nul(parsed.target),
                parsed.container,
                to_db(session, scans, "scan_metadata", without_nul(parsed.scan_metadata)),
                stored.uri,
                stored.key,
                summary.findings,
                summary.new,
                summary.duplicate,
                summary.reopened,
                summary.escalated_kev,
                summary.tickets_opened,
                summary.ignored,
                scan_id,
            )
        ],
    )
    append_events(
        session,
        [
            NewEvent(
                kind="scan.ingested",
                at=now,
                source="nuclei",
                details={
                    **summary.as_dict(),
                    "new_below_threshold": counts.new_below_threshold,
                    "target": without_nul(parsed.target),
                    "sha256": facts.sha256,
                    "size": facts.size,
                    "container": parsed.container,
                    "artifact": stored.uri,
                    "via": source,
                },
            )
        ],
        now=now,
    )
    return summary
