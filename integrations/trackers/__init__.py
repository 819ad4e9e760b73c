"""Issue trackers (Jira Cloud, Linear) behind one small interface, plus their webhooks.

The domain flows use :class:`Tracker` and the value types; :class:`JiraTracker` and
:class:`LinearTracker` are the implementations; :mod:`.webhooks` verifies and parses incoming
deliveries.
"""

from __future__ import annotations

from .base import (
    DEFAULT_PRIORITIES,
    SLABOT_LABEL,
    Category,
    IssueDraft,
    KevNote,
    Occurrence,
    RemoteIssue,
    StatusChange,
    Tracker,
    TrackerError,
    idempotency_label,
    linear_issue_uuid,
    priority_for,
    sla_line,
)
from .jira import JiraTracker, jql_string
from .linear import DEFAULT_LINEAR_API_URL, LinearTracker, linear_priority
from .webhooks import (
    WebhookPayloadError,
    linear_timestamp_fresh,
    parse_jira_webhook,
    parse_linear_webhook,
    verify_jira_signature,
    verify_linear_signature,
)

__all__ = [
    "DEFAULT_LINEAR_API_URL",
    "DEFAULT_PRIORITIES",
    "SLABOT_LABEL",
    "Category",
    "IssueDraft",
    "JiraTracker",
    "KevNote",
    "LinearTracker",
    "Occurrence",
    "RemoteIssue",
    "StatusChange",
    "Tracker",
    "TrackerError",
    "WebhookPayloadError",
    "idempotency_label",
    "jql_string",
    "linear_issue_uuid",
    "linear_priority",
    "linear_timestamp_fresh",
    "parse_jira_webhook",
    "parse_linear_webhook",
    "priority_for",
    "sla_line",
    "verify_jira_signature",
    "verify_linear_signature",
]
