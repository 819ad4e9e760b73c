"""Pure Block Kit builders for every message and modal slabot sends.

Every string that came from a scan or a tracker (title, asset, ticket key, justification,
controls, snapshot figures, scan target) is escaped with :func:`escape_mrkdwn`, and every mrkdwn
object is ``verbatim``, so such text can never become ``<!channel>``, ``<@U…>`` or a link. The
only control sequences slabot writes itself are user mentions of validated user ids and the
ticket link (http/https URL, percent-encoded).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal

from .blocks import (
    Block,
    SlackMessage,
    actions,
    button,
    context,
    divider,
    escape_mrkdwn,
    escape_truncated,
    header,
    mention,
    mrkdwn,
    plain,
    section,
)
from .card import (
    KEV_BADGE,
    TITLE_LIMIT,
    TicketCard,
    due_phrase,
    due_text,
    fields,
    request_button_block,
    severity_text,
    title_line,
)
from .payloads import (
    MAX_PRIVATE_METADATA,
    ActionId,
    BlockId,
    CallbackId,
    DecisionValue,
    InputActionId,
)

__all__ = [
    "KEV_BADGE",
    "MessageKind",
    "SlackMessage",
    "TicketCard",
    "acceptance_modal",
    "approval_request_message",
    "decision_message",
    "due_phrase",
    "escape_mrkdwn",
    "reminder_message",
    "scan_missed_message",
    "snapshot_summary_message",
    "text_message",
    "thread_parent_message",
]

MessageKind = Literal[
    "open", "reminder", "escalation", "kev_escalation", "expiry_warning", "acceptance_expired"
]

_HEADERS: dict[str, str] = {
    "open": ":new: New remediation ticket",
    "reminder": ":alarm_clock: Remediation reminder",
    "escalation": ":warning: Overdue remediation (escalation)",
    "kev_escalation": ":rotating_light: Escalated: known exploited vulnerability",
    "expiry_warning": ":hourglass_flowing_sand: Risk acceptance expires soon",
    "acceptance_expired": ":hourglass: Risk acceptance expired",
}
_FALLBACK_PREFIX: dict[str, str] = {
    "open": "New remediation ticket",
    "reminder": "Reminder",
    "escalation": "Overdue (escalation)",
    "kev_escalation": "Escalated to critical (CISA KEV)",
    "expiry_warning": "Risk acceptance expires soon",
    "acceptance_expired": "Risk acceptance expired",
}


def _fallback(prefix: str, card: TicketCard, mention_user_id: str | None = None) -> str:
    who = f"{mention(mention_user_id)} " if mention_user_id else ""
    return (
        f"{who}{prefix}: {escape_truncated(card.title, TITLE_LIMIT)} "
        f"({escape_mrkdwn(card.severity.lower())}{', KEV' if card.kev else ''}, "
        f"{due_phrase(card.days_left) if card.due_date else 'no due date'})"
    )


def _kind_note(kind: str, acceptance_expires_on: date | None) -> str | None:
    until = acceptance_expires_on.isoformat() if acceptance_expires_on else None
    if kind == "escalation":
        return "This ticket is overdue and has been escalated to the security team."
    if kind == "kev_escalation":
        return (
            "The CVE is in CISA's Known Exploited Vulnerabilities catalog: severity raised to "
            "critical and the due date tightened."
        )
    if kind == "expiry_warning":
        when = f" on {until}" if until else " soon"
        return f"The approved risk acceptance expires{when}. Fix it, or request a new acceptance."
    if kind == "acceptance_expired":
        when = f" on {until}" if until else ""
        return f"The risk acceptance expired{when}; the ticket is open again and its SLA applies."
    return None


def reminder_message(
    card: TicketCard,
    *,
    kind: MessageKind,
    mention_user_id: str | None,
    acceptance_expires_on: date | None = None,
) -> SlackMessage:
    """An open / reminder / escalation / KEV / expiry message for one ticket.

    ``mention_user_id`` (a Slack user id) is mentioned first so the assignee is notified;
    ``acceptance_expires_on`` is shown by the ``expiry_warning`` and ``acceptance_expired`` kinds.
    The "Request risk acceptance" button is offered while the ticket is open or in progress, and
    on an expiry warning (to renew).
    """
    if kind not in _HEADERS:
        raise ValueError(f"unknown message kind {kind!r}")
    summary = title_line(card)
    if mention_user_id:
        summary = f"{mention(mention_user_id)} {summary}"
    blocks: list[Block] = [
        header(_HEADERS[kind]),
        section(summary, block_id="ticket.summary"),
        section(fields=fields(card), block_id="ticket.fields"),
    ]
    note = _kind_note(kind, acceptance_expires_on)
    if note:
        blocks.append(context(note))
    if card.status in ("open", "in_progress") or kind == "expiry_warning":
        blocks.append(request_button_block(card))
    blocks.append(context(f"slabot ticket #{card.ticket_id}"))
    return SlackMessage(
        text=_fallback(_FALLBACK_PREFIX[kind], card, mention_user_id), blocks=blocks
    )


def thread_parent_message(card: TicketCard) -> SlackMessage:
    """The ticket's parent message; updated in place so status and due line stay current."""
    blocks: list[Block] = [
        section(f":shield: {title_line(card)}", block_id="ticket.summary"),
        section(fields=fields(card), block_id="ticket.fields"),
    ]
    if card.status in ("open", "in_progress"):
        blocks.append(request_button_block(card))
    blocks.append(context(f"slabot ticket #{card.ticket_id} · reminders follow in this thread"))
    status = card.status.replace("_", " ")
    return SlackMessage(text=_fallback(f"Ticket ({escape_mrkdwn(status)})", card), blocks=blocks)


