"""Snapshot arithmetic (pure): SLA figures from replayed state for one period.

``today`` is the period's last day in SLABOT_TIMEZONE; outcomes come from
:func:`bot.policy.sla_outcome`. Interpretations an auditor should know:

- an approved risk acceptance counts (``excepted``) while the replayed status is
  ``risk_accepted`` and its ``expires_on`` is not before ``today``; one that lapsed by date
  without a recorded expiry counts as no exception (the ticket is treated as open);
- ``resolved_unverified`` (closed as won't-fix without an approved exception) is not
  remediation: it is judged like an open ticket and never counts as met;
- "overdue" lists every unresolved ticket past its due date, each with its approved exception
  or ``"none"``; the headline ``overdue_without_exception`` counts the ``"none"`` ones;
- remediation figures cover tickets resolved (status ``resolved``) within the period; days to
  remediate run from the SLA clock start (opening, or the reappearance that reopened it).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import Any

from bot.cadence.rules import Gap
from bot.events.chain import iso_utc
from bot.policy import SEVERITIES, local_date, sla_outcome
from bot.snapshots.replay import LogState, RecordedGap, TicketState

OUTCOMES = ("within_sla", "due_soon", "overdue", "met", "missed", "excepted")


def _day(value: str | None) -> date | None:
    return None if not value else date.fromisoformat(value[:10])


def active_acceptance(ticket: TicketState, today: date) -> bool:
    if ticket.status != "risk_accepted" or ticket.acceptance is None:
        return False
    expires = _day(ticket.acceptance.expires_on)
    return expires is None or expires >= today


def outcome_of(ticket: TicketState, *, today: date, tz: tzinfo) -> str:
    accepted = active_acceptance(ticket, today)
    status = ticket.status
    if status == "risk_accepted" and not accepted:
        status = "open"
    resolved_on = None if ticket.resolved_at is None else local_date(ticket.resolved_at, tz)
    return sla_outcome(
        status=status,
        due=_day(ticket.due_date),
        resolved_on=resolved_on,
        today=today,
        accepted=accepted,
    )


def exception_of(ticket: TicketState, today: date) -> dict[str, Any] | str:
    if not active_acceptance(ticket, today):
        return "none"
    a = ticket.acceptance
    assert a is not None
    return {
        "request_id": a.request_id,
        "approver": a.approver,
        "approver_id": a.approver_id,
        "approved_at": iso_utc(a.approved_at),
        "expires_on": a.expires_on,
    }


def exception_text(ticket: TicketState, today: date) -> str:
    exc = exception_of(ticket, today)
    if isinstance(exc, str):
        return exc
    return f"approved by {exc['approver']} until {exc['expires_on']} ({exc['request_id']})"


def _severity_keys(tickets: Sequence[TicketState]) -> list[str]:
    extra = sorted({t.severity for t in tickets} - set(SEVERITIES))
    return [*SEVERITIES, *extra]


def _pct(met: int, missed: int) -> float | None:
    return None if met + missed == 0 else round(100.0 * met / (met + missed), 2)


def _remediation(done: list[tuple[str, float]]) -> dict[str, Any]:
    met = sum(1 for o, _ in done if o == "met")
    missed = len(done) - met
    days = [d for _, d in done]
    return {
        "resolved": len(done),
        "met": met,
        "missed": missed,
        "closed_within_sla_pct": _pct(met, missed),
        "mean_days_to_remediate": round(statistics.fmean(days), 2) if days else None,
        "median_days_to_remediate": round(statistics.median(days), 2) if days else None,
    }


def _ticket_ref(t: TicketState) -> dict[str, Any]:
    return {"ticket_id": t.id, "title": t.title, "severity": t.severity, "status": t.status}


def merge_gaps(recorded: Sequence[RecordedGap], computed: Sequence[Gap]) -> list[dict[str, Any]]:
    """Gaps recorded by the cadence check plus gaps derived from the replayed scans, one per
    (target, window end), ordered by window end then target."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for gap in computed:
        item: dict[str, Any] = {**gap.as_json(), "recorded": False}
        merged[(item["target"], item["window_end"])] = item
    for rec in recorded:
        end = iso_utc(datetime.fromisoformat(rec.window_end.replace("Z", "+00:00")))
        key = (rec.target, end)
        start = rec.window_start
        if start:
            start = iso_utc(datetime.fromisoformat(start.replace("Z", "+00:00")))
        merged[key] = {
            "target": rec.target,
            "window_start": start,
            "window_end": end,
            "cron": rec.cron,
            "recorded": True,
        }
    return [merged[k] for k in sorted(merged, key=lambda k: (k[1], k[0]))]


