"""Read-only JSON API: ``/api/tickets``, ``/api/tickets/{id}``, ``/api/findings``."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from bot.context import AppContext
from bot.database.core import read_only, transaction
from bot.findings.models import Finding
from bot.policy import local_date
from bot.tickets.local import LocalTrackerError, set_local_status
from bot.tickets.models import Ticket
from bot.tickets.serialize import (
    finding_counts,
    finding_json,
    list_tickets,
    ticket_detail_json,
    ticket_json,
)
from bot.web.auth import bearer_matches
from bot.web.errors import ApiError

router = APIRouter(prefix="/api")


def _authorize(request: Request) -> AppContext:
    """Bearer SLABOT_API_TOKEN; without a configured token, loopback clients only."""
    ctx: AppContext = request.app.state.ctx
    token = ctx.settings.api_token
    if token is not None:
        if not bearer_matches(request.headers.get("authorization"), token):
            raise ApiError(
                401, "missing or wrong credentials: send 'Authorization: Bearer <token>'"
            )
        return ctx
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in ("localhost", "testclient")
    if not loopback:
        raise ApiError(401, "SLABOT_API_TOKEN is not set: the API answers loopback clients only")
    return ctx


@router.get("/tickets")
def api_tickets(
    request: Request,
    status: str | None = None,
    after: int = Query(0, ge=0, description="return tickets with id greater than this"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    ctx = _authorize(request)
    today = local_date(ctx.clock(), ctx.tz)
    with read_only(ctx.sessions) as session:
        tickets = list_tickets(session, status=status, after_id=after, limit=limit)
        counts = finding_counts(session, [t.id for t in tickets])
    items = [
        ticket_json(t, today=today, tz=ctx.tz, finding_count=counts.get(t.id, 0)) for t in tickets
    ]
    next_after = tickets[-1].id if len(tickets) == limit else None
    return {"items": items, "next_after": next_after}


@router.get("/tickets/{ticket_id}")
def api_ticket(request: Request, ticket_id: int) -> dict[str, Any]:
    ctx = _authorize(request)
    with read_only(ctx.sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise ApiError(404, f"no ticket {ticket_id}")
        return ticket_detail_json(session, ticket, today=local_date(ctx.clock(), ctx.tz), tz=ctx.tz)


@router.get("/findings")
def api_findings(
    request: Request,
    after: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    status: str | None = None,
) -> dict[str, Any]:
    ctx = _authorize(request)
    query = select(Finding).where(Finding.id > after).order_by(Finding.id).limit(limit)
    if status is not None:
        query = query.where(Finding.status == status)
    with read_only(ctx.sessions) as session:
        findings = list(session.scalars(query))
    return {
        "items": [finding_json(f) for f in findings],
        "next_after": findings[-1].id if len(findings) == limit else None,
    }


class StatusChange(BaseModel):
    status: Literal["open", "in_progress", "resolved"]
    resolution: str | None = None
    actor: str | None = Field(default=None, max_length=200)


@router.post("/tickets/{ticket_id}/status")
def api_set_status(request: Request, ticket_id: int, change: StatusChange) -> dict[str, Any]:
    """Local tracker only: move a ticket through its workflow (recorded like a webhook)."""
    ctx = _authorize(request)
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise ApiError(404, f"no ticket {ticket_id}")
        try:
            set_local_status(
                session,
                ticket,
                status=change.status,
                now=now,
                actor=change.actor or "api",
                resolution=change.resolution,
            )
        except LocalTrackerError as exc:
            raise ApiError(409, str(exc)) from None
    with read_only(ctx.sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket_detail_json(session, ticket, today=local_date(now, ctx.tz), tz=ctx.tz)
