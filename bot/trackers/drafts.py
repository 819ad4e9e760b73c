"""Build the tracker-neutral issue draft for a ticket (all the text a remote issue shows)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.findings.models import Finding
from bot.findings.rules import as_severity
from bot.ingest.evidence import display_details
from bot.policy import SEVERITIES, Policy, assignee_for, remediation_days
from bot.tickets.models import Ticket
from integrations.trackers import (
    IssueDraft,
    KevNote,
    Occurrence,
    idempotency_label,
    linear_issue_uuid,
)

MAX_OCCURRENCES = 25


def priority_map(policy: Policy) -> dict[str, str]:
    """severity → Jira priority name, with the policy's overrides applied."""
    return {str(s): policy.jira.priority.for_severity(s) for s in SEVERITIES}


def build_draft(ctx: AppContext, session: Session, ticket: Ticket) -> IssueDraft:
    findings = list(
        session.scalars(
            select(Finding)
            .where(Finding.ticket_id == ticket.id)
            .order_by(Finding.first_seen)
            .limit(MAX_OCCURRENCES)
        )
    )
    total = session.scalar(select(func.count()).where(Finding.ticket_id == ticket.id)) or 0
    first = findings[0] if findings else None
    details = display_details(first.details) if first else {}
    kev_finding = next((f for f in findings if f.kev), None)
    kev = (
        KevNote(
            catalog_version=kev_finding.kev_catalog_version or "",
            date_added=kev_finding.kev_date_added,
            due_date=kev_finding.kev_due_date,
            known_ransomware=bool(kev_finding.kev_ransomware),
        )
        if kev_finding is not None and kev_finding.kev_date_added is not None
        else None
    )
    evidence_parts = [details.get("request") or "", details.get("curl_command") or ""]
    evidence = "\n\n".join(p for p in evidence_parts if p)
    policy = ctx.policy
    assignee = ticket.assignee_email or assignee_for(
        policy, asset=ticket.asset, template_id=ticket.template_id
    )
    labels: tuple[str, ...] = ()
    if total > MAX_OCCURRENCES:
        evidence += f"\n\n({total - MAX_OCCURRENCES} more occurrences not listed)"
    return IssueDraft(
        ticket_id=ticket.id,
        idempotency_label=idempotency_label(ticket.id),
        linear_id=linear_issue_uuid(ticket.id),
        title=ticket.title,
        severity=ticket.severity,
        reported_severity=ticket.reported_severity,
        due_date=ticket.due_date,
        asset=ticket.asset,
        template_id=ticket.template_id,
        cve_ids=tuple(ticket.cve_ids),
        cwe_ids=tuple(details.get("cwe_ids") or ()),
        kev=kev,
        policy_name=policy.name,
        sla_days=remediation_days(policy, as_severity(ticket.severity)),
        occurrences=tuple(
            Occurrence(
                matched_at=str(display_details(f.details).get("matched_at") or f.asset),
                first_seen=f.first_seen,
                last_seen=f.last_seen,
            )
            for f in findings
        ),
        evidence=evidence,
        references=tuple(details.get("references") or ()),
        description=str(details.get("description") or ""),
        labels=labels,
        assignee_email=assignee,
        priority_overrides=priority_map(policy),
        custom_fields=dict(ctx.settings.jira_custom_fields),
    )
