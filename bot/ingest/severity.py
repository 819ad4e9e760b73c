"""Severity changes of known findings at ingest: a higher reported severity (template updated)
or a CVE now in KEV escalates and tightens the due date, opening the group's ticket when the
finding had none; a lower reported severity is recorded once and changes nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update

from bot.database.core import table_of
from bot.events.service import NewEvent, append_events
from bot.findings.events import escalation_event
from bot.findings.models import Finding
from bot.findings.rules import KevFacts, as_severity, escalate
from bot.policy import effective_severity, opens_ticket, severity_rank
from bot.tickets.service import TicketNeed, open_tickets_for_findings, recompute_tickets

if TYPE_CHECKING:
    from bot.ingest.pipeline import IngestPipeline, _Group


def apply_severity_changes(
    self: IngestPipeline, items: list[tuple[Finding, _Group, KevFacts | None]]
) -> None:
    """A later scan reports a higher severity (template updated) or the CVE is now in KEV:
    escalate and tighten. A lower reported severity is recorded and changes nothing."""
    policy, tz, now = self.ctx.policy, self.ctx.tz, self.now
    updates: list[dict[str, Any]] = []
    lowered: list[dict[str, Any]] = []
    new_events: list[NewEvent] = []
    needs_ticket: list[TicketNeed] = []
    touched: set[int] = set()
    for finding, group, fact in items:
        reported = group.last.severity
        target = effective_severity(policy, reported, in_kev=fact is not None or finding.kev)
        if severity_rank(reported) < severity_rank(finding.reported_severity) and fact is None:
            # Keep the lower report (so the next scan at this severity is not news again);
            # effective severity and due date stay: they never loosen.
            lowered.append({"fid": finding.id, "reported": reported})
            new_events.append(
                NewEvent(
                    kind="finding.severity_lowered",
                    at=now,
                    source=self.source,
                    finding_id=finding.id,
                    ticket_id=finding.ticket_id,
                    from_state=finding.reported_severity,
                    to_state=reported,
                    details={"note": "due date kept: due dates never loosen"},
                )
            )
            continue
        outcome = escalate(
            policy,
            current_severity=finding.severity,
            current_due=finding.due_date,
            first_seen=finding.first_seen,
            new_severity=target,
            at=now,
            tz=tz,
            kev=fact,
        )
        updates.append(
            {
                "fid": finding.id,
                "reported": reported
                if severity_rank(reported) > severity_rank(finding.reported_severity)
                else finding.reported_severity,
                "severity": outcome.severity,
                "due": outcome.due,
                "kev": finding.kev or fact is not None,
                "added": fact.date_added if fact else finding.kev_date_added,
                "kev_due": fact.due_date if fact else finding.kev_due_date,
                "version": fact.catalog_version if fact else finding.kev_catalog_version,
                "escalated_at": now if outcome.changed_severity else finding.escalated_at,
            }
        )
        if outcome.changed_severity or outcome.changed_due:
            if fact is not None:
                self.counts.escalated_kev += 1
            new_events.append(
                escalation_event(
                    finding_id=finding.id,
                    ticket_id=finding.ticket_id,
                    from_severity=finding.severity,
                    to_severity=outcome.severity,
                    at=now,
                    fact=fact,
                    old_due=finding.due_date,
                    new_due=outcome.due,
                    reported_severity=reported,
                )
            )
            if finding.ticket_id is not None:
                touched.add(finding.ticket_id)
            elif outcome.due is not None and opens_ticket(policy, as_severity(outcome.severity)):
                needs_ticket.append(
                    TicketNeed(
                        finding_id=finding.id,
                        grouping_key=finding.grouping_key,
                        title=f"{group.last.name} on {finding.asset}",
                        template_id=finding.template_id,
                        asset=finding.asset,
                        severity=outcome.severity,
                        reported_severity=reported,
                        kev=finding.kev or fact is not None,
                        cve_ids=list(finding.cve_ids),
                        due_date=outcome.due,
                        clock_started_at=finding.clock_started_at,
                    )
                )
    if lowered:
        self.session.execute(
            update(table_of(Finding))
            .where(Finding.id == bindparam("fid"))
            .values(reported_severity=bindparam("reported")),
            lowered,
            execution_options={"synchronize_session": False},
        )
    if updates:
        self.session.execute(
            update(table_of(Finding))
            .where(Finding.id == bindparam("fid"))
            .values(
                reported_severity=bindparam("reported"),
                severity=bindparam("severity"),
                due_date=bindparam("due"),
                kev=bindparam("kev"),
                kev_date_added=bindparam("added"),
                kev_due_date=bindparam("kev_due"),
                kev_catalog_version=bindparam("version"),
                escalated_at=bindparam("escalated_at"),
            ),
            updates,
            execution_options={"synchronize_session": False},
        )
    append_events(self.session, new_events, now=now)
    self.counts.tickets_opened += open_tickets_for_findings(
        self.session,
        needs_ticket,
        tracker=self.ctx.settings.tracker,
        policy=policy,
        now=now,
        reason="escalation at ingest",
    )
    recompute_tickets(self.session, touched, now=now, reason="escalation at ingest")
