"""The ticket card: what every ticket message shows, and the shared mrkdwn pieces of it.

All raw text is escaped here (title, asset, policy, ticket key); the ticket link goes through
:func:`safe_link`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .blocks import Block, actions, button, escape_mrkdwn, escape_truncated, safe_link
from .payloads import ActionId, RequestAcceptanceValue

__all__ = [
    "KEV_BADGE",
    "TITLE_LIMIT",
    "TicketCard",
    "due_phrase",
    "due_text",
    "fields",
    "request_button_block",
    "severity_text",
    "ticket_ref",
    "title_line",
]

KEV_BADGE = ":rotating_light: KEV"
TITLE_LIMIT = 300
_SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:",
    "info": ":white_circle:",
}


@dataclass(frozen=True, slots=True)
class TicketCard:
    """What a message shows about one ticket (raw values; the builders escape them)."""

    ticket_id: int
    title: str
    severity: str
    reported_severity: str
    kev: bool
    asset: str
    due_date: date | None
    days_left: int | None
    policy_name: str
    status: str
    ticket_url: str | None
    ticket_key: str | None


def due_phrase(days_left: int | None) -> str:
    """E.g. ``"3 days left"``, ``"1 day left"``, ``"due today"``, ``"2 days overdue"``."""
    if days_left is None:
        return "no due date"
    if days_left == 0:
        return "due today"
    n = abs(days_left)
    unit = "day" if n == 1 else "days"
    return f"{n} {unit} left" if days_left > 0 else f"{n} {unit} overdue"


def severity_text(card: TicketCard) -> str:
    sev = card.severity.lower()
    text = f"{_SEVERITY_EMOJI.get(sev, ':white_circle:')} *{escape_mrkdwn(card.severity.upper())}*"
    if card.reported_severity and card.reported_severity.lower() != sev:
        text += f" (reported {escape_mrkdwn(card.reported_severity.lower())})"
    if card.kev:
        text += f"  {KEV_BADGE}"
    return text


def due_text(card: TicketCard) -> str:
    if card.due_date is None:
        return "no due date"
    text = f"{card.due_date.isoformat()} · {due_phrase(card.days_left)}"
    return f"*{text}*" if card.days_left is not None and card.days_left < 0 else text


def ticket_ref(card: TicketCard) -> str:
    label = card.ticket_key or f"slabot #{card.ticket_id}"
    link = safe_link(card.ticket_url, label)
    return link if link is not None else escape_truncated(label, 200)


def fields(card: TicketCard) -> list[str]:
    return [
        f"*Severity*\n{severity_text(card)}",
        f"*Asset*\n{escape_truncated(card.asset, 500)}",
        f"*Due*\n{due_text(card)}",
        f"*Status*\n{escape_mrkdwn(card.status.replace('_', ' '))}",
        f"*Policy*\n{escape_truncated(card.policy_name, 200)}",
        f"*Ticket*\n{ticket_ref(card)}",
    ]


def title_line(card: TicketCard) -> str:
    return f"*{escape_truncated(card.title, TITLE_LIMIT)}*"


def request_button_block(card: TicketCard) -> Block:
    value = RequestAcceptanceValue(ticket_id=card.ticket_id).dumps()
    return actions(
        button("Request risk acceptance", action_id=ActionId.REQUEST_ACCEPTANCE, value=value),
        block_id="ticket.actions",
    )
