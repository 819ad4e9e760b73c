"""Shared helpers for the ingest, KEV-flow and ticket-API tests (not a test module)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from bot.context import AppContext
from bot.database.core import transaction
from bot.events.models import Event
from bot.findings.models import Finding
from bot.ingest.body import Body
from bot.ingest.service import IngestSummary, ingest
from bot.jobs.models import Job
from bot.kev.models import KevCatalogVersion
from bot.scans.models import Scan
from bot.tickets.models import Ticket

INGEST_TOKEN = "test-ingest-token"
API_TOKEN = "test-api-token"
SUMMARY_KEYS = {
    "scan_id",
    "findings",
    "new",
    "duplicate",
    "reopened",
    "escalated_kev",
    "tickets_opened",
    "ignored",
}
TICKET_KEYS = {
    "id",
    "title",
    "severity",
    "reported_severity",
    "kev",
    "cve_ids",
    "template_id",
    "asset",
    "status",
    "sla_outcome",
    "due_date",
    "opened_at",
    "resolved_at",
    "tracker",
    "external_key",
    "external_url",
    "finding_count",
}
EVENT_KEYS = {"seq", "at", "kind", "from", "to", "actor", "source", "details"}


def record(
    template_id: str = "test-template",
    *,
    severity: str = "high",
    matched_at: str | None = "https://app.example.com/login",
    matcher: str | None = None,
    cves: Iterable[str] = (),
    timestamp: str | None = None,
    name: str | None = None,
    old_keys: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """One Nuclei result event, new key style by default (``old_keys`` for v2.3-era)."""
    info: dict[str, Any] = {"name": name or f"{template_id} finding", "severity": severity}
    cve_list = list(cves)
    if cve_list:
        info["classification"] = {"cve-id": [c.lower() for c in cve_list]}
    rec: dict[str, Any] = {"info": info, "type": "http"}
    rec["templateID" if old_keys else "template-id"] = template_id
    if matched_at is not None:
        rec["matched" if old_keys else "matched-at"] = matched_at
    if matcher is not None:
        rec["matcher_name" if old_keys else "matcher-name"] = matcher
    if timestamp is not None:
        rec["timestamp"] = timestamp
    if not old_keys:
        rec["matcher-status"] = True
    rec.update(extra)
    return rec


def jsonl(records: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def body_of(data: bytes) -> Body:
    return Body.from_chunks([data])


def ingest_bytes(
    ctx: AppContext,
    data: bytes,
    *,
    now: datetime,
    target: str | None = None,
    source: str = "test",
) -> IngestSummary:
    with body_of(data) as body:
        return ingest(ctx, body, source=source, target=target, now=now)


def sign(body: bytes, secret: str = INGEST_TOKEN) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def counts(ctx: AppContext) -> dict[str, int]:
    """Row counts of every table an ingest writes to."""
    out: dict[str, int] = {}
    with ctx.sessions() as session:
        for name, model in (
            ("scans", Scan),
            ("findings", Finding),
            ("tickets", Ticket),
            ("events", Event),
            ("jobs", Job),
            ("kev_catalogs", KevCatalogVersion),
        ):
            out[name] = int(session.scalar(select(func.count()).select_from(model)) or 0)
    return out


def events(ctx: AppContext, kind: str | None = None) -> list[Event]:
    with ctx.sessions() as session:
        query = select(Event).order_by(Event.seq)
        if kind is not None:
            query = query.where(Event.kind == kind)
        return list(session.scalars(query))


def kinds(ctx: AppContext) -> list[str]:
    return [e.kind for e in events(ctx)]


def findings(ctx: AppContext) -> list[Finding]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Finding).order_by(Finding.id)))


def tickets(ctx: AppContext) -> list[Ticket]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def jobs(ctx: AppContext) -> list[Job]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def scans(ctx: AppContext) -> list[Scan]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Scan).order_by(Scan.id)))


def evidence_root(ctx: AppContext) -> Path:
    url = ctx.settings.evidence_url
    assert url.startswith("file://")
    return Path(url.removeprefix("file://"))


def evidence_files(ctx: AppContext) -> list[Path]:
    root = evidence_root(ctx)
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def with_settings(ctx: AppContext, **changes: Any) -> AppContext:
    """The same database and evidence store, with some settings changed."""
    settings = ctx.settings.model_copy(update=changes)
    return dataclasses.replace(ctx, settings=settings, services={})


def set_ticket_status(ctx: AppContext, ticket_id: int, status: str, *, at: datetime) -> None:
    """What a tracker webhook does to the database (tests drive it directly)."""
    from sqlalchemy import update

    resolved = status in ("resolved", "resolved_unverified")
    with transaction(ctx.sessions) as session:
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id)
            .values(
                status=status,
                status_changed_at=at,
                resolved_at=at if resolved else None,
            )
        )
        if resolved:
            session.execute(
                update(Finding).where(Finding.ticket_id == ticket_id).values(status="resolved")
            )


_CLI_REGISTERED = False


def register_cli_once() -> None:
    """``bot.cli.app._register_features()`` attaches commands; do it once per process."""
    global _CLI_REGISTERED
    if not _CLI_REGISTERED:
        from bot.cli.app import _register_features

        _register_features()
        _CLI_REGISTERED = True
