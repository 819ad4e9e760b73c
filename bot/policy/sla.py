"""SLA arithmetic: effective severity, due dates, escalation and the SLA outcome.

Pure functions: every "now" is an argument. Days are calendar days counted from the *local*
date (in the SLABOT_TIMEZONE zone passed as ``tz``) of the clock start, so a finding first seen
at 23:30 local on 1 March with 30 days is due on 31 March whatever the UTC date was.

Due dates only ever tighten: :func:`escalated_due` and :func:`tighten` never return a date later
than the current one, and an escalation never yields a date before first seen's local date.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

from bot.policy.models import Policy, Severity, severity_rank
from bot.policy.ssvc import SsvcInputs, ssvc_outcome

SlaOutcome = Literal["within_sla", "due_soon", "overdue", "met", "missed", "excepted"]
DUE_SOON_DAYS = 7


def local_date(moment: datetime, tz: tzinfo) -> date:
    """The calendar date of an aware datetime in ``tz``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware datetime")
    return moment.astimezone(tz).date()


def effective_severity(policy: Policy, reported: Severity, *, in_kev: bool) -> Severity:
    """The severity slabot acts on: a KEV-listed finding is raised to ``kev.escalate_to``."""
    if in_kev and severity_rank(policy.kev.escalate_to) > severity_rank(reported):
        return policy.kev.escalate_to
    return reported


def opens_ticket(policy: Policy, severity: Severity) -> bool:
    """Whether a finding of this effective severity opens a ticket.

    True when the severity is at or above ``min_ticket_severity`` and the policy can give it a
    deadline (a ``remediation_days`` entry, or the BOD 26-04 table when enabled). In a
    decision-table policy :func:`due_date` can still say None ("fix on system upgrade" with no
    severity deadline): ``due_date`` is the final word, None means no ticket.
    """
    if severity_rank(severity) < severity_rank(policy.min_ticket_severity):
        return False
    return policy.bod_26_04.enabled or policy.remediation_days.for_severity(severity) is not None


def remediation_days(
    policy: Policy, severity: Severity, *, ssvc: SsvcInputs | None = None
) -> int | None:
    """Days allowed for a finding, or None when it opens no ticket.

    The severity's ``remediation_days``; when ``[bod_26_04] enabled`` the decision table's
    deadline bounds it too (the shorter wins). ``ssvc=None`` in a decision-table policy means
    all four inputs are unknown, which gives the strictest outcome (3 days).
    """
    if not opens_ticket(policy, severity):
        return None
    days = policy.remediation_days.for_severity(severity)
    if policy.bod_26_04.enabled:
        table_days = ssvc_outcome(ssvc or SsvcInputs()).days
        if table_days is not None:
            days = table_days if days is None else min(days, table_days)
    return days


def _bound_by_kev(
    policy: Policy, proposed: date | None, kev_catalog_due: date | None
) -> date | None:
    if not policy.kev.kev_due_date or kev_catalog_due is None:
        return proposed
    return kev_catalog_due if proposed is None else min(proposed, kev_catalog_due)


def due_date(
    policy: Policy,
    severity: Severity,
    clock_start: datetime,
    tz: tzinfo,
    *,
    ssvc: SsvcInputs | None = None,
    kev_catalog_due: date | None = None,
) -> date | None:
    """Due date: clock start's local date + the remediation days; None = no ticket.

    With ``kev.kev_due_date = true`` the KEV catalog ``dueDate`` also bounds it, but never
    before the clock start's local date.
    """
    days = remediation_days(policy, severity, ssvc=ssvc)
    if days is None:
        return None
    start = local_date(clock_start, tz)
    bounded = _bound_by_kev(policy, start + timedelta(days=days), kev_catalog_due)
    assert bounded is not None
    return max(bounded, start)


def tighten(current: date | None, proposed: date | None) -> tuple[date | None, bool]:
    """Apply a recomputed due date: only ever earlier. Returns (due, changed)."""
    if proposed is None:
        return current, False
    if current is None or proposed < current:
        return proposed, True
    return current, False


def escalated_due(
    policy: Policy,
    *,
    current_due: date | None,
    first_seen: datetime,
    escalated_at: datetime,
    new_severity: Severity,
    tz: tzinfo,
    kev_catalog_due: date | None = None,
    ssvc: SsvcInputs | None = None,
) -> date | None:
    """Due date after an escalation (KEV listing or a higher severity in a later scan).

    ``min(current_due, max(first_seen, escalated_at) + days(new_severity))``: the new severity's
    clock starts when slabot learns of the escalation, never before first seen; with
    ``kev_due_date`` the catalog ``dueDate`` bounds it too. The result is never later than
    ``current_due`` and a newly computed date is never before first seen's local date.
    None only when there was no due date and the new severity opens no ticket either.
    """
    first_day = local_date(first_seen, tz)
    clock = max(first_seen, escalated_at)
    days = remediation_days(policy, new_severity, ssvc=ssvc)
    proposed = None if days is None else local_date(clock, tz) + timedelta(days=days)
    proposed = _bound_by_kev(policy, proposed, kev_catalog_due)
    if proposed is not None:
        proposed = max(proposed, first_day)
    return tighten(current_due, proposed)[0]


def sla_outcome(
    *,
    status: str,
    due: date | None,
    resolved_on: date | None,
    today: date,
    accepted: bool,
) -> SlaOutcome:
    """SLA outcome of a ticket.

    - resolved: ``met`` when resolved on or before the due date (or no due date), else
      ``missed`` (``resolved_on`` defaults to ``today`` when unknown);
    - risk accepted (``accepted`` or status ``risk_accepted``): ``excepted``;
    - open: ``overdue`` once today is after the due date, ``due_soon`` with 0..7 days left
      (the due date itself is still due_soon: resolving that day is ``met``), else
      ``within_sla`` (also when there is no due date).
    """
    if status == "resolved":
        done = resolved_on or today
        return "met" if due is None or done <= due else "missed"
    if accepted or status == "risk_accepted":
        return "excepted"
    if due is None:
        return "within_sla"
    days_left = (due - today).days
    if days_left < 0:
        return "overdue"
    if days_left <= DUE_SOON_DAYS:
        return "due_soon"
    return "within_sla"
