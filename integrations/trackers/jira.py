"""Jira Cloud tracker on the ``jira`` library (pycontribs/jira), REST API v3.

Choices, each forced by what the library actually sends (jira 3.10, source read):

* ``rest_api_version="3"``: every call goes to ``/rest/api/3/...``; descriptions and comments are
  Atlassian Document Format (ADF), so untrusted scan text is carried in ADF text nodes and never
  parsed as markup (see :mod:`integrations.trackers.render`).
* ``max_retries=0``: the library's ResilientSession would otherwise retry 429/503 and connection
  errors itself, sleeping up to 60 s (jittered, so sooner than a long Retry-After asks) and
  re-sending POSTs — a lost create reply would become a duplicate issue. slabot's outbox owns
  retries; here a 429 becomes ``TrackerError(retryable=True, retry_after=Retry-After)``.
* The client is built lazily on first use: the constructor of ``JIRA`` already calls
  ``GET serverInfo`` (needed: ``enhanced_search_issues`` returns None unless
  ``deploymentType == "Cloud"``), and a Jira outage must not crash a worker at start-up.
* Search is ``GET /rest/api/3/search/jql`` via ``enhanced_search_issues(json_result=True)``,
  paged here on ``nextPageToken`` (the library's own default fetches only the first page).
  Asking for a field list makes the library fetch ``GET /field`` once (its field-name cache).
* JQL dates are read in the API user's time zone, so ``updated_since`` converts to the
  ``timeZone`` of ``GET /myself`` (fetched once).
* Edits (due date, priority, severity label) are one ``PUT /issue/{id}`` through the library's
  session: ``Issue.update`` would first GET the issue and re-GET it afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from jira import JIRA, JIRAError

from .base import (
    DEFAULT_PRIORITIES,
    JIRA_STATUS_CATEGORIES,
    SLABOT_LABEL,
    Category,
    IssueDraft,
    RemoteIssue,
    TrackerError,
    parse_time,
    plain_line,
    priority_for,
)
from .render import JIRA_DESCRIPTION_LIMIT, adf_comment, adf_size, fit, to_adf

__all__ = ["JiraTracker", "jql_string"]

T = TypeVar("T")

SUMMARY_LIMIT = 255
STATUS_CATEGORIES = JIRA_STATUS_CATEGORIES
SEVERITY_LABELS = tuple(DEFAULT_PRIORITIES)
ISSUE_FIELDS = ["summary", "status", "resolution", "assignee", "updated", "labels", "duedate"]
RETRYABLE_STATUSES = {408, 409, 425, 429}
_NEGATIVE_OUTCOMES = ("won't", "wont", "cancel", "duplicate", "reject", "declin", "invalid")


def jql_string(value: str) -> str:
    """A JQL string literal: double-quoted, with backslash and double quote escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def _label(text: str) -> str:
    """Jira labels cannot contain whitespace and are at most 255 characters."""
    return "_".join(text.split())[:255]


def _retry_after(headers: Mapping[str, str]) -> timedelta | None:
    value = headers.get("Retry-After")
    if value:
        try:
            return timedelta(seconds=max(float(value), 0.0))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            return max(when - datetime.now(UTC), timedelta(0))
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(when - datetime.now(UTC), timedelta(0))
    return None


def _target_category(transition: Mapping[str, Any]) -> Category | None:
    to = transition.get("to") or {}
    return STATUS_CATEGORIES.get(str((to.get("statusCategory") or {}).get("key")))


