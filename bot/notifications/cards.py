"""What a Slack message shows about a ticket, computed as of ``now``."""

from __future__ import annotations

from datetime import datetime

from bot.context import AppContext
from bot.policy import local_date
from bot.tickets.models import Ticket
from integrations.slack import TicketCard


def ticket_card(ctx: AppContext, ticket: Ticket, *, now: datetime) -> TicketCard:
    today = local_date(now, ctx.tz)
    days_left = (ticket.due_date - today).days if ticket.due_date is not None else None
    return TicketCard(
        ticket_id=ticket.id,
        title=ticket.title,
        severity=ticket.severity,
        reported_severity=ticket.reported_severity,
        kev=ticket.kev,
        asset=ticket.asset,
        due_date=ticket.due_date,
        days_left=days_left,
        policy_name=ctx.policy.name,
        status=ticket.status,
        ticket_url=ticket.external_url,
        ticket_key=ticket.external_key,
    )
