"""Apply changes reported by a tracker (webhook or reconciler) to slabot's tickets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.events.service import external_event_seen
from bot.tickets.models import Ticket
from bot.tickets.transitions import change_status, record_assignment
from integrations.trackers import StatusChange


def apply_changes(
    session: Session,
    changes: Sequence[StatusChange],
    *,
    source: str,
    now: datetime,
) -> int:
    """Record each change on the ticket slabot owns; returns how many were recorded.

    Changes for issues slabot did not create are ignored. Each change gets an external id
    (delivery id + position) so a redelivered webhook is recorded once.
    """
    if not changes:
        return 0
    ids = {c.external_id for c in changes}
    tickets = {
        t.external_id: t for t in session.scalars(select(Ticket).where(Ticket.external_id.in_(ids)))
    }
    recorded = 0
    for position, change in enumerate(sorted(changes, key=lambda c: c.at)):
        ticket = tickets.get(change.external_id)
        if ticket is None:
            continue
        external_id = (
            f"{source}:{change.delivery_id}:{position}" if change.delivery_id is not None else None
        )
        if external_id is not None and external_event_seen(session, external_id):
            continue
        if change.field == "status" and change.to_category is not None:
            change_status(
                session,
                ticket,
                to=change.to_category,
                at=change.at,
                now=now,
                source=source,
                actor=change.actor,
                external_id=external_id,
                resolution=change.resolution,
                status_name=change.to_value,
            )
        elif change.field == "assignee":
            email = change.to_value if change.to_value and "@" in change.to_value else None
            record_assignment(
                session,
                ticket,
                assignee_email=email,
                assignee_label=change.to_value,
                at=change.at,
                now=now,
                source=source,
                actor=change.actor,
                external_id=external_id,
            )
        else:
            continue
        recorded += 1
    return recorded