class JiraTracker:
    name = "jira"

    def __init__(
        self,
        url: str,
        email: str,
        api_token: str,
        project: str,
        issue_type: str = "Bug",
        *,
        client_factory: Callable[[], JIRA] | None = None,
        timeout: float = 10.0,
        page_size: int = 50,
    ) -> None:
        self.url = url.rstrip("/")
        self.project = project
        self.issue_type = issue_type
        self.page_size = page_size
        self._factory = client_factory or (
            lambda: JIRA(
                server=self.url,
                basic_auth=(email, api_token),
                options={"rest_api_version": "3"},
                max_retries=0,
                timeout=timeout,
                get_server_info=True,
            )
        )
        self._jira: JIRA | None = None
        self._tz: ZoneInfo | None = None

    # --- plumbing ----------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[JIRA], T]) -> T:
        """Run ``fn`` against the (lazily built) client; map every failure to TrackerError."""
        try:
            if self._jira is None:
                self._jira = self._factory()
            return fn(self._jira)
        except JIRAError as exc:
            status = exc.status_code
            detail = (exc.text or "").strip()[:500] or "no detail"
            headers = exc.response.headers if exc.response is not None else {}
            if status is None:
                raise TrackerError(f"jira: {what} failed: {detail}", retryable=False) from exc
            retryable = status in RETRYABLE_STATUSES or status >= 500
            raise TrackerError(
                f"jira: {what} failed: HTTP {status}: {detail}",
                retryable=retryable,
                retry_after=_retry_after(headers) if retryable else None,
                status=status,
            ) from exc
        except requests.Timeout as exc:
            raise TrackerError(f"jira: {what} timed out", retryable=True) from exc
        except requests.RequestException as exc:
            raise TrackerError(
                f"jira: {what} failed: {type(exc).__name__}", retryable=True
            ) from exc
        except ValueError as exc:  # a 2xx whose body is not JSON (a proxy page)
            raise TrackerError(f"jira: {what}: unreadable reply", retryable=True) from exc
        except KeyError as exc:  # the library indexes replies directly (e.g. user["self"])
            raise TrackerError(
                f"jira: {what}: reply lacks {exc.args[0]!r}", retryable=False
            ) from exc

    def _search(self, jql: str, what: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:

            def page(j: JIRA, token: str | None = token) -> dict[str, Any]:
                result = j.enhanced_search_issues(
                    jql,
                    nextPageToken=token,
                    maxResults=self.page_size,
                    fields=list(ISSUE_FIELDS),
                    json_result=True,
                )
                if result is None:  # @cloud_api: serverInfo did not say "Cloud"
                    raise TrackerError(
                        f"jira: {what}: server is not Jira Cloud (serverInfo deploymentType); "
                        "the /search/jql endpoint is Cloud-only",
                        retryable=False,
                    )
                return dict(result)

            data = self._call(what, page)
            yield from data.get("issues") or []
            previous, token = token, data.get("nextPageToken")
            if not token or data.get("isLast") is True or token == previous:
                return

    def _remote(self, raw: Mapping[str, Any]) -> RemoteIssue:
        fields = raw.get("fields") or {}
        status = fields.get("status") or {}
        cat_key = (status.get("statusCategory") or {}).get("key", "new")
        resolution = fields.get("resolution") or {}
        assignee = fields.get("assignee") or {}
        return RemoteIssue(
            external_id=str(raw["id"]),
            key=str(raw["key"]),
            url=f"{self.url}/browse/{raw['key']}",
            category=STATUS_CATEGORIES.get(cat_key, "open"),
            status_name=str(status.get("name", "")),
            resolution=resolution.get("name"),
            assignee_email=assignee.get("emailAddress"),
            updated_at=parse_time(fields.get("updated")),
        )

    def _account_id(self, email: str) -> str | None:
        """accountId of the user with this e-mail, or None (unknown, hidden, or not allowed)."""
        try:
            users = self._call("user search", lambda j: j.search_users(query=email, maxResults=10))
        except TrackerError as exc:
            if exc.retryable:
                raise
            return None
        exact = [u for u in users if str(getattr(u, "emailAddress", "")).lower() == email.lower()]
        if exact:
            return str(exact[0].accountId)
        # Cloud hides e-mail addresses by profile privacy; a single match for the query is it.
        return str(users[0].accountId) if len(users) == 1 else None

    # --- Tracker -----------------------------------------------------------------------------

    def find_by_label(self, draft: IssueDraft) -> RemoteIssue | None:
        jql = (
            f"project = {jql_string(self.project)} "
            f"AND labels = {jql_string(draft.idempotency_label)}"
        )
        for raw in self._search(jql, f"search for {draft.idempotency_label}"):
            return self._remote(raw)
        return None

    def create(self, draft: IssueDraft) -> RemoteIssue:
        labels = ["vulnerability", SLABOT_LABEL, draft.severity, draft.idempotency_label]
        labels += [lab for lab in draft.labels if lab]
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": plain_line(draft.title, SUMMARY_LIMIT),
            "description": fit(draft, to_adf, adf_size, JIRA_DESCRIPTION_LIMIT),
            "labels": list(dict.fromkeys(_label(lab) for lab in labels)),
            "priority": {"name": priority_for(draft.severity, draft.priority_overrides)},
        }
        if draft.due_date is not None:
            fields["duedate"] = draft.due_date.isoformat()
        if draft.assignee_email:
            account = self._account_id(draft.assignee_email)
            if account:
                fields["assignee"] = {"accountId": account}
        fields.update(draft.custom_fields)
        what = f"create issue for {draft.idempotency_label} in {self.project}"
        created = self._call(what, lambda j: j.create_issue(fields=fields, prefetch=False))
        return self.get(str(created.id))

    def update(
        self,
        external_id: str,
        *,
        due_date: date | None,
        severity: str,
        priority_overrides: Mapping[str, str],
    ) -> None:
        body = {
            "fields": {
                "duedate": due_date.isoformat() if due_date else None,
                "priority": {"name": priority_for(severity, priority_overrides)},
            },
            "update": {
                "labels": [{"remove": s} for s in SEVERITY_LABELS if s != severity]
                + [{"add": _label(severity)}]
            },
        }

        def put(j: JIRA) -> None:
            j._session.put(j._get_url(f"issue/{external_id}"), data=json.dumps(body))

        self._call(f"update issue {external_id}", put)

    def comment(self, external_id: str, text: str) -> None:
        doc = adf_comment(text)
        self._call(
            f"comment on issue {external_id}",
            lambda j: j.add_comment(external_id, doc),  # v3 takes the ADF document as body
        )

    def transition(self, external_id: str, to: Category) -> None:
        current = self.get(external_id)
        if current.category == to:
            return
        what = f"transition issue {external_id} to {to}"
        transitions = self._call(what, lambda j: j.transitions(external_id))
        candidates = [t for t in transitions if _target_category(t) == to]
        if not candidates:
            names = ", ".join(repr(t.get("name")) for t in transitions) or "none"
            raise TrackerError(
                f"jira: {what}: no transition from {current.status_name!r} leads to a "
                f"{to} status (available: {names})",
                retryable=False,
            )
        candidates.sort(
            key=lambda t: any(
                neg in str((t.get("to") or {}).get("name", "")).lower()
                for neg in _NEGATIVE_OUTCOMES
            )
        )
        chosen = str(candidates[0]["id"])
        self._call(what, lambda j: j.transition_issue(external_id, chosen))

    def get(self, external_id: str) -> RemoteIssue:
        issue = self._call(
            f"get issue {external_id}",
            lambda j: j.issue(external_id, fields=",".join(ISSUE_FIELDS)),
        )
        return self._remote(issue.raw or {})

    def updated_since(self, since: datetime) -> Iterator[RemoteIssue]:
        if since.tzinfo is None:
            raise ValueError("updated_since needs an aware datetime")
        local = since.astimezone(self._user_tz()).replace(second=0, microsecond=0)
        jql = (
            f"project = {jql_string(self.project)} AND labels = {SLABOT_LABEL} "
            f'AND updated >= "{local:%Y/%m/%d %H:%M}" ORDER BY updated ASC'
        )
        for raw in self._search(jql, "search for updated issues"):
            yield self._remote(raw)

    def _user_tz(self) -> ZoneInfo:
        if self._tz is None:
            me = self._call("read /myself", lambda j: j.myself())
            try:
                self._tz = ZoneInfo(str(me.get("timeZone") or "UTC"))
            except (ZoneInfoNotFoundError, ValueError):
                self._tz = ZoneInfo("UTC")
        return self._tz

    def close(self) -> None:
        if self._jira is not None:
            self._jira.close()  # type: ignore[no-untyped-call]
            self._jira = None
