"""The reconciler: recover transitions that a lost webhook never delivered.

Every few minutes it asks the tracker for issues updated since the last sync (minus an
overlap, since clocks and search indexes lag) and records any state that differs from what
slabot has, with source ``reconciler`` and the tracker's ``updated`` time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.core import transaction
from bot.database.state import get_state, set_state
from bot.jobs.errors import PermanentJobError, RetryableJobError
from bot.jobs.service import ClaimedJob, enqueue
from bot.tickets.models import Ticket
from bot.tickets.transitions import change_status, record_assignment
from bot.trackers.factory import get_tracker
from integrations.trackers import RemoteIssue, TrackerError

log = logging.getLogger(__name__)

RECONCILE_EVERY = timedelta(minutes=15)
OVERLAP = timedelta(minutes=10)
FIRST_SYNC_LOOKBACK = timedelta(days=30)
STATE_NAME = "tracker.reconcile"


def reconcile(ctx: AppContext, *, now: datetime) -> int:
    tracker = get_tracker(ctx)
    if tracker is None:
        return 0
    with ctx.sessions() as session:
        state = get_state(session, STATE_NAME) or {}
    last = state.get("synced_until")
    since = (datetime.fromisoformat(last) if last else now - FIRST_SYNC_LOOKBACK) - OVERLAP
    recorded = 0
    try:
        remote_issues = list(tracker.updated_since(since))
    except TrackerError as exc:
        if exc.retryable:
            raise RetryableJobError(str(exc), retry_after=exc.retry_after) from exc
        raise PermanentJobError(str(exc)) from exc
    with transaction(ctx.sessions) as session:
        by_id = _owned(session, [r.external_id for r in remote_issues])
        for remote in remote_issues:
            ticket = by_id.get(remote.external_id)
            if ticket is None:
                continue
            if _differs(ticket, remote):
                result = change_status(
                    session,
                    ticket,
                    to=remote.category,
                    at=remote.updated_at,
                    now=now,
                    source="reconciler",
                    resolution=remote.resolution,
                    status_name=remote.status_name,
                )
                recorded += int(result.applied)
            if remote.assignee_email and remote.assignee_email != ticket.assignee_email:
                record_assignment(
                    session,
                    ticket,
                    assignee_email=remote.assignee_email,
                    assignee_label=None,
                    at=remote.updated_at,
                    now=now,
                    source="reconciler",
                )
                recorded += 1
        set_state(session, STATE_NAME, {"synced_until": now.isoformat()}, now=now)
    return recorded


def _differs(ticket: Ticket, remote: RemoteIssue) -> bool:
    """The tracker holds a state slabot has not recorded, and it is newer than slabot's own.

    A remote state no newer than the ticket's last change is old news (slabot already has a
    later change, e.g. its own reopen that a ``tracker.reopen`` job has yet to push), so it is
    not recorded again on every pass. A risk-accepted ticket only follows a remote resolution:
    the acceptance comment itself bumps the issue's updated time while it stays open there.
    """
    if remote.updated_at <= ticket.status_changed_at:
        return False
    if ticket.status == "risk_accepted":
        return remote.category == "resolved"
    current = "resolved" if ticket.status == "resolved_unverified" else ticket.status
    return remote.category != current


def _owned(session: Session, external_ids: list[str]) -> dict[str, Ticket]:
    if not external_ids:
        return {}
    return {
        t.external_id or "": t
        for t in session.scalars(select(Ticket).where(Ticket.external_id.in_(external_ids)))
    }


def reconcile_job(ctx: AppContext, _job: ClaimedJob, now: datetime) -> None:
    recorded = reconcile(ctx, now=now)
    if recorded:
        log.info("reconciler recorded %d missed change(s)", recorded)


def schedule_reconcile(ctx: AppContext, session: Session, now: datetime) -> int:
    if ctx.settings.tracker == "local":
        return 0
    bucket = int(now.timestamp() // RECONCILE_EVERY.total_seconds())
    return int(
        enqueue(session, kind="tracker.reconcile", key=f"tracker.reconcile:{bucket}", now=now)
    )
