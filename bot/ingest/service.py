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

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.core import transaction
from bot.events.service import NewEvent, append_events
from bot.findings.rules import KevFacts
from bot.ingest.artifacts import retain_scan
from bot.ingest.body import Body
from bot.ingest.pipeline import IngestPipeline
from bot.kev.models import KevCatalogVersion
from bot.kev.service import kev_lookup
from bot.scans.models import Scan
from integrations.evidence import EvidenceStoreError
from integrations.nuclei import Ignored, Invalid, NucleiStream

MAX_REPORTED_PROBLEMS = 20
INGEST_LOCK_ID = 0x51AB08


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
    current = session.scalar(select(KevCatalogVersion.id).where(KevCatalogVersion.is_current))
    if current is None:
        return {}
    cached = ctx.services.get("kev.lookup")
    if cached is not None and cached[0] == current:
        lookup: dict[str, KevFacts] = cached[1]
        return lookup
    lookup = kev_lookup(session, current)
    ctx.services["kev.lookup"] = (current, lookup)
    return lookup


def _serialize_ingests(session: Session) -> None:
    """PostgreSQL: one ingest at a time, so two bodies carrying the same new finding cannot
    both insert it. (SQLite's BEGIN IMMEDIATE already serializes writers.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_LOCK_ID})


def ingest(
    ctx: AppContext,
    body: Body,
    *,
    source: str,
    target: str | None,
    now: datetime,
    on_bytes: Callable[[int], None] | None = None,
) -> IngestSummary:
    def chunks() -> Iterator[bytes]:
        for chunk in body.chunks():
            yield chunk
            if on_bytes is not None:
                on_bytes(len(chunk))

    with transaction(ctx.sessions) as session:
        _serialize_ingests(session)
        scan = Scan(
            received_at=now,
            source=source,
            scanner="nuclei",
            target=target,
            container="unknown",
            sha256=body.sha256,
            size_bytes=body.size,
        )
        session.add(scan)
        session.flush()
        pipeline = IngestPipeline(ctx, session, scan.id, now, _kev_for_ingest(ctx, session))
        stream = NucleiStream(chunks(), default_target=target)
        problems: list[str] = []
        ignored = 0
        for item in stream:
            if isinstance(item, Invalid):
                problems.append(item.message)
                if len(problems) >= MAX_REPORTED_PROBLEMS:
                    break
            elif problems:
                continue  # keep reading only to report further problems
            elif isinstance(item, Ignored):
                ignored += 1
            else:
                pipeline.add(item)
        if problems:
            raise IngestRejectedError(problems)
        pipeline.flush()
        counts = pipeline.counts
        scan.container = stream.container
        scan.target = target or stream.default_target
        scan.scan_metadata = stream.scan_metadata
        for name in ("findings", "new", "duplicate", "reopened", "escalated_kev"):
            setattr(scan, name, getattr(counts, name))
        scan.tickets_opened = counts.tickets_opened
        scan.ignored = ignored
        try:
            stored = retain_scan(
                ctx.evidence,
                body,
                now=now,
                metadata={
                    "target": scan.target,
                    "source": source,
                    "policy": ctx.policy.name,
                    "container": stream.container,
                },
            )
        except EvidenceStoreError as exc:
            raise EvidenceUnavailableError(f"evidence store unavailable: {exc}") from exc
        scan.artifact_uri, scan.artifact_key = stored.uri, stored.key
        summary = IngestSummary(
            scan_id=scan.id,
            findings=counts.findings,
            new=counts.new,
            duplicate=counts.duplicate,
            reopened=counts.reopened,
            escalated_kev=counts.escalated_kev,
            tickets_opened=counts.tickets_opened,
            ignored=ignored,
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
                        "target": scan.target,
                        "sha256": body.sha256,
                        "size": body.size,
                        "container": stream.container,
                        "artifact": stored.uri,
                        "via": source,
                    },
                )
            ],
            now=now,
        )
    return summary
