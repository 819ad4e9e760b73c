"""Notification jobs: each builds its message from current state and sends it, raising the
notifier's errors as job errors (retried or dead — never swallowed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import update

from bot.acceptances.models import RiskAcceptance
from bot.context import AppContext
from bot.database.core import transaction
from bot.jobs.errors import PermanentJobError, RetryableJobError
from bot.jobs.service import ClaimedJob
from bot.notifications.cards import ticket_card
from bot.notifications.factory import get_notifier, team_channel
from bot.tickets.models import Ticket
from integrations.slack import (
    Notifier,
    NotifierError,
    SlackMessage,
    approval_request_message,
    decision_message,
    reminder_message,
    scan_missed_message,
    snapshot_summary_message,
    text_message,
)


def _send(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except NotifierError as exc:
        if exc.retryable:
            raise RetryableJobError(str(exc), retry_after=exc.retry_after) from exc
        raise PermanentJobError(str(exc)) from exc


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


def to_security(ctx: AppContext, notifier: Notifier, message: SlackMessage) -> list[str]:
    """The security channel when configured, else every approver by direct message."""
    channel = ctx.settings.slack_security_channel
    if channel:
        posted = notifier.post(channel, message)
        return [posted.channel + ":" + posted.ts]
    approvers = sorted(ctx.settings.approvers)
    if not approvers:
        posted = notifier.post(team_channel(ctx), message)
        return [posted.channel + ":" + posted.ts]
    return [f"{p.channel}:{p.ts}" for p in (notifier.dm(a, message) for a in approvers)]


def notify_ticket(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    """A ticket escalated by a new KEV catalog: say so where its thread is."""
    ticket = _ticket(ctx, int(job.payload["ticket_id"]))
    card = ticket_card(ctx, ticket, now=now)
    notifier = get_notifier(ctx)
    message = reminder_message(card, kind="kev_escalation", mention_user_id=None)
    if ticket.slack_channel and ticket.slack_thread_ts:
        _send(
            lambda: notifier.post(
                ticket.slack_channel or "", message, thread_ts=ticket.slack_thread_ts
            )
        )
    else:
        _send(lambda: notifier.post(team_channel(ctx), message))


def notify_unverified(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    ticket = _ticket(ctx, int(job.payload["ticket_id"]))
    text = (
        f"Ticket #{ticket.id} ({ticket.external_key or 'local'}) was closed in the tracker as "
        f"'{job.payload.get('resolution')}' without an approved risk acceptance. It is recorded "
        f"as resolved_unverified: an exception must be approved in slabot. Title: {ticket.title}"
    )
    _send(lambda: to_security(ctx, get_notifier(ctx), text_message(text)))


def notify_approval_request(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
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
    posted = _send(lambda: to_security(ctx, get_notifier(ctx), message))
    channel, _, ts = posted[0].partition(":")
    with transaction(ctx.sessions) as session:
        session.execute(
            update(RiskAcceptance)
            .where(RiskAcceptance.id == request.id)
            .values(approval_channel=channel, approval_ts=ts)
        )


def notify_decision(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    """Replace the approval message in place and tell the requester."""
    request, ticket = _request(ctx, job)
    if request.status not in ("approved", "rejected") or request.decided_at is None:
        return
    notifier = get_notifier(ctx)
    decision: Literal["approved", "rejected"] = (
        "approved" if request.status == "approved" else "rejected"
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
    if request.approval_channel and request.approval_ts:
        _send(
            lambda: notifier.update(
                request.approval_channel or "", request.approval_ts or "", message
            )
        )
    _send(lambda: notifier.dm(request.requested_by, message))


def notify_expiry_warning(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    request, ticket = _request(ctx, job)
    if request.status != "approved":
        return
    notifier = get_notifier(ctx)
    message = reminder_message(
        ticket_card(ctx, ticket, now=now),
        kind="expiry_warning",
        mention_user_id=request.requested_by,
        acceptance_expires_on=request.expires_on,
    )
    _send(lambda: notifier.dm(request.requested_by, message))
    if request.decided_by:
        _send(lambda: notifier.dm(request.decided_by or "", message))


def notify_acceptance_expired(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    request, ticket = _request(ctx, job)
    notifier = get_notifier(ctx)
    message = reminder_message(
        ticket_card(ctx, ticket, now=now),
        kind="acceptance_expired",
        mention_user_id=request.requested_by,
        acceptance_expires_on=request.expires_on,
    )
    _send(lambda: notifier.dm(request.requested_by, message))
    _send(lambda: notifier.post(team_channel(ctx), message))


def notify_snapshot(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    del now
    message = snapshot_summary_message(
        week=str(job.payload["week"]),
        figures=dict(job.payload.get("figures") or {}),
        uri=str(job.payload["uri"]),
    )
    _send(lambda: get_notifier(ctx).post(team_channel(ctx), message))


def notify_scan_missed(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    del now
    message = scan_missed_message(
        target=str(job.payload["target"]),
        window_start=datetime.fromisoformat(str(job.payload["window_start"])),
        window_end=datetime.fromisoformat(str(job.payload["window_end"])),
    )
    _send(lambda: to_security(ctx, get_notifier(ctx), message))