def acceptance_modal(
    *,
    ticket: TicketCard,
    max_expiry: date,
    min_justification: int,
    private_metadata: str,
    initial_expiry: date | None = None,
) -> dict[str, Any]:
    """The risk-acceptance request modal (``views.open``); read it with parse_modal_submission.

    The datepicker starts at ``initial_expiry`` (default ``max_expiry``), never after
    ``max_expiry``. ``private_metadata`` is typically ``ModalMetadata(...).dumps()``.
    """
    if len(private_metadata) > MAX_PRIVATE_METADATA:
        raise ValueError(f"private_metadata exceeds {MAX_PRIVATE_METADATA} characters")
    start = min(initial_expiry or max_expiry, max_expiry)
    justification_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": InputActionId.JUSTIFICATION.value,
        "multiline": True,
        "max_length": 3000,
        "placeholder": plain("Why is the risk acceptable until the fix lands?"),
    }
    if min_justification > 0:
        justification_input["min_length"] = min(min_justification, 3000)
    return {
        "type": "modal",
        "callback_id": CallbackId.ACCEPTANCE_SUBMIT.value,
        "private_metadata": private_metadata,
        "title": plain("Risk acceptance"),
        "submit": plain("Request approval"),
        "close": plain("Cancel"),
        "blocks": [
            section(f"{title_line(ticket)}\n{severity_text(ticket)} · due {due_text(ticket)}"),
            {
                "type": "input",
                "block_id": BlockId.JUSTIFICATION.value,
                "label": plain("Justification"),
                "element": justification_input,
                "hint": plain(f"Required, at least {min_justification} characters."),
            },
            {
                "type": "input",
                "block_id": BlockId.EXPIRES_ON.value,
                "label": plain("Accept the risk until"),
                "element": {
                    "type": "datepicker",
                    "action_id": InputActionId.EXPIRES_ON.value,
                    "initial_date": start.isoformat(),
                    "placeholder": plain("Pick a date"),
                },
                "hint": plain(f"At most {max_expiry.isoformat()} for this ticket."),
            },
            {
                "type": "input",
                "block_id": BlockId.CONTROLS.value,
                "optional": True,
                "label": plain("Compensating controls"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": InputActionId.CONTROLS.value,
                    "multiline": True,
                    "max_length": 3000,
                },
            },
        ],
    }


def _quote(text: str, limit: int) -> str:
    return "\n".join(f">{line}" for line in escape_truncated(text, limit).splitlines() or [""])


def _decision_context_blocks(
    card: TicketCard, requester_id: str | None, justification: str | None, controls: str | None
) -> list[Block]:
    blocks: list[Block] = [section(fields=fields(card), block_id="ticket.fields")]
    if justification is not None:
        who = f" (requested by {mention(requester_id)})" if requester_id else ""
        blocks.append(section(f"*Justification*{who}\n{_quote(justification, 2500)}"))
    if controls:
        blocks.append(section(f"*Compensating controls*\n{_quote(controls, 2500)}"))
    return blocks


