"""A new KEV catalog reaches open tickets; the daily feed refresh job.

When CISA adds a CVE, every open finding carrying it escalates to the KEV severity and its
due date tightens — in one pass over the join of ``finding_cves`` and the added CVEs, not a
query per ticket. Findings below the ticket threshold that escalate open their ticket now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from prometheus_client import Counter
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.core import table_of, transaction
from bot.database.state import get_state, set_state
from bot.events.service import NewEvent, append_events
from bot.findings.events import escalation_event
from bot.findings.models import Finding, FindingCve
from bot.findings.rules import KevFacts, as_severity, escalate
from bot.jobs.errors import RetryableJobError
from bot.jobs.service import ClaimedJob, enqueue
from bot.kev.models import KevEntry
from bot.kev.service import StoredCatalog, kev_lookup, store_catalog
from bot.metrics import REGISTRY
from bot.policy import opens_ticket
from bot.tickets.service import TicketNeed, open_tickets_for_findings, recompute_tickets
from integrations.kev import FeedState, KevCatalog, KevFeedError, fetch_catalog

log = logging.getLogger(__name__)

KEV_FEED_FAILURES = Counter(
    "slabot_kev_feed_failures_total", "KEV feed refreshes that failed", registry=REGISTRY
)
KEV_FEED_STATE = "kev.feed"


@dataclass(slots=True)
class CatalogUpdate:
    catalog_version: str
    stored: bool
    current: bool
    added: int = 0
    removed: int = 0
    escalated_findings: int = 0
    tickets_changed: int = 0
    tickets_opened: int = 0
    delisted_findings: int = 0
    notes: list[str] = field(default_factory=list)


def _cve_set(session: Session, catalog_id: int | None) -> set[str]:
    if catalog_id is None:
        return set()
    return set(session.scalars(select(KevEntry.cve_id).where(KevEntry.catalog_id == catalog_id)))


def load_catalog(
    ctx: AppContext,
    session: Session,
    catalog: KevCatalog,
    *,
    now: datetime,
    etag: str | None = None,
    last_modified: str | None = None,
) -> CatalogUpdate:
    stored = store_catalog(session, catalog, now=now, etag=etag, last_modified=last_modified)
    result = CatalogUpdate(catalog.catalog_version, stored.created, stored.became_current)
    if not stored.created or not stored.became_current:
        return result
    apply_catalog_change(ctx, session, stored, now=now, result=result)
    return result


def apply_catalog_change(
    ctx: AppContext,
    session: Session,
    stored: StoredCatalog,
    *,
    now: datetime,
    result: CatalogUpdate,
) -> None:
    old = _cve_set(session, stored.previous_current_id)
    new = _cve_set(session, stored.id)
    added, removed = new - old, old - new
    result.added, result.removed = len(added), len(removed)
    append_events(
        session,
        [
            NewEvent(
                kind="kev.catalog_loaded",
                at=now,
                source="system",
                details={
                    "catalog_version": stored.catalog_version,
                    "added": len(added),
                    "removed": len(removed),
                    "entries": len(new),
                },
            )
        ],
        now=now,
    )
    facts = kev_lookup(session, stored.id)
    _escalate_added(ctx, session, added, facts, now=now, result=result)
    _flag_removed(session, removed, stored.catalog_version, now=now, result=result)


def _open_findings_with(session: Session, cves: set[str]) -> list[tuple[Finding, list[str]]]:
    if not cves:
        return []
    matches: dict[int, list[str]] = {}
    cve_list = sorted(cves)
    for start in range(0, len(cve_list), 500):
        chunk = cve_list[start : start + 500]
        for fid, cve in session.execute(
            select(FindingCve.finding_id, FindingCve.cve_id).where(FindingCve.cve_id.in_(chunk))
        ):
            matches.setdefault(int(fid), []).append(str(cve))
    if not matches:
        return []
    findings = session.scalars(
        select(Finding).where(Finding.id.in_(list(matches)), Finding.status == "open")
    ).all()
    return [(f, sorted(matches[f.id])) for f in findings]


def _escalate_added(
    ctx: AppContext,
    session: Session,
    added: set[str],
    facts: dict[str, KevFacts],
    *,
    now: datetime,
    result: CatalogUpdate,
) -> None:
    policy, tz = ctx.policy, ctx.tz
    updates: list[dict[str, Any]] = []
    new_events: list[NewEvent] = []
    touched_tickets: set[int] = set()
    needs_ticket: list[TicketNeed] = []
    for finding, cves in _open_findings_with(session, added):
        if finding.kev:
            continue
        fact = facts[cves[0]]
        outcome = escalate(
            policy,
            current_severity=finding.severity,
            current_due=finding.due_date,
            first_seen=finding.first_seen,
            new_severity=policy.kev.escalate_to,
            at=now,
            tz=tz,
            kev=fact,
        )
        updates.append(
            {
                "fid": finding.id,
                "severity": outcome.severity,
                "due": outcome.due,
                "added": fact.date_added,
                "kev_due": fact.due_date,
                "ransomware": fact.known_ransomware,
                "version": fact.catalog_version,
                "escalated_at": now,
            }
        )
        new_events.append(
            escalation_event(
                finding_id=finding.id,
                ticket_id=finding.ticket_id,
                from_severity=finding.severity,
                to_severity=outcome.severity,
                at=now,
                fact=fact,
                reason="kev",
                old_due=finding.due_date,
                new_due=outcome.due,
                cve_ids=cves,
            )
        )
        if finding.ticket_id is not None:
            touched_tickets.add(finding.ticket_id)
        elif opens_ticket(policy, as_severity(outcome.severity)):
            needs_ticket.append(
                TicketNeed(
                    finding_id=finding.id,
                    grouping_key=finding.grouping_key,
                    title=f"{finding.name} on {finding.asset}",
                    template_id=finding.template_id,
                    asset=finding.asset,
                    severity=outcome.severity,
                    reported_severity=finding.reported_severity,
                    kev=True,
                    cve_ids=list(finding.cve_ids),
                    due_date=outcome.due,
                    clock_started_at=finding.clock_started_at,
                )
            )
    result.escalated_findings = len(updates)
    if not updates:
        return
    session.execute(
        update(table_of(Finding))
        .where(Finding.id == bindparam("fid"))
        .values(
            severity=bindparam("severity"),
            due_date=bindparam("due"),
            kev=True,
            kev_date_added=bindparam("added"),
            kev_due_date=bindparam("kev_due"),
            kev_ransomware=bindparam("ransomware"),
            kev_catalog_version=bindparam("version"),
            kev_delisted=False,
            escalated_at=bindparam("escalated_at"),
        ),
        updates,
        execution_options={"synchronize_session": False},
    )
    append_events(session, new_events, now=now)
    result.tickets_opened = open_tickets_for_findings(
        session,
        needs_ticket,
        tracker=ctx.settings.tracker,
        policy=policy,
        now=now,
        reason="kev",
    )
    changes = recompute_tickets(
        session,
        touched_tickets,
        now=now,
        reason="kev",
        details={"catalog_version": result.catalog_version},
    )
    result.tickets_changed = len(changes)
    for change in changes:
        enqueue(
            session,
            kind="notify.ticket",
            key=f"notify.kev:{change.ticket_id}:{result.catalog_version}",
            now=now,
            payload={"ticket_id": change.ticket_id, "reason": "kev_escalation"},
        )


def _flag_removed(
    session: Session, removed: set[str], version: str, *, now: datetime, result: CatalogUpdate
) -> None:
    """A delisted CVE keeps its ticket's severity and due date; the finding is flagged."""
    flagged = [(f, cves) for f, cves in _open_findings_with(session, removed) if f.kev]
    result.delisted_findings = len(flagged)
    if not flagged:
        return
    session.execute(
        update(table_of(Finding)).where(Finding.id == bindparam("fid")).values(kev_delisted=True),
        [{"fid": f.id} for f, _ in flagged],
        execution_options={"synchronize_session": False},
    )
    append_events(
        session,
        [
            NewEvent(
                kind="finding.kev_delisted",
                at=now,
                source="system",
                finding_id=f.id,
                ticket_id=f.ticket_id,
                details={
                    "cve_ids": cves,
                    "catalog_version": version,
                    "note": "severity and due date kept",
                },
            )
            for f, cves in flagged
        ],
        now=now,
    )


