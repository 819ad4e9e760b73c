"""The contract's ticket JSON, shared by the CLI and the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.acceptances.models import RiskAcceptance
from bot.events.chain import iso_utc
from bot.events.service import ticket_history
from bot.findings.models import Finding
from bot.ingest.evidence import display_details
from bot.policy import local_date, sla_outcome
from bot.tickets.models import Ticket


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value).replace(".000000Z", "Z")


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def outcome_of(ticket: Ticket, *, today: date, tz: ZoneInfo) -> str:
    resolved_on = local_date(ticket.resolved_at, tz) if ticket.resolved_at else None
    return sla_outcome(
        status=ticket.status,
        due=ticket.due_date,
        resolved_on=resolved_on,
        today=today,
        accepted=ticket.status == "risk_accepted",
    )


def finding_counts(session: Session, ticket_ids: Sequence[int]) -> dict[int, int]:
    if not ticket_ids:
        return {}
    rows = session.execute(
        select(Finding.ticket_id, func.count())
        .where(Finding.ticket_id.in_(list(ticket_ids)))
        .group_by(Finding.ticket_id)
    )
    return {int(tid): int(n) for tid, n in rows}


def ticket_json(ticket: Ticket, *, today: date, tz: ZoneInfo, finding_count: int) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "title": ticket.title,
        "severity": ticket.severity,
        "reported_severity": ticket.reported_severity,
        "kev": ticket.kev,
        "cve_ids": list(ticket.cve_ids),
        "template_id": ticket.template_id,
        "asset": ticket.asset,
        "status": ticket.status,
        "sla_outcome": outcome_of(ticket, today=today, tz=tz),
        "due_date": _day(ticket.due_date),
        "opened_at": _iso(ticket.opened_at),
        "resolved_at": _iso(ticket.resolved_at),
        "tracker": ticket.tracker,
        "external_key": ticket.external_key,
        "external_url": ticket.external_url,
        "finding_count": finding_count,
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "fingerprint": finding.fingerprint,
        "template_id": finding.template_id,
        "name": finding.name,
        "asset": finding.asset,
        "matcher_name": finding.matcher_name,
        "severity": finding.severity,
        "reported_severity": finding.reported_severity,
        "kev": finding.kev,
        "kev_date_added": _day(finding.kev_date_added),
        "kev_due_date": _day(finding.kev_due_date),
        "kev_delisted": finding.kev_delisted,
        "cve_ids": list(finding.cve_ids),
        "status": finding.status,
        "first_seen": _iso(finding.first_seen),
        "last_seen": _iso(finding.last_seen),
        "due_date": _day(finding.due_date),
        "occurrences": finding.occurrences,
        "ticket_id": finding.ticket_id,
        "details": display_details(finding.details),
    }


def ticket_detail_json(
    session: Session, ticket: Ticket, *, today: date, tz: ZoneInfo
) -> dict[str, Any]:
    findings = list(
        session.scalars(select(Finding).where(Finding.ticket_id == ticket.id).order_by(Finding.id))
    )
    body = ticket_json(ticket, today=today, tz=tz, finding_count=len(findings))
    body["findings"] = [finding_json(f) for f in findings]
    body["risk_acceptances"] = [
        {
            "id": r.id,
            "status": r.status,
            "requested_by": r.requested_by,
            "justification": r.justification,
            "expires_on": _day(r.expires_on),
            "decided_by": r.decided_by,
            "decided_at": _iso(r.decided_at),
        }
        for r in session.scalars(
            select(RiskAcceptance)
            .where(RiskAcceptance.ticket_id == ticket.id)
            .order_by(RiskAcceptance.id)
        )
    ]
    body["events"] = [
        {
            "seq": e.seq,
            "at": _iso(e.at),
            "kind": e.kind,
            "from": e.from_state,
            "to": e.to_state,
            "actor": e.actor,
            "source": e.source,
            "details": e.details,
        }
        for e in ticket_history(session, ticket.id)
    ]
    return body


def list_tickets(
    session: Session,
    *,
    status: str | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> list[Ticket]:
    query = select(Ticket).where(Ticket.id > after_id).order_by(Ticket.id)
    if status is not None:
        query = query.where(Ticket.status == status)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))
