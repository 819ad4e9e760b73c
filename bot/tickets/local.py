"""The local tracker: with SLABOT_TRACKER=local a ticket's workflow is driven from slabot's
own CLI and API, recorded exactly like a Jira or Linear transition (source ``local``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.tickets.models import Ticket
from bot.tickets.transitions import STATUSES, TransitionResult, change_status


class LocalTrackerError(Exception):
    pass


def set_local_status(
    session: Session,
    ticket: Ticket,
    *,
    status: str,
    now: datetime,
    actor: str,
    resolution: str | None = None,
) -> TransitionResult:
    if ticket.tracker != "local":
        raise LocalTrackerError(
            f"ticket {ticket.id} lives in {ticket.tracker} ({ticket.external_key}): "
            "change its status there; slabot records it from the webhook"
        )
    if status not in STATUSES:
        raise LocalTrackerError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    if ticket.status == "risk_accepted":
        raise LocalTrackerError(f"ticket {ticket.id} is risk-accepted until its exception expires")
    if now < ticket.status_changed_at:
        # A tracker's late delivery is recorded as stale; a person's command is not late, it
        # names the wrong time (``--now`` before the ticket's last change): say so.
        raise LocalTrackerError(
            f"ticket {ticket.id} last changed at {ticket.status_changed_at.isoformat()}, "
            f"after {now.isoformat()}: a status change cannot be dated before it"
        )
    return change_status(
        session,
        ticket,
        to=status,
        at=now,
        now=now,
        source="local",
        actor=actor,
        resolution=resolution,
        status_name=status,
    )
