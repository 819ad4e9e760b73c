"""Ticket status changes from trackers (webhooks, reconciler), the local tracker (CLI/API)
and slabot itself — applied in the order of the *source's* event time.

A delivery older than the last applied change is still recorded (the transition did happen
in the tracker, and the audit trail should show it) but marked ``applied: false`` and does
not move the ticket: Jira and Linear do not promise delivery order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.acceptances.models import RiskAcceptance
from bot.events import kinds
from bot.events.service import NewEvent, append_event
from bot.findings.models import Finding
from bot.jobs.service import enqueue
from bot.tickets.models import Ticket

STATUSES = ("open", "in_progress", "resolved")
# Resolutions that close a ticket without fixing it: an exception needs approval in slabot.
WONT_FIX = frozenset(
    {
        "won't do",
        "won't fix",
        "wontfix",
        "won't-fix",
        "wont do",
        "declined",
        "canceled",
        "cancelled",
        "not a bug",
        "accepted risk",
        "risk accepted",
        "obsolete",
    }
)


@dataclass(frozen=True, slots=True)
class TransitionResult:
    applied: bool
    status: str
    event_seq: int | None


def _has_approved_acceptance(session: Session, ticket_id: int) -> bool:
    return (
        session.scalar(
            select(RiskAcceptance.id).where(
                RiskAcceptance.ticket_id == ticket_id, RiskAcceptance.status == "approved"
            )
        )
        is not None
    )


def change_status(
    session: Session,
    ticket: Ticket,
    *,
    to: str,
    at: datetime,
    now: datetime,
    source: str,
    actor: str | None = None,
    external_id: str | None = None,
    resolution: str | None = None,
    status_name: str | None = None,
) -> TransitionResult:
    """Move ``ticket`` to ``to`` (open | in_progress | resolved) as of source time ``at``."""
    if to not in STATUSES:
        raise ValueError(f"unknown status {to!r}; expected one of {', '.join(STATUSES)}")
    target = to
    unverified = (
        to == "resolved"
        and resolution is not None
        and resolution.strip().lower() in WONT_FIX
        and not _has_approved_acceptance(session, ticket.id)
    )
    if unverified:
        target = "resolved_unverified"
    stale = at < ticket.status_changed_at
    applied = not stale and target != ticket.status
    details: dict[str, Any] = {
        "source_at": at,
        "status_name": status_name,
        "resolution": resolution,
        "external_key": ticket.external_key,
        "applied": applied,
    }
    if stale:
        details["note"] = "delivered after a later change; ticket not moved"
    elif target == ticket.status:
        details["note"] = "already in this state"
    seq = append_event(
        session,
        NewEvent(
            kind=kinds.TICKET_STATUS_CHANGED,
            at=at,
            source=source,
            ticket_id=ticket.id,
            from_state=ticket.status,
            to_state=target,
            actor=actor,
            external_id=external_id,
            details=details,
        ),
        now=now,
    )
    if not applied:
        if not stale and at > ticket.status_changed_at:
            # Same state, newer source time: remember it, so a delivery older than this one
            # that arrives later is recognised as stale instead of moving the ticket.
            session.execute(
                update(Ticket).where(Ticket.id == ticket.id).values(status_changed_at=at)
            )
            session.refresh(ticket)
        return TransitionResult(False, ticket.status, seq)
    resolved = target in ("resolved", "resolved_unverified")
    values: dict[str, Any] = {"status": target, "status_changed_at": at}
    if resolved:
        values |= {"resolved_at": at, "next_reminder_at": None}
    elif ticket.status in ("resolved", "resolved_unverified"):
        values |= {"resolved_at": None, "next_reminder_at": now}
    session.execute(update(Ticket).where(Ticket.id == ticket.id).values(**values))
    session.execute(
        update(Finding)
        .where(Finding.ticket_id == ticket.id)
        .values(status="resolved" if resolved else "open")
    )
    if unverified:
        enqueue(
            session,
            kind="notify.unverified",
            key=f"notify.unverified:{ticket.id}:{seq}",
            now=now,
            payload={"ticket_id": ticket.id, "resolution": resolution},
        )
    session.refresh(ticket)
    return TransitionResult(True, target, seq)


def record_assignment(
    session: Session,
    ticket: Ticket,
    *,
    assignee_email: str | None,
    assignee_label: str | None,
    at: datetime,
    now: datetime,
    source: str,
    actor: str | None = None,
    external_id: str | None = None,
) -> int:
    previous = ticket.assignee_email
    if assignee_email is not None or assignee_label is None:
        session.execute(
            update(Ticket).where(Ticket.id == ticket.id).values(assignee_email=assignee_email)
        )
    return append_event(
        session,
        NewEvent(
            kind=kinds.TICKET_ASSIGNED,
            at=at,
            source=source,
            ticket_id=ticket.id,
            actor=actor,
            external_id=external_id,
            details={"assignee": assignee_email or assignee_label, "previous": previous},
        ),
        now=now,
    )
