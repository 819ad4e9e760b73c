"""``/slabot mine`` and ``/slabot status KEY``."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import or_, select

from bot.context import AppContext
from bot.policy import local_date
from bot.tickets.models import Ticket
from bot.tickets.serialize import outcome_of
from integrations.slack import escape_mrkdwn

HELP = "Usage: `/slabot mine` (your open tickets) or `/slabot status KEY` (one ticket)."
MAX_LISTED = 20


def _line(ctx: AppContext, ticket: Ticket, *, today: Any) -> str:
    kev = " :rotating_light: KEV" if ticket.kev else ""
    key = ticket.external_key or f"#{ticket.id}"
    due = ticket.due_date.isoformat() if ticket.due_date else "no due date"
    outcome = outcome_of(ticket, today=today, tz=ctx.tz)
    return (
        f"• *{escape_mrkdwn(key)}* {ticket.severity}{kev}: {escape_mrkdwn(ticket.title[:120])} "
        f"— {ticket.status}, due {due} ({outcome})"
    )


async def run_command(ctx: AppContext, client: AsyncWebClient, command: dict[str, Any]) -> str:
    words = str(command.get("text") or "").split()
    today = local_date(ctx.clock(), ctx.tz)
    if not words:
        return HELP
    if words[0] == "mine":
        try:
            info = await client.users_info(user=str(command.get("user_id", "")))
        except SlackApiError:
            return "I could not look up your Slack profile, so I do not know your email."
        email = ((info.get("user") or {}).get("profile") or {}).get("email")
        if not email:
            return "Your Slack profile has no email, so I cannot match tracker assignees."

        def mine() -> list[Ticket]:
            with ctx.sessions() as session:
                return list(
                    session.scalars(
                        select(Ticket)
                        .where(
                            Ticket.assignee_email == email,
                            Ticket.status.in_(("open", "in_progress")),
                        )
                        .order_by(Ticket.due_date)
                        .limit(MAX_LISTED)
                    )
                )

        tickets = await asyncio.to_thread(mine)
        if not tickets:
            return "You have no open remediation tickets. :tada:"
        return "\n".join(_line(ctx, t, today=today) for t in tickets)
    if words[0] == "status" and len(words) == 2:
        key = words[1].lstrip("#")

        def find() -> Ticket | None:
            with ctx.sessions() as session:
                clauses = [Ticket.external_key == key]
                if key.isdigit():
                    clauses.append(Ticket.id == int(key))
                return session.scalar(select(Ticket).where(or_(*clauses)))

        ticket = await asyncio.to_thread(find)
        if ticket is None:
            return f"No ticket {escape_mrkdwn(key)}."
        return _line(ctx, ticket, today=today)
    return HELP
