"""The reminder sweep (clock) and the reminder job (worker).

The sweep only touches tickets whose indexed ``next_reminder_at`` has come: for each it asks
the pure schedule which slot(s) are due (the latest missed slot per kind, so a late tick
sends one message, not a burst), enqueues one job per slot with the idempotency key
``reminder:<ticket>:<slot>`` (so any number of clocks send it once) and moves
``next_reminder_at`` to the following slot.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
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
from bot.notifications.delivery import (
    CLAIM_PREFIX,
    best_effort,
    location,
    once,
    send,
    split_location,
    thread_of,
)
from bot.notifications.factory import get_notifier, team_channel
from bot.notifications.jobs import to_security
from bot.policy import due_slot, next_slot_after
from bot.tickets.models import Ticket
from integrations.slack import (
    MessageKind,
    SlackMessage,
    TicketCard,
    reminder_message,
    thread_parent_message,
)

log = logging.getLogger(__name__)

REMINDED_STATES = ("open", "in_progress")
SWEEP_BATCH = 1000
MAX_SWEEP_ROUNDS = 1000  # a bound, not a limit in practice: 1M due tickets per pass
SLOT_KINDS: dict[str, MessageKind] = {"open": "open", "reminder": "reminder"}


def schedule_reminders(ctx: AppContext, session: Session, now: datetime) -> int:
    enqueued = 0
    for _ in range(MAX_SWEEP_ROUNDS):
        # Range + order on the index alone: the sweep never reads a ticket that is not due.
        # Every ticket read is moved past ``now`` (or out of the sweep), so this terminates.
        due = session.scalars(
            select(Ticket)
            .where(Ticket.next_reminder_at <= now)
            .order_by(Ticket.next_reminder_at)
            .limit(SWEEP_BATCH)
        ).all()
        if not due:
            return enqueued
        moves: list[dict[str, Any]] = []
        for ticket in due:
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
    log.warning(
        "reminder sweep stopped after %d rounds; the rest waits for the next pass", MAX_SWEEP_ROUNDS
    )
    return enqueued


def send_reminder(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    """Send one slot: ``open``/``reminder`` in the ticket's thread (the first one opens it),
    mentioning the assignee when Slack knows their email; ``escalation`` to the security
    channel, else each approver by DM. Nothing is sent once the ticket left open/in_progress
    (resolved, risk-accepted) — a job queued before that sends nothing."""
    with ctx.sessions() as session:
        ticket = session.get(Ticket, int(job.payload["ticket_id"]))
    if ticket is None:
        raise PermanentJobError(f"ticket {job.payload['ticket_id']} does not exist")
    if ticket.status not in REMINDED_STATES:
        log.info("ticket %s is %s: reminder %s not sent", ticket.id, ticket.status, job.payload)
        return
    kind = str(job.payload["kind"])
    if kind not in SLOT_KINDS and kind != "escalation":
        raise PermanentJobError(f"unknown reminder kind {kind!r}")
    card = ticket_card(ctx, ticket, now=now)
    mention: str | None = None
    if kind == "escalation":
        message = reminder_message(card, kind="escalation", mention_user_id=None)
        recipients = to_security(ctx, job, message)
    else:
        if ticket.assignee_email:
            email = ticket.assignee_email
            mention = send(lambda: get_notifier(ctx).lookup_user_by_email(email))
        message = reminder_message(card, kind=SLOT_KINDS[kind], mention_user_id=mention)
        recipients = [_post_in_thread(ctx, job, ticket, card, message, now)]
    channels = [split_location(r)[0] for r in recipients]
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
                    "channel": channels[0] if channels else None,
                    "recipient": mention,
                    "recipients": recipients,
                    "mention": mention,
                    "days_left": card.days_left,
                },
            ),
            now=now,
        )


def _post_in_thread(
    ctx: AppContext,
    job: ClaimedJob,
    ticket: Ticket,
    card: TicketCard,
    message: SlackMessage,
    now: datetime,
) -> str:
    """The first message opens the ticket's thread in the team channel; later ones reply in it
    and refresh the parent in place. Returns ``"<channel>:<ts>"`` of the message sent."""
    notifier = get_notifier(ctx)
    channel, thread_ts = ticket.slack_channel, thread_of(ticket)
    if channel is None or thread_ts is None:
        claim = _claim_parent(ctx, job, ticket.id, now)
        team = team_channel(ctx)
        try:
            posted = once(ctx, job, "parent", lambda: location(notifier.post(team, message)))
        except BaseException:
            _release_parent(ctx, ticket.id, claim)  # not posted: the next job may open it
            raise
        parent_channel, parent_ts = split_location(posted)
        with transaction(ctx.sessions) as session:
            session.execute(
                update(Ticket)
                .where(Ticket.id == ticket.id)
                .values(slack_channel=parent_channel, slack_thread_ts=parent_ts)
            )
        return posted
    reply = once(
        ctx, job, "reply", lambda: location(notifier.post(channel, message, thread_ts=thread_ts))
    )
    parent = thread_parent_message(card)
    best_effort(ctx, job, "parent-update", lambda: notifier.update(channel, thread_ts, parent))
    return reply


# While one job posts a ticket's first message, the ticket's thread_ts holds its claim, so a
# second job (the next slot, run by another worker at the same moment) waits and then replies
# in the thread instead of opening a second one.
PARENT_CLAIM_SECONDS = 600
PARENT_WAIT = timedelta(seconds=5)


def _claim_parent(ctx: AppContext, job: ClaimedJob, ticket_id: int, now: datetime) -> str:
    """Take the right to post the ticket's first message, or raise to retry shortly. A claim
    older than PARENT_CLAIM_SECONDS belongs to a job that died and may be taken over."""
    mine = f"{CLAIM_PREFIX}{job.id}:{int(now.timestamp())}"
    with transaction(ctx.sessions) as session:
        current = session.scalar(select(Ticket.slack_thread_ts).where(Ticket.id == ticket_id))
        if current is not None and current.startswith(f"{CLAIM_PREFIX}{job.id}:"):
            return current  # this job's own claim, from an earlier attempt
        if current is not None and current.startswith(CLAIM_PREFIX):
            claimed_at = int(current.rsplit(":", 1)[1])
            if now.timestamp() - claimed_at < PARENT_CLAIM_SECONDS:
                raise RetryableJobError(
                    f"ticket {ticket_id}: another job is opening its Slack thread",
                    retry_after=PARENT_WAIT,
                )
        elif current is not None:
            raise RetryableJobError(
                f"ticket {ticket_id}: its Slack thread was opened meanwhile",
                retry_after=PARENT_WAIT,
            )
        taken = session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.slack_thread_ts.is_not_distinct_from(current))
            .values(slack_thread_ts=mine)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise RetryableJobError(
                f"ticket {ticket_id}: another job is opening its Slack thread",
                retry_after=PARENT_WAIT,
            )
    return mine


def _release_parent(ctx: AppContext, ticket_id: int, claim: str) -> None:
    with transaction(ctx.sessions) as session:
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.slack_thread_ts == claim)
            .values(slack_thread_ts=None)
        )
