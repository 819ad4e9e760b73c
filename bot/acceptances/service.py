"""Risk acceptances: request, decide (approvers only, never one's own), expire.

Every decision is checked server-side against the stored request: the button only carries
the request id, and who may decide comes from SLABOT_SLACK_APPROVERS, not from the payload.
Refused attempts are recorded too: an auditor wants to see who tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.acceptances.models import RiskAcceptance
from bot.context import AppContext
from bot.events import kinds
from bot.events.service import NewEvent, append_event
from bot.findings.rules import as_severity
from bot.jobs.models import Job
from bot.jobs.service import TRACKER_MAX_ATTEMPTS, enqueue
from bot.notifications.delivery import DONE_KEY, split_location
from bot.policy import expiry_warning_date, local_date, validate_acceptance
from bot.tickets.models import Ticket

Decision = Literal["approved", "rejected"]


class AcceptanceError(Exception):
    """The action is not allowed; the message is safe to show the user."""


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    request: RiskAcceptance
    ticket: Ticket
    decision: Decision


def validate_request(
    ctx: AppContext,
    ticket: Ticket,
    *,
    justification: str,
    expires_on: date | None,
    now: datetime,
) -> dict[str, str]:
    return validate_acceptance(
        ctx.policy,
        severity=as_severity(ticket.severity),
        kev=ticket.kev,
        justification=justification,
        expires_on=expires_on,
        today=local_date(now, ctx.tz),
    )


def request_acceptance(
    ctx: AppContext,
    session: Session,
    *,
    ticket: Ticket,
    user_id: str,
    user_name: str | None,
    justification: str,
    expires_on: date,
    controls: str | None,
    now: datetime,
) -> RiskAcceptance:
    if ticket.status not in ("open", "in_progress"):
        raise AcceptanceError(f"ticket #{ticket.id} is {ticket.status}: nothing to accept")
    pending = session.scalar(
        select(RiskAcceptance.id).where(
            RiskAcceptance.ticket_id == ticket.id, RiskAcceptance.status == "pending"
        )
    )
    if pending is not None:
        raise AcceptanceError(f"ticket #{ticket.id} already has a pending request (#{pending})")
    request = RiskAcceptance(
        ticket_id=ticket.id,
        status="pending",
        requested_by=user_id,
        requested_by_name=user_name,
        requested_at=now,
        justification=justification.strip(),
        compensating_controls=(controls or "").strip() or None,
        expires_on=expires_on,
    )
    session.add(request)
    session.flush()
    append_event(
        session,
        NewEvent(
            kind=kinds.ACCEPTANCE_REQUESTED,
            at=now,
            source="slack",
            ticket_id=ticket.id,
            actor=user_id,
            details={
                "request_id": request.id,
                "requested_by": user_id,
                "requested_by_name": user_name,
                "justification": request.justification,
                "controls": request.compensating_controls,
                "expires_on": expires_on,
            },
        ),
        now=now,
    )
    enqueue(
        session,
        kind="notify.approval_request",
        key=approval_request_key(request.id),
        now=now,
        payload={"request_id": request.id},
    )
    return request


def refuse(
    session: Session,
    *,
    request_id: int,
    ticket_id: int | None,
    user_id: str,
    why: str,
    now: datetime,
) -> None:
    append_event(
        session,
        NewEvent(
            kind=kinds.ACCEPTANCE_REFUSED,
            at=now,
            source="slack",
            ticket_id=ticket_id,
            actor=user_id,
            details={"request_id": request_id, "user_id": user_id, "why": why},
        ),
        now=now,
    )


def approval_request_key(request_id: int) -> str:
    return f"notify.approval_request:{request_id}"


def approval_messages(session: Session, request: RiskAcceptance) -> set[tuple[str, str]]:
    """Every ``(channel id, ts)`` where the request's Approve/Reject buttons were posted: the
    security channel message, or one DM per approver (kept in the posting job's ledger)."""
    places: set[tuple[str, str]] = set()
    if request.approval_channel and request.approval_ts:
        places.add((request.approval_channel, request.approval_ts))
    payload = session.scalar(
        select(Job.payload).where(Job.idempotency_key == approval_request_key(request.id))
    )
    steps = payload.get(DONE_KEY) if isinstance(payload, dict) else None
    if isinstance(steps, dict):
        for value in steps.values():
            channel, ts = split_location(str(value))
            if channel and ts:
                places.add((channel, ts))
    return places


def decide(
    ctx: AppContext,
    session: Session,
    *,
    request_id: int,
    decision: Decision,
    user_id: str,
    user_name: str | None,
    now: datetime,
    origin: tuple[str, str] | None = None,
) -> DecisionOutcome:
    """Approve or reject; raises AcceptanceError if not allowed.

    ``origin`` is the ``(channel id, message ts)`` the button was clicked on: it must be one of
    the request's approval messages, so a button value edited to name another request is
    refused. Unauthorized attempts (not an approver, one's own request, a request that does
    not exist or does not match the message) are recorded as ``risk_acceptance.refused``; a
    second click on an already decided request is only answered.
    """
    request = session.get(RiskAcceptance, request_id, with_for_update=True)
    ticket_id = request.ticket_id if request else None
    why: str | None = None
    if request is None:
        why = f"risk acceptance request #{request_id} does not exist"
    elif user_id not in ctx.settings.approvers:
        why = "only a security approver (SLABOT_SLACK_APPROVERS) may decide risk acceptances"
    elif user_id == request.requested_by:
        why = "you requested this exception: another approver must decide it"
    elif origin is not None and origin not in approval_messages(session, request):
        why = f"this button does not belong to request #{request_id}'s approval message"
    if why is not None:
        refuse(
            session, request_id=request_id, ticket_id=ticket_id, user_id=user_id, why=why, now=now
        )
        raise AcceptanceError(why)
    assert request is not None
    if request.status != "pending":
        raise AcceptanceError(f"request #{request_id} was already {request.status}")
    ticket = session.get(Ticket, request.ticket_id)
    assert ticket is not None
    request.status = decision
    request.decided_by = user_id
    request.decided_by_name = user_name
    request.decided_at = now
    details = {
        "request_id": request.id,
        "approver_id": user_id,
        "approver_name": user_name,
        "expires_on": request.expires_on,
        "requested_by": request.requested_by,
    }
    if decision == "approved":
        append_event(
            session,
            NewEvent(
                kind=kinds.ACCEPTANCE_APPROVED,
                at=now,
                source="slack",
                ticket_id=ticket.id,
                actor=user_id,
                from_state=ticket.status,
                to_state="risk_accepted",
                details=details,
            ),
            now=now,
        )
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket.id)
            .values(status="risk_accepted", status_changed_at=now, next_reminder_at=None)
        )
    else:
        append_event(
            session,
            NewEvent(
                kind=kinds.ACCEPTANCE_REJECTED,
                at=now,
                source="slack",
                ticket_id=ticket.id,
                actor=user_id,
                details=details,
            ),
            now=now,
        )
    enqueue(
        session,
        kind="notify.decision",
        key=f"notify.decision:{request.id}",
        now=now,
        payload={"request_id": request.id},
    )
    if ticket.tracker != "local":
        verb = "approved" if decision == "approved" else "rejected"
        text = (
            f"slabot: risk acceptance #{request.id} {verb} by {user_name or user_id} on "
            f"{now:%Y-%m-%d %H:%M} UTC"
            + (f"; expires {request.expires_on.isoformat()}" if decision == "approved" else "")
            + f". Justification: {request.justification}"
        )
        enqueue(
            session,
            kind="tracker.comment",
            key=f"tracker.comment:acceptance:{request.id}",
            now=now,
            payload={"ticket_id": ticket.id, "text": text},
            max_attempts=TRACKER_MAX_ATTEMPTS,
        )
    session.flush()
    session.refresh(ticket)
    return DecisionOutcome(request, ticket, decision)


