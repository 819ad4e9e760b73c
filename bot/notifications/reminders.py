"""The reminder sweep (clock) and the reminder job (worker).

The sweep only touches tickets whose indexed ``next_reminder_at`` has come: for each it asks
the pure schedule which slot(s) are due (the latest missed slot per kind, so a late tick
sends one message, not a burst), enqueues one job per slot with the idempotency key
``reminder:<ticket>:<slot>`` (so any number of clocks send it once) and moves
``next_reminder_at`` to the following slot.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.core import table_of, transaction
from bot.events import kinds
from bot.events.service import NewEvent, append_event
from bot.jobs.errors import PermanentJobError, RetryableJobError
from bot.jobs.service import ClaimedJob, enqueue
from bot.notifications.cards import ticket_card
from bot.notifications.factory import get_notifier, team_channel
from bot.policy import due_slot, next_slot_after
from bot.tickets.models import Ticket
from integrations.slack import NotifierError, reminder_message, thread_parent_message

log = logging.getLogger(__name__)

REMINDED_STATES = ("open", "in_progress")
SWEEP_BATCH = 1000


def schedule_reminders(ctx: AppContext, session: Session, now: datetime) -> int:
    enqueued = 0
    last_id = 0
    while True:
        due = session.scalars(
            select(Ticket)
            .where(Ticket.next_reminder_at <= now, Ticket.id > last_id)
            .order_by(Ticket.id)
            .limit(SWEEP_BATCH)
        ).all()
        if not due:
            return enqueued
        moves: list[dict[str, Any]] = []
        for ticket in due:
            last_id = ticket.id
            if ticket.status not in REMINDED_STATES:
                moves.append({"tid": ticket.id, "next": None, "last": ticket.last_reminder_at})
                continue
            slots = due_slot(
                ctx.policy,
                opened_at=ticket.opened_at,
                due=ticket.due_date,
                tz=ctx.tz,
                now=now,
                last_sent_at=ticket.last_reminder_at,
            )
            for slot in slots:
                enqueued += int(
                    enqueue(
                        session,
                        kind="notify.reminder",
                        key=f"reminder:{ticket.id}:{slot.key}",
                        now=now,
                        payload={
                            "ticket_id": ticket.id,
                            "slot": slot.key,
                            "kind": slot.kind,
                            "slot_at": slot.at.isoformat(),
                        },
                        max_attempts=6,
                    )
                )
            following = next_slot_after(
                ctx.policy, opened_at=ticket.opened_at, due=ticket.due_date, tz=ctx.tz, after=now
            )
            moves.append({"tid": ticket.id, "next": following, "last": now})
        table = table_of(Ticket)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("tid"))
            .values(next_reminder_at=bindparam("next"), last_reminder_at=bindparam("last")),
            moves,
        )


def send_reminder(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    with ctx.sessions() as session:
        ticket = session.get(Ticket, int(job.payload["ticket_id"]))
    if ticket is None:
        raise PermanentJobError(f"ticket {job.payload['ticket_id']} does not exist")
    if ticket.status not in REMINDED_STATES:
        log.info("ticket %s is %s: reminder %s not sent", ticket.id, ticket.status, job.payload)
        return
    kind = str(job.payload["kind"])
    notifier = get_notifier(ctx)
    card = ticket_card(ctx, ticket, now=now)
    try:
        mention = (
            notifier.lookup_user_by_email(ticket.assignee_email) if ticket.assignee_email else None
        )
        if kind == "escalation":
            recipients = _escalate(ctx, card)
        else:
            recipients = [_post_in_thread(ctx, ticket, card, kind=kind, mention=mention)]
    except NotifierError as exc:
        if exc.retryable:
            raise RetryableJobError(str(exc), retry_after=exc.retry_after) from exc
        raise PermanentJobError(str(exc)) from exc
    with transaction(ctx.sessions) as session:
        append_event(
            session,
            NewEvent(
                kind=kinds.REMINDER_SENT,
                at=now,
                source="slack",
                ticket_id=ticket.id,
                details={
                    "slot": job.payload["slot"],
                    "kind": kind,
                    "recipients": recipients,
                    "mention": mention,
                    "days_left": card.days_left,
                },
            ),
            now=now,
        )


def _post_in_thread(
    ctx: AppContext, ticket: Ticket, card: Any, *, kind: str, mention: str | None
) -> str:
    """First message opens the ticket's thread; later ones reply in it and refresh the parent."""
    notifier = get_notifier(ctx)
    message = reminder_message(card, kind=kind, mention_user_id=mention)  # type: ignore[arg-type]
    if ticket.slack_thread_ts is None or ticket.slack_channel is None:
        posted = notifier.post(team_channel(ctx), message)
        with transaction(ctx.sessions) as session:
            session.execute(
                update(Ticket)
                .where(Ticket.id == ticket.id)
                .values(slack_channel=posted.channel, slack_thread_ts=posted.ts)
            )
        return posted.channel
    notifier.post(ticket.slack_channel, message, thread_ts=ticket.slack_thread_ts)
    notifier.update(ticket.slack_channel, ticket.slack_thread_ts, thread_parent_message(card))
    return ticket.slack_channel


def _escalate(ctx: AppContext, card: Any) -> list[str]:
    """Overdue escalation: the security channel when set, else each approver by DM."""
    notifier = get_notifier(ctx)
    message = reminder_message(card, kind="escalation", mention_user_id=None)
    channel = ctx.settings.slack_security_channel
    if channel:
        notifier.post(channel, message)
        return [channel]
    approvers = sorted(ctx.settings.approvers)
    if not approvers:
        notifier.post(team_channel(ctx), message)
        return [team_channel(ctx)]
    for approver in approvers:
        notifier.dm(approver, message)
    return approvers
