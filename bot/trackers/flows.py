"""Outbox jobs that talk to Jira or Linear: create (exactly once), update, comment, reopen.

Exactly once: ``tracker.create`` first looks the idempotency key up in the tracker (a Jira
label ``slabot-<id>``; Linear's caller-chosen issue UUID) and only creates when nothing is
there. A worker that dies between the remote create and the local commit leaves a job whose
lease expires; the retry finds the issue by its key and links it instead of creating another.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update

from bot.context import AppContext
from bot.database.core import transaction
from bot.events import kinds
from bot.events.service import NewEvent, append_event
from bot.jobs.errors import PermanentJobError, RetryableJobError
from bot.jobs.service import ClaimedJob
from bot.tickets.models import Ticket
from bot.trackers.drafts import build_draft, priority_map
from bot.trackers.factory import get_tracker
from integrations.trackers import RemoteIssue, Tracker, TrackerError

log = logging.getLogger(__name__)


def _tracker(ctx: AppContext) -> Tracker:
    tracker = get_tracker(ctx)
    if tracker is None:
        raise PermanentJobError("SLABOT_TRACKER=local: there is no remote tracker to call")
    return tracker


def _as_job_error(exc: TrackerError) -> Exception:
    if exc.retryable:
        return RetryableJobError(str(exc), retry_after=exc.retry_after)
    return PermanentJobError(str(exc))


def _ticket(ctx: AppContext, job: ClaimedJob) -> Ticket:
    with ctx.sessions() as session:
        ticket = session.get(Ticket, int(job.payload["ticket_id"]))
    if ticket is None:
        raise PermanentJobError(f"ticket {job.payload.get('ticket_id')} does not exist")
    return ticket


def _linked_ticket(ctx: AppContext, job: ClaimedJob) -> Ticket:
    ticket = _ticket(ctx, job)
    if ticket.external_id is None:
        # The create job has not succeeded yet; it runs first, so try again later.
        raise RetryableJobError(f"ticket {ticket.id} has no remote issue yet")
    return ticket


def create_issue(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    tracker = _tracker(ctx)
    ticket = _ticket(ctx, job)
    if ticket.external_id is not None:
        return  # linked by an earlier attempt
    with ctx.sessions() as session:
        draft = build_draft(ctx, session, ticket)
    try:
        remote = tracker.find_by_label(draft)
        found = remote is not None
        if remote is None:
            remote = tracker.create(draft)
    except TrackerError as exc:
        raise _as_job_error(exc) from exc
    _link(ctx, ticket.id, remote, now=now, found_existing=found, tracker_name=tracker.name)


def _link(
    ctx: AppContext,
    ticket_id: int,
    remote: RemoteIssue,
    *,
    now: datetime,
    found_existing: bool,
    tracker_name: str,
) -> None:
    with transaction(ctx.sessions) as session:
        linked = session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.external_id.is_(None))
            .values(
                external_id=remote.external_id, external_key=remote.key, external_url=remote.url
            )
        )
        if not getattr(linked, "rowcount", 0):
            return
        append_event(
            session,
            NewEvent(
                kind=kinds.TICKET_LINKED,
                at=now,
                source="system",
                ticket_id=ticket_id,
                details={
                    "tracker": tracker_name,
                    "external_id": remote.external_id,
                    "external_key": remote.key,
                    "external_url": remote.url,
                    "found_existing": found_existing,
                },
            ),
            now=now,
        )
    log.info("ticket %s linked to %s %s", ticket_id, tracker_name, remote.key)


def update_issue(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    del now
    tracker = _tracker(ctx)
    ticket = _linked_ticket(ctx, job)
    overrides = priority_map(ctx.policy)
    try:
        tracker.update(
            ticket.external_id or "",
            due_date=ticket.due_date,
            severity=ticket.severity,
            priority_overrides=overrides,
        )
    except TrackerError as exc:
        raise _as_job_error(exc) from exc


def comment_issue(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    del now
    tracker = _tracker(ctx)
    ticket = _linked_ticket(ctx, job)
    try:
        tracker.comment(ticket.external_id or "", str(job.payload["text"]))
    except TrackerError as exc:
        raise _as_job_error(exc) from exc


def reopen_issue(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    tracker = _tracker(ctx)
    ticket = _linked_ticket(ctx, job)
    due = ticket.due_date.isoformat() if ticket.due_date else "none"
    text = (
        f"slabot: this finding was seen again by a scan on {now:%Y-%m-%d %H:%M} UTC. "
        f"The ticket is reopened and its SLA clock restarted; new due date {due} "
        f"({ctx.policy.name})."
    )
    # The idempotent calls first, the comment last: a retry after a failed step repeats only
    # the transition (a no-op once open) and the update, never an already-posted comment.
    try:
        tracker.transition(ticket.external_id or "", "open")
        tracker.update(
            ticket.external_id or "",
            due_date=ticket.due_date,
            severity=ticket.severity,
            priority_overrides=priority_map(ctx.policy),
        )
        tracker.comment(ticket.external_id or "", text)
    except TrackerError as exc:
        raise _as_job_error(exc) from exc
