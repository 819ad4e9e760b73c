"""Issue-tracker interface (Jira Cloud, Linear): the types the domain flows talk to.

Only I/O lives behind :class:`Tracker`. The domain builds an :class:`IssueDraft` from a ticket,
asks the tracker for the idempotency key first (:meth:`Tracker.find_by_label`) and only then
creates, so a crash or a lost reply between the remote create and the local commit never opens a
second issue. Every failure is a :class:`TrackerError` whose ``retryable`` flag and
``retry_after`` tell the outbox what to do.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_PRIORITIES",
    "JIRA_STATUS_CATEGORIES",
    "LINEAR_STATE_CATEGORIES",
    "LINEAR_STATE_RESOLUTIONS",
    "SLABOT_LABEL",
    "SLABOT_UUID_NAMESPACE",
    "Category",
    "IssueDraft",
    "KevNote",
    "Occurrence",
    "RemoteIssue",
    "StatusChange",
    "Tracker",
    "TrackerError",
    "idempotency_label",
    "linear_issue_uuid",
    "parse_time",
    "plain_line",
    "priority_for",
    "sla_line",
]

Category = Literal["open", "in_progress", "resolved"]

SLABOT_LABEL = "slabot"
# Fixed namespace for the deterministic Linear issue ids (uuid5 of this + "ticket:<id>").
SLABOT_UUID_NAMESPACE = uuid.UUID("6f0d3c1e-7a55-5b0e-9c9b-5d1a0b1e5a17")

# Jira status category key -> slabot category.
JIRA_STATUS_CATEGORIES: Mapping[str, Category] = {
    "new": "open",
    "indeterminate": "in_progress",
    "done": "resolved",
}
# Linear workflow state type -> slabot category (and the resolution a closing type implies).
LINEAR_STATE_CATEGORIES: Mapping[str, Category] = {
    "triage": "open",
    "backlog": "open",
    "unstarted": "open",
    "started": "in_progress",
    "completed": "resolved",
    "canceled": "resolved",
    "duplicate": "resolved",
}
LINEAR_STATE_RESOLUTIONS: Mapping[str, str] = {"canceled": "canceled", "duplicate": "duplicate"}

# severity -> Jira priority name; the policy's ``priority_overrides`` win over these.
DEFAULT_PRIORITIES: Mapping[str, str] = {
    "critical": "Highest",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "info": "Lowest",
    "unknown": "Lowest",
}


@dataclass(frozen=True, slots=True)
class KevNote:
    """Why a finding is KEV-escalated: the catalog entry that made it so."""

    catalog_version: str
    date_added: date
    due_date: date | None
    known_ransomware: bool


@dataclass(frozen=True, slots=True)
class Occurrence:
    matched_at: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class IssueDraft:
    """Everything a tracker needs to open an issue for one slabot ticket.

    All free text (``title``, ``description``, ``evidence``, ``references``, asset names) is
    untrusted: it comes from scan output. The tracker clients escape or encode it for their
    markup and truncate it to the remote limits.
    """

    ticket_id: int
    idempotency_label: str
    linear_id: str
    title: str
    severity: str
    reported_severity: str
    due_date: date | None
    asset: str
    template_id: str
    cve_ids: tuple[str, ...] = ()
    cwe_ids: tuple[str, ...] = ()
    kev: KevNote | None = None
    policy_name: str = ""
    sla_days: int | None = None
    occurrences: tuple[Occurrence, ...] = ()
    evidence: str = ""
    references: tuple[str, ...] = ()
    description: str = ""
    labels: tuple[str, ...] = ()
    assignee_email: str | None = None
    priority_overrides: Mapping[str, str] = field(default_factory=dict)
    custom_fields: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteIssue:
    external_id: str  # Jira issue id ("10001"); Linear issue UUID
    key: str  # Jira "SEC-12"; Linear identifier "SEC-12"
    url: str  # browsable URL
    category: Category
    status_name: str
    resolution: str | None
    assignee_email: str | None
    updated_at: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One change reported by a tracker (webhook or reconciler), with the source's event time."""

    external_id: str
    key: str
    at: datetime  # aware, UTC
    field: Literal["status", "assignee"]
    from_value: str | None
    to_value: str | None
    to_category: Category | None
    resolution: str | None
    actor: str | None
    delivery_id: str | None


class TrackerError(Exception):
    """A tracker call failed. ``retryable`` is False for errors a retry cannot fix (4xx other
    than 408/409/425/429, invalid input, authentication); ``retry_after`` is the wait the server
    asked for (Retry-After or a rate-limit reset), when it said."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: timedelta | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    def __repr__(self) -> str:
        return (
            f"TrackerError({str(self)!r}, retryable={self.retryable}, "
            f"retry_after={self.retry_after!r}, status={self.status!r})"
        )


@runtime_checkable
class Tracker(Protocol):
    name: str

    def find_by_label(self, draft: IssueDraft) -> RemoteIssue | None: ...
    def create(self, draft: IssueDraft) -> RemoteIssue: ...
    def update(
        self,
        external_id: str,
        *,
        due_date: date | None,
        severity: str,
        priority_overrides: Mapping[str, str],
    ) -> None: ...
    def comment(self, external_id: str, text: str) -> None: ...
    def transition(self, external_id: str, to: Category) -> None: ...
    def get(self, external_id: str) -> RemoteIssue: ...
    def updated_since(self, since: datetime) -> Iterator[RemoteIssue]: ...
    def close(self) -> None: ...


def idempotency_label(ticket_id: int) -> str:
    return f"slabot-{ticket_id}"


def linear_issue_uuid(ticket_id: int) -> str:
    """Deterministic issue id for Linear's ``issueCreate(input: {id})``.

    uuid5(namespace, "ticket:<id>") with the version nibble set to 4 (and the RFC 4122 variant
    kept), so a validator that insists on a v4 UUID accepts it. Same ticket, same id, always.
    """
    raw = bytearray(uuid.uuid5(SLABOT_UUID_NAMESPACE, f"ticket:{ticket_id}").bytes)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


_CONTROL_OR_SPACE = re.compile(r"\s+")


def plain_line(text: str, limit: int) -> str:
    """One line of plain text: control characters dropped, whitespace runs (newlines included)
    folded to one space, cut to ``limit`` characters with an ellipsis."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    line = _CONTROL_OR_SPACE.sub(" ", cleaned).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line or "(untitled finding)"


def sla_line(draft: IssueDraft) -> str:
    days = f"{draft.sla_days} days" if draft.sla_days is not None else "no SLA"
    due = draft.due_date.isoformat() if draft.due_date else "none"
    return f"SLA: {draft.policy_name or 'default'} — {days}, due {due}"


def priority_for(severity: str, overrides: Mapping[str, str]) -> str:
    """Jira priority name for an effective severity (policy overrides first)."""
    sev = severity.lower()
    return overrides.get(sev) or DEFAULT_PRIORITIES.get(sev, "Lowest")


def parse_time(value: object) -> datetime:
    """An aware UTC datetime from Jira (``2024-01-02T10:00:00.000+0000``) or ISO-8601 ``Z``
    text; the epoch for a missing value."""
    if not isinstance(value, str) or not value:
        return datetime.fromtimestamp(0, UTC)
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt).astimezone(UTC)
        except ValueError:
            continue
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
