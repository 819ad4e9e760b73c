"""Ticket rules that touch the database: open, recompute from findings, change status.

Every change appends its event in the same transaction. Functions take ``now`` (the
command's clock) and never read the wall clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bot.database.bulk import allocate_ids, insert_many
from bot.database.core import table_of
from bot.events.service import NewEvent, append_events
from bot.findings.models import Finding
from bot.jobs.service import TRACKER_MAX_ATTEMPTS, enqueue
from bot.policy import Policy, severity_rank
from bot.tickets.models import Ticket

OPEN_STATES = ("open", "in_progress")
ACTIVE_STATES = ("open", "in_progress", "risk_accepted")
RESOLVED_STATES = ("resolved", "resolved_unverified")


def local_key(ticket_id: int) -> str:
    """The key a ticket has when slabot's local tracker holds it."""
    return f"SLABOT-{ticket_id}"


@dataclass(frozen=True, slots=True)
class TicketDraft:
    grouping_key: str
    title: str
    template_id: str
    asset: str
    severity: str
    reported_severity: str
    kev: bool
    cve_ids: list[str]
    due_date: date | None
    opened_at: datetime
    clock_started_at: datetime | None = None


def open_tickets(
    session: Session,
    drafts: Sequence[TicketDraft],
    *,
    tracker: str,
    policy: Policy,
    now: datetime,
    source: str = "system",
) -> dict[str, int]:
    """Insert tickets, their ``ticket.opened`` events and tracker jobs. grouping_key → id."""
    if not drafts:
        return {}
    ids = allocate_ids(session, table_of(Ticket), len(drafts))
    rows = [
        {
            "id": tid,
            "grouping_key": d.grouping_key,
            "title": d.title,
            "template_id": d.template_id,
            "asset": d.asset,
            "severity": d.severity,
            "reported_severity": d.reported_severity,
            "kev": d.kev,
            "cve_ids": d.cve_ids,
            "status": "open",
            "due_date": d.due_date,
            "opened_at": d.opened_at,
            "clock_started_at": d.clock_started_at or d.opened_at,
            "status_changed_at": d.opened_at,
            "tracker": tracker,
            "external_key": local_key(tid) if tracker == "local" else None,
            "next_reminder_at": d.opened_at,
        }
        for tid, d in zip(ids, drafts, strict=True)
    ]
    insert_many(session, table_of(Ticket), rows)
    append_events(
        session,
        [
            NewEvent(
                kind="ticket.opened",
                at=d.opened_at,
                source=source,
                ticket_id=tid,
                to_state="open",
                details={
                    "title": d.title,
                    "severity": d.severity,
                    "reported_severity": d.reported_severity,
                    "kev": d.kev,
                    "cve_ids": d.cve_ids,
                    "asset": d.asset,
                    "template_id": d.template_id,
                    "due_date": d.due_date,
                    "policy": policy.name,
                    "tracker": tracker,
                },
            )
            for d, tid in zip(drafts, ids, strict=True)
        ],
        now=now,
    )
    if tracker != "local":
        for tid in ids:
            enqueue(
                session,
                kind="tracker.create",
                key=f"tracker.create:{tid}",
                now=now,
                payload={"ticket_id": tid},
                max_attempts=TRACKER_MAX_ATTEMPTS,
            )
    return {d.grouping_key: tid for d, tid in zip(drafts, ids, strict=True)}


@dataclass(frozen=True, slots=True)
class TicketNeed:
    """A finding that has no ticket yet but now qualifies for one (it escalated)."""

    finding_id: int
    grouping_key: str
    title: str
    template_id: str
    asset: str
    severity: str
    reported_severity: str
    kev: bool
    cve_ids: list[str]
    due_date: date | None
    clock_started_at: datetime | None = None


def open_tickets_for_findings(
    session: Session,
    needs: Sequence[TicketNeed],
    *,
    tracker: str,
    policy: Policy,
    now: datetime,
    reason: str,
) -> int:
    """Attach escalated findings to their group's ticket, opening it when there is none.
    Returns how many tickets were opened."""
    if not needs:
        return 0
    keys = {n.grouping_key for n in needs}
    existing: dict[str, int] = {
        key: tid
        for key, tid in session.execute(
            select(Ticket.grouping_key, Ticket.id).where(Ticket.grouping_key.in_(keys))
        )
    }
    drafts: dict[str, TicketDraft] = {}
    for need in needs:
        if need.grouping_key in existing:
            continue
        drafts[need.grouping_key] = merge_draft(
            drafts.get(need.grouping_key),
            TicketDraft(
                grouping_key=need.grouping_key,
                title=need.title,
                template_id=need.template_id,
                asset=need.asset,
                severity=need.severity,
                reported_severity=need.reported_severity,
                kev=need.kev,
                cve_ids=list(need.cve_ids),
                due_date=need.due_date,
                opened_at=now,
                clock_started_at=need.clock_started_at,
            ),
        )
    opened = open_tickets(session, list(drafts.values()), tracker=tracker, policy=policy, now=now)
    existing.update(opened)
    session.execute(
        update(table_of(Finding))
        .where(Finding.id == bindparam("fid"))
        .values(ticket_id=bindparam("tid")),
        [{"fid": n.finding_id, "tid": existing[n.grouping_key]} for n in needs],
        execution_options={"synchronize_session": False},
    )
    recompute_tickets(session, existing.values(), now=now, reason=reason)
    return len(opened)


