"""Regressions at ingest: a finding seen again after its ticket was resolved reopens the
ticket, and the SLA clock restarts at the reappearance (recorded with old and new due date)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, update

from bot.database.core import table_of
from bot.events.service import NewEvent, append_events
from bot.findings.models import Finding
from bot.findings.rules import initial_due
from bot.jobs.service import TRACKER_MAX_ATTEMPTS, enqueue
from bot.tickets.models import Ticket
from bot.tickets.service import RESOLVED_STATES

if TYPE_CHECKING:
    from bot.ingest.pipeline import IngestPipeline, _Group


def reopen_findings(self: IngestPipeline, regressions: list[tuple[Finding, _Group]]) -> None:
    rows = []
    for finding, group in regressions:
        due = initial_due(self.ctx.policy, finding.severity, group.seen_at, self.ctx.tz, None)
        rows.append({"fid": finding.id, "at": group.seen_at, "due": due})
    self.session.execute(
        update(table_of(Finding))
        .where(Finding.id == bindparam("fid"))
        .values(status="open", clock_started_at=bindparam("at"), due_date=bindparam("due")),
        rows,
        execution_options={"synchronize_session": False},
    )


def reopen_tickets(self: IngestPipeline, reappeared: dict[int, datetime]) -> None:
    """Resolved tickets whose finding came back: open again, SLA clock restarted."""
    tickets = self.session.scalars(
        select(Ticket).where(Ticket.id.in_(list(reappeared)), Ticket.status.in_(RESOLVED_STATES))
    ).all()
    if not tickets:
        return
    policy, tz, now = self.ctx.policy, self.ctx.tz, self.now
    updates, new_events = [], []
    for ticket in tickets:
        restarted = reappeared[ticket.id]
        due = initial_due(policy, ticket.severity, restarted, tz, None)
        updates.append({"tid": ticket.id, "at": restarted, "due": due})
        new_events.append(
            NewEvent(
                kind="ticket.reopened",
                at=now,
                source="system",
                ticket_id=ticket.id,
                from_state=ticket.status,
                to_state="open",
                details={
                    "reason": "finding seen again by a later scan",
                    "scan_id": self.scan_id,
                    "clock_restarted_at": restarted,
                    "old_due_date": ticket.due_date,
                    "new_due_date": due,
                    "policy": policy.name,
                },
            )
        )
        if ticket.tracker != "local":
            enqueue(
                self.session,
                kind="tracker.reopen",
                key=f"tracker.reopen:{ticket.id}:{self.scan_id}",
                now=now,
                payload={"ticket_id": ticket.id},
                max_attempts=TRACKER_MAX_ATTEMPTS,
            )
    self.session.execute(
        update(table_of(Ticket))
        .where(Ticket.id == bindparam("tid"))
        .values(
            status="open",
            clock_started_at=bindparam("at"),
            due_date=bindparam("due"),
            resolved_at=None,
            status_changed_at=now,
            next_reminder_at=now,
        ),
        updates,
        execution_options={"synchronize_session": False},
    )
    append_events(self.session, new_events, now=now)
