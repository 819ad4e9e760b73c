"""Notification jobs: each builds its message from current state and sends it, raising the
notifier's errors as job errors (retried or dead — never swallowed). Every send is a step of
the job's ledger (:mod:`bot.notifications.delivery`), so a retry never repeats a message."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import update

from bot.acceptances.models import RiskAcceptance
from bot.acceptances.service import approval_messages
from bot.context import AppContext
from bot.database.core import transaction
from bot.jobs.errors import PermanentJobError
from bot.jobs.service import ClaimedJob
from bot.notifications.cards import ticket_card
from bot.notifications.delivery import best_effort, location, once, split_location, thread_of
from bot.notifications.factory import get_notifier, team_channel
from bot.tickets.models import Ticket
from integrations.slack import (
    SlackMessage,
    approval_request_message,
    decision_message,
    reminder_message,
    scan_missed_message,
    snapshot_summary_message,
    text_message,
)


def _ticket(ctx: AppContext, ticket_id: int) -> Ticket:
    with ctx.sessions() as session:
        ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise PermanentJobError(f"ticket {ticket_id} does not exist")
    return ticket


def _request(ctx: AppContext, job: ClaimedJob) -> tuple[RiskAcceptance, Ticket]:
    with ctx.sessions() as session:
        request = session.get(RiskAcceptance, int(job.payload["request_id"]))
    if request is None:
        raise PermanentJobError(f"risk acceptance {job.payload['request_id']} does not exist")
    return request, _ticket(ctx, request.ticket_id)


def _dm_step(ctx: AppContext, job: ClaimedJob, user_id: str, message: SlackMessage) -> str:
    notifier = get_notifier(ctx)
    return once(ctx, job, f"dm:{user_id}", lambda: location(notifier.dm(user_id, message)))


def _post_step(ctx: AppContext, job: ClaimedJob, channel: str, message: SlackMessage) -> str:
    notifier = get_notifier(ctx)
    return once(ctx, job, f"post:{channel}", lambda: location(notifier.post(channel, message)))


def _update_step(
    ctx: AppContext, job: ClaimedJob, channel: str, ts: str, message: SlackMessage
) -> None:
    notifier = get_notifier(ctx)
    best_effort(ctx, job, f"update:{channel}:{ts}", lambda: notifier.update(channel, ts, message))


def to_security(ctx: AppContext, job: ClaimedJob, message: SlackMessage) -> list[str]:
    """The security channel when configured, else every approver by direct message (each
    recipient once, even when a later one fails and the job is retried). Returns
    ``"<channel>:<ts>"`` of each message."""
    channel = ctx.settings.slack_security_channel
    if channel:
        return [_post_step(ctx, job, channel, message)]
    approvers = sorted(ctx.settings.approvers)
    if not approvers:
        return [_post_step(ctx, job, team_channel(ctx), message)]
    return [_dm_step(ctx, job, approver, message) for approver in approvers]


def notify_ticket(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    """A ticket escalated by a new KEV catalog: say so where its thread is."""
    ticket = _ticket(ctx, int(job.payload["ticket_id"]))
    card = ticket_card(ctx, ticket, now=now)
    notifier = get_notifier(ctx)
    message = reminder_message(card, kind="kev_escalation", mention_user_id=None)
    channel, thread_ts = ticket.slack_channel, thread_of(ticket)
    if channel and thread_ts:
        once(
            ctx,
            job,
            "reply",
            lambda: location(notifier.post(channel, message, thread_ts=thread_ts)),
        )
    else:
        _post_step(ctx, job, team_channel(ctx), message)


def notify_unverified(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    ticket = _ticket(ctx, int(job.payload["ticket_id"]))
    text = (
        f"Ticket #{ticket.id} ({ticket.external_key or 'local'}) was closed in the tracker as "
        f"'{job.payload.get('resolution')}' without an approved risk acceptance. It is recorded "
        f"as resolved_unverified: an exception must be approved in slabot. Title: {ticket.title}"
    )
    to_security(ctx, job, text_message(text))


def notify_approval_request(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    """Post the request with Approve/Reject buttons; every place it landed is kept (the job's
    ledger; the first also on the request) so the decision can replace them all in place."""
    request, ticket = _request(ctx, job)
    if request.status != "pending":
        return
    message = approval_request_message(
        request_id=request.id,
        card=ticket_card(ctx, ticket, now=now),
        requester_id=request.requested_by,
        justification=request.justification,
        controls=request.compensating_controls,
        expires_on=request.expires_on,
    )
    posted = to_security(ctx, job, message)
    channel, ts = split_location(posted[0])
    with transaction(ctx.sessions) as session:
        session.execute(
            update(RiskAcceptance)
            .where(RiskAcceptance.id == request.id)
            .values(approval_channel=channel, approval_ts=ts)
        )


def notify_decision(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    """Replace the approval message(s) in place and tell the requester."""
    request, ticket = _request(ctx, job)
    if request.status not in ("approved", "rejected", "expired") or request.decided_at is None:
        return
    decision: Literal["approved", "rejected"] = (
        "rejected" if request.status == "rejected" else "approved"
    )
    message = decision_message(
        request_id=request.id,
        card=ticket_card(ctx, ticket, now=now),
        decision=decision,
        approver_id=request.decided_by or "",
        decided_at=request.decided_at,
        expires_on=request.expires_on if decision == "approved" else None,
        requester_id=request.requested_by,
        justification=request.justification,
        controls=request.compensating_controls,
    )
    with ctx.sessions() as session:
        places = approval_messages(session, request)
    for channel, ts in sorted(places):
        _update_step(ctx, job, channel, ts, message)
    _dm_step(ctx, job, request.requested_by, message)


def notify_expiry_warning(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    request, ticket = _request(ctx, job)
    if request.status != "approved":
        return
    message = reminder_message(
        ticket_card(ctx, ticket, now=now),
        kind="expiry_warning",
        mention_user_id=request.requested_by,
        acceptance_expires_on=request.expires_on,
    )
    _dm_step(ctx, job, request.requested_by, message)
    if request.decided_by and request.decided_by != request.requested_by:
        _dm_step(ctx, job, request.decided_by, message)


def notify_acceptance_expired(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    request, ticket = _request(ctx, job)
    message = reminder_message(
        ticket_card(ctx, ticket, now=now),
        kind="acceptance_expired",
        mention_user_id=request.requested_by,
        acceptance_expires_on=request.expires_on,
    )
    _dm_step(ctx, job, request.requested_by, message)
    _post_step(ctx, job, team_channel(ctx), message)


def notify_snapshot(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    del now
    message = snapshot_summary_message(
        week=str(job.payload["week"]),
        figures=dict(job.payload.get("headline") or {}),
        uri=str(job.payload["uri"]),
    )
    _post_step(ctx, job, team_channel(ctx), message)


def notify_scan_missed(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    del now
    message = scan_missed_message(
        target=str(job.payload["target"]),
        window_start=datetime.fromisoformat(str(job.payload["window_start"])),
        window_end=datetime.fromisoformat(str(job.payload["window_end"])),
    )
    to_security(ctx, job, message)
