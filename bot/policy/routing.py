"""Policy lookups for one finding: assignee, public exposure, Jira priority."""

from __future__ import annotations

from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from bot.policy.models import Policy, Severity, severity_rank


def _matches(pattern: str, *values: str) -> bool:
    pat = pattern.lower()
    return any(fnmatchcase(v.lower(), pat) for v in values if v)


def _host(asset: str) -> str:
    if "://" in asset:
        return urlsplit(asset).hostname or ""
    return asset.rsplit(":", 1)[0] if asset.count(":") == 1 else asset


def assignee_for(policy: Policy, *, asset: str, template_id: str) -> str | None:
    """Email of the first ``[[assignees]]`` entry whose pattern matches the asset, the asset's
    host or the template id (fnmatch, case-insensitive); None when nothing matches."""
    for entry in policy.assignees:
        if _matches(entry.pattern, asset, _host(asset), template_id):
            return entry.email
    return None


def is_exposed(policy: Policy, asset: str) -> bool:
    """Whether an asset matches ``[exposure] internet_exposed`` (the asset or its host)."""
    return any(_matches(p, asset, _host(asset)) for p in policy.exposure.internet_exposed)


def jira_priority(policy: Policy, severity: Severity) -> str:
    """Jira priority name for an effective severity (policy override, else the default)."""
    severity_rank(severity)
    return policy.jira.priority.for_severity(severity)