def _feed_state(session: Session) -> FeedState | None:
    raw = get_state(session, KEV_FEED_STATE)
    if raw is None:
        return None
    released = raw.get("date_released")
    return FeedState(
        etag=raw.get("etag"),
        last_modified=raw.get("last_modified"),
        sha256=raw.get("sha256"),
        catalog_version=raw.get("catalog_version"),
        date_released=datetime.fromisoformat(released) if released else None,
    )


def refresh_feed(ctx: AppContext, *, now: datetime, client: httpx.Client | None = None) -> str:
    """Fetch the feed (or SLABOT_KEV_FILE) and load it. Keeps the last good catalog on error."""
    settings = ctx.settings
    if settings.kev_file is not None:
        from integrations.kev import load_catalog_file

        catalog = load_catalog_file(settings.kev_file)
        with transaction(ctx.sessions) as session:
            update_result = load_catalog(ctx, session, catalog, now=now)
        return _describe(update_result)
    with transaction(ctx.sessions) as session:
        state = _feed_state(session)
    own_client = client is None
    http = client or httpx.Client(follow_redirects=False)
    try:
        fetched = fetch_catalog(
            http, url=settings.kev_url, mirror_url=settings.kev_mirror_url, state=state
        )
    except KevFeedError as exc:
        KEV_FEED_FAILURES.inc()
        log.error("KEV feed refresh failed, keeping the last good catalog: %s", exc)
        raise
    finally:
        if own_client:
            http.close()
    for error in fetched.errors:
        log.warning("KEV feed: %s (used %s instead)", error, fetched.url_used)
    with transaction(ctx.sessions) as session:
        next_state = fetched.next_state(state)
        set_state(
            session,
            KEV_FEED_STATE,
            {
                "etag": next_state.etag,
                "last_modified": next_state.last_modified,
                "sha256": next_state.sha256,
                "catalog_version": next_state.catalog_version,
                "date_released": next_state.date_released.isoformat()
                if next_state.date_released
                else None,
                "url_used": fetched.url_used,
                "checked_at": now.isoformat(),
            },
            now=now,
        )
        if fetched.catalog is None:
            return f"KEV catalog {fetched.status} ({fetched.url_used})"
        update_result = load_catalog(
            ctx,
            session,
            fetched.catalog,
            now=now,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
        )
    return _describe(update_result)


def _describe(result: CatalogUpdate) -> str:
    if not result.stored:
        return f"KEV catalog {result.catalog_version}: already loaded, nothing changed"
    if not result.current:
        return f"KEV catalog {result.catalog_version}: stored (older than the current catalog)"
    return (
        f"KEV catalog {result.catalog_version}: +{result.added} -{result.removed} CVEs; "
        f"{result.escalated_findings} findings escalated, {result.tickets_changed} tickets "
        f"tightened, {result.tickets_opened} tickets opened, "
        f"{result.delisted_findings} findings flagged delisted"
    )


def refresh_job(ctx: AppContext, _job: ClaimedJob, now: datetime) -> None:
    try:
        log.info(refresh_feed(ctx, now=now))
    except KevFeedError as exc:
        raise RetryableJobError(str(exc)) from exc


def schedule_refresh(ctx: AppContext, session: Session, now: datetime) -> int:
    """Daily: one refresh job per UTC day (a second clock inserts nothing)."""
    key = f"kev.refresh:{now.date().isoformat()}"
    return int(enqueue(session, kind="kev.refresh", key=key, now=now, max_attempts=6))
