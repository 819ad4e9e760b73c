"""Pure finding rules: what a KEV listing or a new reported severity does to a finding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.policy import SEVERITIES, Policy, Severity, due_date, escalated_due, severity_rank


@dataclass(frozen=True, slots=True)
class KevFacts:
    cve_id: str
    date_added: date
    due_date: date | None
    known_ransomware: bool | None
    catalog_version: str


@dataclass(frozen=True, slots=True)
class Escalation:
    severity: str
    due: date | None
    changed_severity: bool
    changed_due: bool


def initial_due(
    policy: Policy, severity: str, clock_start: datetime, tz: ZoneInfo, kev: KevFacts | None
) -> date | None:
    return due_date(
        policy,
        as_severity(severity),
        clock_start,
        tz,
        kev_catalog_due=kev.due_date if kev else None,
    )


def escalate(
    policy: Policy,
    *,
    current_severity: str,
    current_due: date | None,
    first_seen: datetime,
    new_severity: str,
    at: datetime,
    tz: ZoneInfo,
    kev: KevFacts | None = None,
) -> Escalation:
    """Raise severity (never lower it) and tighten the due date (never loosen it)."""
    if severity_rank(new_severity) <= severity_rank(current_severity):
        new_severity = current_severity
    due = escalated_due(
        policy,
        current_due=current_due,
        first_seen=first_seen,
        escalated_at=at,
        new_severity=as_severity(new_severity),
        tz=tz,
        kev_catalog_due=kev.due_date if kev else None,
    )
    return Escalation(
        severity=new_severity,
        due=due,
        changed_severity=new_severity != current_severity,
        changed_due=due != current_due,
    )


def as_severity(value: str) -> Severity:
    """A stored severity string as the policy's type ("unknown" for anything unexpected)."""
    for severity in SEVERITIES:
        if severity == value:
            return severity
    return "unknown"