def earliest(a: date | None, b: date | None) -> date | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def merge_draft(draft: TicketDraft | None, candidate: TicketDraft) -> TicketDraft:
    """Fold one more finding of a group into its ticket draft, the way recompute_tickets
    would: the highest severity's identity, the earliest due date and clock start, KEV if
    any finding is, every CVE."""
    if draft is None:
        return candidate
    top = candidate if severity_rank(candidate.severity) > severity_rank(draft.severity) else draft
    starts = [t for t in (draft.clock_started_at, candidate.clock_started_at) if t is not None]
    return replace(
        top,
        due_date=earliest(draft.due_date, candidate.due_date),
        clock_started_at=min(starts) if starts else None,
        kev=draft.kev or candidate.kev,
        cve_ids=sorted(set(draft.cve_ids) | set(candidate.cve_ids)),
    )


@dataclass(frozen=True, slots=True)
class TicketChange:
    ticket_id: int
    old_due: date | None
    new_due: date | None
    old_severity: str
    new_severity: str
    kev: bool


def recompute_tickets(
    session: Session,
    ticket_ids: Iterable[int],
    *,
    now: datetime,
    reason: str,
    source: str = "system",
    details: dict[str, Any] | None = None,
) -> list[TicketChange]:
    """Bring tickets in line with their open findings: due = earliest open finding due date
    (only ever tightened), severity = highest open finding severity, KEV if any finding is.

    Set-based: one query for all findings of all tickets, one batched update, one batch of
    events and one tracker-update job per changed ticket.
    """
    ids = sorted(set(ticket_ids))
    if not ids:
        return []
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}
    by_ticket: dict[int, list[tuple[date | None, str, bool, list[str]]]] = defaultdict(list)
    for tid, due, severity, kev, cves in session.execute(
        select(
            Finding.ticket_id, Finding.due_date, Finding.severity, Finding.kev, Finding.cve_ids
        ).where(Finding.ticket_id.in_(ids), Finding.status == "open")
    ):
        by_ticket[int(tid)].append((due, severity, kev, cves))
    changes: list[TicketChange] = []
    updates: list[dict[str, Any]] = []
    new_events: list[NewEvent] = []
    for tid in ids:
        ticket = tickets.get(tid)
        findings = by_ticket.get(tid)
        if ticket is None or not findings:
            continue
        dues = [d for d, _, _, _ in findings if d is not None]
        proposed = min(dues) if dues else None
        new_due = ticket.due_date
        if proposed is not None and (new_due is None or proposed < new_due):
            new_due = proposed
        top = max((s for _, s, _, _ in findings), key=severity_rank)
        new_severity = (
            top if severity_rank(top) > severity_rank(ticket.severity) else ticket.severity
        )
        kev = ticket.kev or any(k for _, _, k, _ in findings)
        cves = sorted({c for _, _, _, cs in findings for c in cs} | set(ticket.cve_ids))
        if (new_due, new_severity, kev, cves) == (
            ticket.due_date,
            ticket.severity,
            ticket.kev,
            list(ticket.cve_ids),
        ):
            continue
        change = TicketChange(tid, ticket.due_date, new_due, ticket.severity, new_severity, kev)
        changes.append(change)
        updates.append(
            {"tid": tid, "due": new_due, "severity": new_severity, "kev": kev, "cves": cves}
        )
        if new_due != ticket.due_date:
            new_events.append(
                NewEvent(
                    kind="ticket.due_changed",
                    at=now,
                    source=source,
                    ticket_id=tid,
                    details={
                        "old_due_date": ticket.due_date,
                        "new_due_date": new_due,
                        "reason": reason,
                        **(details or {}),
                    },
                )
            )
        if new_severity != ticket.severity:
            new_events.append(
                NewEvent(
                    kind="ticket.escalated",
                    at=now,
                    source=source,
                    ticket_id=tid,
                    from_state=ticket.severity,
                    to_state=new_severity,
                    details={"reason": reason, "kev": kev, **(details or {})},
                )
            )
    if updates:
        session.execute(
            update(table_of(Ticket))
            .where(Ticket.id == bindparam("tid"))
            .values(
                due_date=bindparam("due"),
                severity=bindparam("severity"),
                kev=bindparam("kev"),
                cve_ids=bindparam("cves"),
            ),
            updates,
            execution_options={"synchronize_session": False},
        )
        append_events(session, new_events, now=now)
        for change in changes:
            if tickets[change.ticket_id].tracker != "local":
                enqueue(
                    session,
                    kind="tracker.update",
                    key=f"tracker.update:{change.ticket_id}:{change.new_due}:{change.new_severity}",
                    now=now,
                    payload={"ticket_id": change.ticket_id},
                    max_attempts=TRACKER_MAX_ATTEMPTS,
                )
    return changes