def compute_figures(
    state: LogState,
    *,
    period_start: datetime,
    period_end: datetime,
    today: date,
    tz: tzinfo,
    gaps: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """Every figure of the snapshot. ``period_end`` is exclusive (the cutoff)."""
    tickets = [state.tickets[k] for k in sorted(state.tickets)]
    severities = _severity_keys(tickets)
    counts: dict[str, dict[str, int]] = {s: dict.fromkeys(OUTCOMES, 0) for s in severities}
    by_status: dict[str, int] = {}
    done: dict[str, list[tuple[str, float]]] = {s: [] for s in severities}
    overdue: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    kev: list[dict[str, Any]] = []
    for t in tickets:
        outcome = outcome_of(t, today=today, tz=tz)
        counts[t.severity][outcome] += 1
        by_status[t.status] = by_status.get(t.status, 0) + 1
        exc = exception_of(t, today)
        due = _day(t.due_date)
        if t.status != "resolved" and due is not None and due < today:
            overdue.append(
                {
                    **_ticket_ref(t),
                    "due_date": t.due_date,
                    "days_overdue": (today - due).days,
                    "kev": t.kev,
                    "exception": exc,
                }
            )
        if not isinstance(exc, str):
            exceptions.append({**_ticket_ref(t), **exc})
        if t.kev:
            kev.append(
                {
                    **_ticket_ref(t),
                    "cve_ids": sorted(t.cve_ids),
                    "due_date": t.due_date,
                    "sla_outcome": outcome,
                }
            )
        resolved = t.resolved_at
        if (
            t.status == "resolved"
            and resolved is not None
            and period_start <= resolved < period_end
        ):
            took = (resolved - t.clock_started_at).total_seconds() / 86400.0
            done[t.severity].append((outcome, max(took, 0.0)))
    totals = {o: sum(c[o] for c in counts.values()) for o in OUTCOMES}
    all_done = [d for items in done.values() for d in items]
    scans = [
        {
            "at": iso_utc(s.at),
            "target": s.target,
            "findings": s.findings,
            "sha256": s.sha256,
            "artifact": s.artifact,
            "scan_id": s.scan_id,
        }
        for s in state.scans
        if period_start <= s.at < period_end
    ]
    overall = _remediation(all_done)
    without = sum(1 for o in overdue if o["exception"] == "none")
    return {
        "headline": {
            "overdue_without_exception": without,
            "overdue_with_exception": len(overdue) - without,
            "tickets": len(tickets),
            "active_exceptions": len(exceptions),
            "kev_tickets": len(kev),
            "scans_received": len(scans),
            "cadence_gaps": len(gaps),
            "closed_within_sla_pct": overall["closed_within_sla_pct"],
        },
        "counts": {
            "by_severity": counts,
            "total": totals,
            "by_status": dict(sorted(by_status.items())),
        },
        "remediation": {
            "by_severity": {s: _remediation(done[s]) for s in severities},
            "total": overall,
        },
        "overdue": overdue,
        "active_exceptions": exceptions,
        "kev_tickets": kev,
        "scans": scans,
        "cadence_gaps": list(gaps),
    }
