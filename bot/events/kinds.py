"""The event vocabulary. Every state change slabot knows of is one of these kinds.

The weekly snapshot and ``evidence week`` rebuild ticket state by replaying these events, so
each kind's ``details`` carries everything the replay needs (listed per kind below). Ticket
status changes always set ``to_state`` (and ``from_state`` where known).

scan.ingested              details: findings,new,duplicate,reopened,escalated_kev,tickets_opened,
                           ignored,new_below_threshold,target,sha256,size,container,artifact,
                           via,scan_id (new_below_threshold: new findings under the ticket
                           threshold: stored, no ticket)
scan.missed                details: target, window_start, window_end, cron
finding.new                finding_id, ticket_id (none below the ticket threshold); details:
                           fingerprint,template_id,asset,matcher_name,severity,
                           reported_severity,cve_ids,due_date,scan_id
finding.escalated          from_state/to_state = severities; details: reason ("kev"|"higher
                           severity reported"), catalog_version, old_due_date,new_due_date, …
finding.severity_lowered   recorded only; due dates never loosen
finding.kev_delisted       details: cve_ids, catalog_version
ticket.opened              to_state "open"; details: title,severity,reported_severity,kev,cve_ids,
                           asset,template_id,due_date,policy,tracker
ticket.due_changed         details: old_due_date,new_due_date,reason
ticket.escalated           from_state/to_state = severities; details: reason, kev
ticket.status_changed      from_state/to_state ∈ open,in_progress,resolved,resolved_unverified;
                           details: source_at (tracker time), status_name, resolution, external_key
ticket.reopened            from resolved*, to "open"; details: clock_restarted_at,old_due_date,
                           new_due_date
ticket.assigned            details: assignee (email or name), previous
ticket.linked              details: tracker, external_key, external_url (remote issue created)
reminder.sent              details: slot, kind (open|reminder|escalation), channel, recipient
risk_acceptance.requested  details: request_id, requested_by, justification, expires_on, controls
risk_acceptance.approved   from_state = prior status, to_state "risk_accepted"; details:
                           request_id, approver_id, approver_name, expires_on
risk_acceptance.rejected   details: request_id, approver_id, approver_name
risk_acceptance.refused    an unauthorized decision attempt; details: request_id, user_id, why
risk_acceptance.expired    from "risk_accepted" to "open"; details: request_id, expires_on
kev.catalog_loaded         details: catalog_version, added, removed, entries
snapshot.written           details: week, uri, sha256, head_seq, head_hash
"""

from __future__ import annotations

SCAN_INGESTED = "scan.ingested"
SCAN_MISSED = "scan.missed"
FINDING_NEW = "finding.new"
FINDING_ESCALATED = "finding.escalated"
FINDING_SEVERITY_LOWERED = "finding.severity_lowered"
FINDING_KEV_DELISTED = "finding.kev_delisted"
TICKET_OPENED = "ticket.opened"
TICKET_DUE_CHANGED = "ticket.due_changed"
TICKET_ESCALATED = "ticket.escalated"
TICKET_STATUS_CHANGED = "ticket.status_changed"
TICKET_REOPENED = "ticket.reopened"
TICKET_ASSIGNED = "ticket.assigned"
TICKET_LINKED = "ticket.linked"
REMINDER_SENT = "reminder.sent"
ACCEPTANCE_REQUESTED = "risk_acceptance.requested"
ACCEPTANCE_APPROVED = "risk_acceptance.approved"
ACCEPTANCE_REJECTED = "risk_acceptance.rejected"
ACCEPTANCE_REFUSED = "risk_acceptance.refused"
ACCEPTANCE_EXPIRED = "risk_acceptance.expired"
KEV_CATALOG_LOADED = "kev.catalog_loaded"
SNAPSHOT_WRITTEN = "snapshot.written"

# Kinds whose to_state is the ticket's new status.
STATUS_KINDS = frozenset(
    {
        TICKET_OPENED,
        TICKET_STATUS_CHANGED,
        TICKET_REOPENED,
        ACCEPTANCE_APPROVED,
        ACCEPTANCE_EXPIRED,
    }
)
