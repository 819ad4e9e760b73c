"""Linear tracker: GraphQL over httpx.

* Idempotent create: ``issueCreate(input: {id})`` with :func:`~.base.linear_issue_uuid`. When
  the id is already taken (a lost reply, a crash before the local commit) Linear refuses the
  create; the client then reads ``issue(id)`` and returns it as the result.
* Workflow states are read once per tracker (``workflowStates`` filtered by team) and chosen by
  ``type``, never by name: open → unstarted, backlog, triage; in_progress → started;
  resolved → completed. Within a type the lowest ``position`` wins.
* Errors: a GraphQL error whose ``extensions.code`` is ``RATELIMITED`` (or ``type`` ratelimited)
  is retryable whatever the HTTP status (Linear has answered rate limits with 400 and 200);
  the wait comes from ``retry-after`` or the ``x-ratelimit-*-reset`` headers (epoch ms). 429,
  5xx, timeouts and connection errors are retryable; other 4xx and GraphQL errors are not.
* Personal API keys go in ``Authorization`` as-is (no "Bearer"), as the official SDK does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from .base import (
    LINEAR_STATE_CATEGORIES,
    LINEAR_STATE_RESOLUTIONS,
    Category,
    IssueDraft,
    RemoteIssue,
    TrackerError,
    parse_time,
    plain_line,
    priority_for,
)
from .render import LINEAR_DESCRIPTION_LIMIT, fit, markdown_comment, to_markdown

__all__ = ["DEFAULT_LINEAR_API_URL", "STATE_CATEGORIES", "LinearTracker", "linear_priority"]

DEFAULT_LINEAR_API_URL = "https://api.linear.app/graphql"
TITLE_LIMIT = 255
STATE_CATEGORIES = LINEAR_STATE_CATEGORIES
STATE_RESOLUTIONS = LINEAR_STATE_RESOLUTIONS
TARGET_TYPES: Mapping[Category, tuple[str, ...]] = {
    "open": ("unstarted", "backlog", "triage"),
    "in_progress": ("started",),
    "resolved": ("completed",),
}
# Linear priority: 0 none, 1 urgent, 2 high, 3 medium, 4 low. Jira names map across so one
# policy ``priority_overrides`` table serves both trackers.
_PRIORITY_BY_NAME = {
    "urgent": 1, "highest": 1, "high": 2, "medium": 3, "low": 4,
    "lowest": 0, "none": 0, "no priority": 0,
}  # fmt: skip
_NOT_FOUND_CODES = {"ENTITY_NOT_FOUND", "NOT_FOUND"}

ISSUE_SELECTION = """
    id identifier url title updatedAt dueDate priority
    state { id name type }
    assignee { id email name }