def approval_request_message(
    *,
    request_id: int,
    card: TicketCard,
    requester_id: str,
    justification: str,
    controls: str | None,
    expires_on: date,
) -> SlackMessage:
    """Ask the approvers: Approve (primary) / Reject (danger), each valued DecisionValue."""
    value = DecisionValue(request_id=request_id).dumps()
    who = mention(requester_id)
    blocks: list[Block] = [
        header(":scales: Risk acceptance request"),
        section(
            f"{who} asks to accept the risk of {title_line(card)} until "
            f"*{expires_on.isoformat()}*.",
            block_id="acceptance.summary",
        ),
        *_decision_context_blocks(card, None, justification, controls),
        actions(
            button("Approve", action_id=ActionId.APPROVE, value=value, style="primary"),
            button("Reject", action_id=ActionId.REJECT, value=value, style="danger"),
            block_id=BlockId.DECISION.value,
        ),
        context(f"Request #{request_id} · an approver other than the requester must decide"),
    ]
    text = (
        f"Risk acceptance requested by {who} for {escape_truncated(card.title, TITLE_LIMIT)} "
        f"until {expires_on.isoformat()}"
    )
    return SlackMessage(text=text, blocks=blocks)


def _utc(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def decision_message(
    *,
    request_id: int,
    card: TicketCard,
    decision: Literal["approved", "rejected"],
    approver_id: str,
    decided_at: datetime,
    expires_on: date | None,
    requester_id: str | None = None,
    justification: str | None = None,
    controls: str | None = None,
) -> SlackMessage:
    """Replaces an approval request in place once decided: the outcome, no buttons."""
    if decision not in ("approved", "rejected"):
        raise ValueError(f"unknown decision {decision!r}")
    who = mention(approver_id)
    if decision == "approved":
        until = f" until *{expires_on.isoformat()}*" if expires_on else ""
        outcome = f":white_check_mark: *Approved* by {who}{until}"
    else:
        outcome = f":x: *Rejected* by {who}"
    blocks: list[Block] = [
        header(f":scales: Risk acceptance {decision}"),
        section(f"{title_line(card)}\n{outcome}", block_id="acceptance.summary"),
        *_decision_context_blocks(card, requester_id, justification, controls),
        context(f"Request #{request_id} · decided {_utc(decided_at)}"),
    ]
    text = f"Risk acceptance {decision} by {who}: {escape_truncated(card.title, TITLE_LIMIT)}"
    return SlackMessage(text=text, blocks=blocks)


def _figure(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    return escape_truncated(str(value), 500)


def snapshot_summary_message(*, week: str, figures: Mapping[str, object], uri: str) -> SlackMessage:
    """The weekly SLA snapshot: each figure as a field, and where the evidence was stored."""
    fields = [
        f"*{escape_truncated(str(k).replace('_', ' '), 100)}*\n{_figure(v)}"
        for k, v in figures.items()
    ]
    blocks: list[Block] = [header(f":bar_chart: Weekly SLA snapshot {week[:40]}")]
    for start in range(0, len(fields), 10):
        blocks.append(section(fields=fields[start : start + 10]))
    blocks += [divider(), context(f"Evidence stored at `{escape_truncated(uri, 1000)}`")]
    text = f"Weekly SLA snapshot {escape_mrkdwn(week)} stored at {escape_truncated(uri, 1000)}"
    return SlackMessage(text=text, blocks=blocks)


def scan_missed_message(
    *, target: str, window_start: datetime, window_end: datetime
) -> SlackMessage:
    """A scan-cadence gap: no scan for ``target`` in the expected window."""
    tgt = escape_truncated(target, 500)
    line = (
        f":warning: No scan was received for *{tgt}* between "
        f"{_utc(window_start)} and {_utc(window_end)}."
    )
    blocks: list[Block] = [
        header(":satellite_antenna: Scan cadence gap"),
        section(line),
        context("The gap is recorded in the event log and shows in the weekly snapshot."),
    ]
    return SlackMessage(text=f"Scan cadence gap: no scan for {tgt}", blocks=blocks)


def text_message(text: str) -> SlackMessage:
    """Plain text, escaped (so it is shown literally, never as mentions or links)."""
    escaped = escape_truncated(text, 3000)
    return SlackMessage(text=escaped, blocks=[{"type": "section", "text": mrkdwn(escaped)}])