def schedule_expiries(ctx: AppContext, session: Session, now: datetime) -> int:
    """Warn 7 days before expiry; at expiry the ticket returns to open and reminders resume."""
    today = local_date(now, ctx.tz)
    changed = 0
    approved = session.scalars(
        select(RiskAcceptance).where(RiskAcceptance.status == "approved")
    ).all()
    for request in approved:
        if request.expires_on < today:
            ticket = session.get(Ticket, request.ticket_id)
            request.status = "expired"
            if ticket is not None and ticket.status == "risk_accepted":
                append_event(
                    session,
                    NewEvent(
                        kind=kinds.ACCEPTANCE_EXPIRED,
                        at=now,
                        source="system",
                        ticket_id=ticket.id,
                        from_state="risk_accepted",
                        to_state="open",
                        details={"request_id": request.id, "expires_on": request.expires_on},
                    ),
                    now=now,
                )
                ticket.status = "open"
                ticket.status_changed_at = now
                ticket.next_reminder_at = now
            enqueue(
                session,
                kind="notify.acceptance_expired",
                key=f"notify.acceptance_expired:{request.id}",
                now=now,
                payload={"request_id": request.id},
            )
            changed += 1
        elif request.warned_at is None and today >= expiry_warning_date(
            ctx.policy, request.expires_on
        ):
            request.warned_at = now
            changed += int(
                enqueue(
                    session,
                    kind="notify.expiry_warning",
                    key=f"notify.expiry_warning:{request.id}",
                    now=now,
                    payload={"request_id": request.id},
                )
            )
    return changed