"""
Q_ISSUE = f"query SlabotIssue($id: String!) {{ issue(id: $id) {{ {ISSUE_SELECTION} }} }}"
Q_CREATE = f"""mutation SlabotIssueCreate($input: IssueCreateInput!) {{
  issueCreate(input: $input) {{ success issue {{ {ISSUE_SELECTION} }} }}
}}"""
Q_UPDATE = """mutation SlabotIssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) { success }
}"""
Q_COMMENT = """mutation SlabotCommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success }
}"""
Q_STATES = """query SlabotWorkflowStates($teamId: ID!) {
  workflowStates(filter: { team: { id: { eq: $teamId } } }, first: 100) {
    nodes { id name type position }
  }
}"""
Q_ISSUES = f"""query SlabotIssues($teamId: ID!, $since: DateTimeOrDuration!, $after: String,
                              $first: Int!) {{
  issues(filter: {{ team: {{ id: {{ eq: $teamId }} }}, updatedAt: {{ gte: $since }} }},
         first: $first, after: $after, orderBy: updatedAt) {{
    nodes {{ {ISSUE_SELECTION} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
Q_USER = """query SlabotUserByEmail($email: String!) {
  users(filter: { email: { eq: $email } }) { nodes { id email } }
}"""


def linear_priority(severity: str, overrides: Mapping[str, str]) -> int:
    """Linear priority for an effective severity: critical 1, high 2, medium 3, low 4, else 0;
    a policy override (Jira or Linear priority name) wins."""
    name = priority_for(severity, overrides).lower()
    return _PRIORITY_BY_NAME.get(name, 0)


def _rate_limit_wait(headers: httpx.Headers) -> timedelta | None:
    """Retry-After (seconds), else the reset (epoch ms) of the exhausted budget(s)."""
    value = headers.get("retry-after")
    if value:
        try:
            return timedelta(seconds=max(float(value), 0.0))
        except ValueError:
            pass
    now_ms = time.time() * 1000
    waits: dict[str, float] = {}
    for kind in ("requests", "complexity"):
        try:
            waits[kind] = max(float(headers.get(f"x-ratelimit-{kind}-reset", "")) - now_ms, 0.0)
        except ValueError:
            continue
    exhausted = [
        w for k, w in waits.items() if headers.get(f"x-ratelimit-{k}-remaining", "").strip() == "0"
    ]
    chosen = exhausted or list(waits.values())
    return timedelta(milliseconds=max(chosen)) if chosen else None


class LinearTracker:
    name = "linear"

    def __init__(
        self,
        api_key: str,
        team_id: str,
        *,
        api_url: str = DEFAULT_LINEAR_API_URL,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        page_size: int = 50,
    ) -> None:
        self.team_id = team_id
        self.api_url = api_url
        self.page_size = page_size
        self._auth = api_key  # personal key as-is; an OAuth token is passed as "Bearer <token>"
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=timeout)
        self._states: list[dict[str, Any]] | None = None

    # --- plumbing ----------------------------------------------------------------------------

    def _gql(self, what: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        operation = query.split("(", 1)[0].split()[-1]
        try:
            resp = self._client.post(
                self.api_url,
                json={"query": query, "variables": dict(variables), "operationName": operation},
                headers={"Authorization": self._auth, "Content-Type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise TrackerError(f"linear: {what} timed out", retryable=True) from exc
        except httpx.TransportError as exc:
            raise TrackerError(
                f"linear: {what} failed: {type(exc).__name__}", retryable=True
            ) from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            self._raise_graphql(what, resp, errors)
        if resp.status_code == 429 or resp.status_code >= 500 or resp.status_code in (408, 425):
            raise TrackerError(
                f"linear: {what} failed: HTTP {resp.status_code}",
                retryable=True,
                retry_after=_rate_limit_wait(resp.headers),
                status=resp.status_code,
            )
        if resp.status_code >= 400 or not isinstance(body, dict):
            raise TrackerError(
                f"linear: {what} failed: HTTP {resp.status_code}"
                + ("" if isinstance(body, dict) else " (reply is not JSON)"),
                retryable=resp.is_success,  # a 2xx that is not JSON: a proxy page, try again
                status=resp.status_code,
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise TrackerError(f"linear: {what}: reply has no data", retryable=True)
        return data

    def _raise_graphql(self, what: str, resp: httpx.Response, errors: list[Any]) -> None:
        first = errors[0] if isinstance(errors[0], dict) else {}
        ext = first.get("extensions") or {}
        code = str(ext.get("code", "")).upper()
        message = str(first.get("message", "GraphQL error"))[:300]
        user_message = ext.get("userPresentableMessage")
        if user_message:
            message += f" ({str(user_message)[:300]})"
        ratelimited = any(
            str((e.get("extensions") or {}).get("code", "")).upper()
            in {"RATELIMITED", "RATE_LIMITED"}
            or str((e.get("extensions") or {}).get("type", "")).lower() == "ratelimited"
            for e in errors
            if isinstance(e, dict)
        )
        if ratelimited or resp.status_code == 429:
            raise TrackerError(
                f"linear: {what}: rate limited: {message}",
                retryable=True,
                retry_after=_rate_limit_wait(resp.headers),
                status=429,
            )
        not_found = code in _NOT_FOUND_CODES or "not found" in message.lower()
        retryable = resp.status_code >= 500 or code == "INTERNAL_SERVER_ERROR"
        raise TrackerError(
            f"linear: {what} failed: {code or 'GraphQL error'}: {message}",
            retryable=retryable,
            status=404 if not_found else resp.status_code,
        )

    def _remote(self, node: Mapping[str, Any]) -> RemoteIssue:
        state = node.get("state") or {}
        state_type = str(state.get("type", "unstarted"))
        assignee = node.get("assignee") or {}
        return RemoteIssue(
            external_id=str(node["id"]),
            key=str(node.get("identifier") or node["id"]),
            url=str(node.get("url") or ""),
            category=STATE_CATEGORIES.get(state_type, "open"),
            status_name=str(state.get("name", "")),
            resolution=STATE_RESOLUTIONS.get(state_type),
            assignee_email=assignee.get("email"),
            updated_at=parse_time(node.get("updatedAt")),
        )

    def _issue(self, external_id: str) -> RemoteIssue | None:
        try:
            data = self._gql(f"get issue {external_id}", Q_ISSUE, {"id": external_id})
        except TrackerError as exc:
            if exc.status == 404:
                return None
            raise
        node = data.get("issue")
        return self._remote(node) if node else None

    def _states_of_team(self) -> list[dict[str, Any]]:
        if self._states is None:
            data = self._gql("read workflow states", Q_STATES, {"teamId": self.team_id})
            nodes = (data.get("workflowStates") or {}).get("nodes") or []
            self._states = sorted(nodes, key=lambda s: float(s.get("position") or 0))
        return self._states

    def _user_id(self, email: str) -> str | None:
        try:
            data = self._gql("look up assignee", Q_USER, {"email": email})
        except TrackerError as exc:
            if exc.retryable:
                raise
            return None
        for node in (data.get("users") or {}).get("nodes") or []:
            if str(node.get("email", "")).lower() == email.lower():
                return str(node["id"])
        return None

    # --- Tracker -----------------------------------------------------------------------------

    def find_by_label(self, draft: IssueDraft) -> RemoteIssue | None:
        return self._issue(draft.linear_id)

    def create(self, draft: IssueDraft) -> RemoteIssue:
        payload: dict[str, Any] = {
            "id": draft.linear_id,
            "teamId": self.team_id,
            "title": plain_line(draft.title, TITLE_LIMIT),
            "description": fit(draft, to_markdown, len, LINEAR_DESCRIPTION_LIMIT),
            "priority": linear_priority(draft.severity, draft.priority_overrides),
        }
        if draft.due_date is not None:
            payload["dueDate"] = draft.due_date.isoformat()
        if draft.assignee_email:
            user = self._user_id(draft.assignee_email)
            if user:
                payload["assigneeId"] = user
        what = f"create issue for {draft.idempotency_label}"
        try:
            data = self._gql(what, Q_CREATE, {"input": payload})
        except TrackerError as exc:
            if exc.retryable:
                raise
            # The id is ours and deterministic: "already exists" means an earlier attempt won.
            existing = self._issue(draft.linear_id)
            if existing is None:
                raise
            return existing
        node = (data.get("issueCreate") or {}).get("issue")
        if not node:
            raise TrackerError(f"linear: {what}: issueCreate returned no issue", retryable=True)
        return self._remote(node)

    def update(
        self,
        external_id: str,
        *,
        due_date: date | None,
        severity: str,
        priority_overrides: Mapping[str, str],
    ) -> None:
        payload = {
            "dueDate": due_date.isoformat() if due_date else None,
            "priority": linear_priority(severity, priority_overrides),
        }
        self._gql(f"update issue {external_id}", Q_UPDATE, {"id": external_id, "input": payload})

    def comment(self, external_id: str, text: str) -> None:
        self._gql(
            f"comment on issue {external_id}",
            Q_COMMENT,
            {"input": {"issueId": external_id, "body": markdown_comment(text)}},
        )

    def transition(self, external_id: str, to: Category) -> None:
        current = self.get(external_id)
        if current.category == to:
            return
        states = self._states_of_team()
        for wanted in TARGET_TYPES[to]:
            for state in states:
                if state.get("type") == wanted:
                    self._gql(
                        f"transition issue {external_id} to {to}",
                        Q_UPDATE,
                        {"id": external_id, "input": {"stateId": state["id"]}},
                    )
                    return
        raise TrackerError(
            f"linear: transition issue {external_id} to {to}: team {self.team_id} has no "
            f"workflow state of type {'/'.join(TARGET_TYPES[to])}",
            retryable=False,
        )

    def get(self, external_id: str) -> RemoteIssue:
        issue = self._issue(external_id)
        if issue is None:
            raise TrackerError(
                f"linear: get issue {external_id}: not found", retryable=False, status=404
            )
        return issue

    def updated_since(self, since: datetime) -> Iterator[RemoteIssue]:
        if since.tzinfo is None:
            raise ValueError("updated_since needs an aware datetime")
        stamp = since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        after: str | None = None
        while True:
            variables = {
                "teamId": self.team_id,
                "since": stamp,
                "after": after,
                "first": self.page_size,
            }
            data = self._gql("search for updated issues", Q_ISSUES, variables)
            conn = data.get("issues") or {}
            for node in conn.get("nodes") or []:
                yield self._remote(node)
            info = conn.get("pageInfo") or {}
            after = info.get("endCursor")
            if not info.get("hasNextPage") or not after:
                return

    def close(self) -> None:
        if self._own_client:
            self._client.close()
