"""The ``finding.escalated`` event, built the same way wherever an escalation happens
(KEV at ingest, a higher severity in a later scan, a new KEV catalog)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.events import kinds
from bot.events.service import NewEvent
from bot.findings.rules import KevFacts


def escalation_event(
    *,
    finding_id: int,
    ticket_id: int | None,
    from_severity: str,
    to_severity: str,
    at: datetime,
    fact: KevFacts | None,
    reason: str | None = None,
    old_due: date | None = None,
    new_due: date | None = None,
    **extra: Any,
) -> NewEvent:
    details: dict[str, Any] = {"reason": reason or ("kev" if fact else "higher severity reported")}
    if fact is not None:
        details |= {
            "catalog_version": fact.catalog_version,
            "kev_date_added": fact.date_added,
            "kev_due_date": fact.due_date,
            "known_ransomware": fact.known_ransomware,
        }
    if old_due is not None or new_due is not None:
        details |= {"old_due_date": old_due, "new_due_date": new_due}
    details |= extra
    return NewEvent(
        kind=kinds.FINDING_ESCALATED,
        at=at,
        source="system",
        finding_id=finding_id,
        ticket_id=ticket_id,
        from_state=from_severity,
        to_state=to_severity,
        details=details,
    )
