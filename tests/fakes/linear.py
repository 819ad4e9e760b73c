"""FakeLinear: a GraphQL endpoint (``POST /graphql``) that implements only what slabot sends.

Operations are recognised by their root field in the query text (``issueCreate``,
``issueUpdate``, ``commentCreate``, ``workflowStates``, ``issues``, ``issue``, ``users``) and
read their arguments from ``variables``. Errors look like Linear's: ``{"errors": [{"message",
"extensions": {"code", "type", "userPresentableMessage"}}]}``. ``ratelimit_next`` answers
``RATELIMITED`` with HTTP 400 (as observed) or 200, with the ``x-ratelimit-*`` headers.

Tests read :attr:`FakeLinear.issues` (by id) and :attr:`FakeLinear.comments`; :meth:`move`
changes an issue's state and returns the webhook body Linear would send, to be signed with
:meth:`webhook_headers`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from ._http import FakeServer, Recorded, Reply

__all__ = ["FakeLinear"]

PRIORITY_LABELS = ["No priority", "Urgent", "High", "Medium", "Low"]
_ROOTS = (
    "issueCreate",
    "issueUpdate",
    "commentCreate",
    "workflowStates",
    "issues",
    "issue",
    "users",
)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _gql_error(message: str, code: str, user_message: str | None = None) -> dict[str, Any]:
    ext: dict[str, Any] = {"code": code, "type": code.lower().replace("_", " ")}
    if user_message:
        ext["userPresentableMessage"] = user_message
    return {"errors": [{"message": message, "extensions": ext}], "data": None}


class FakeLinear(FakeServer):
    def __init__(
        self,
        *,
        api_key: str = "lin_api_fake",
        team_id: str = "7d1b2f3a-0c4e-4f5a-9b6c-1d2e3f4a5b6c",
        team_key: str = "SEC",
        webhook_secret: str = "linear-webhook-secret",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api_key, self.team_id, self.team_key = api_key, team_id, team_key
        self.webhook_secret = webhook_secret
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.states = [
            {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"state:{name}")), "name": name,
             "type": typ, "position": float(pos), "color": "#bbb"}
            for pos, (name, typ) in enumerate([
                ("Triage", "triage"), ("Backlog", "backlog"), ("Todo", "unstarted"),
                ("In Progress", "started"), ("In Review", "started"), ("Done", "completed"),
                ("Canceled", "canceled"), ("Duplicate", "duplicate"),
            ])
        ]  # fmt: skip
        self.users = [
            {"id": "user-alice", "email": "alice@example.com", "name": "Alice"},
            {"id": "user-bob", "email": "bob@example.com", "name": "Bob"},
        ]

    # --- helpers for tests ---------------------------------------------------------------------

    def label(self, req: Recorded) -> str:
        try:
            body = json.loads(req.body)
        except ValueError:
            return f"{req.method} {req.path}"
        return str(body.get("operationName") or self._root(str(body.get("query", ""))))

    def error_body(self, status: int) -> Any:
        return _gql_error(f"Injected HTTP {status}", "INTERNAL_SERVER_ERROR")

    def ratelimit_next(
        self,
        n: int = 1,
        *,
        http_status: int = 400,
        reset_in_ms: int = 30_000,
        retry_after: int | None = None,
        match: str | None = None,
    ) -> None:
        """The next ``n`` matching requests are refused with a RATELIMITED GraphQL error."""
        reset = int(self.clock().timestamp() * 1000) + reset_in_ms
        headers = {
            "x-ratelimit-requests-limit": "1500",
            "x-ratelimit-requests-remaining": "0",
            "x-ratelimit-requests-reset": str(reset),
            "x-ratelimit-complexity-limit": "3000000",
            "x-ratelimit-complexity-remaining": "2999000",
            "x-ratelimit-complexity-reset": str(reset - 20_000),
        }
        body = _gql_error("Rate limit exceeded", "RATELIMITED", "Too many requests, try later.")
        body["errors"][0]["extensions"]["statusCode"] = 429
        self.fail_next(
            n, status=http_status, retry_after=retry_after, match=match, body=body, headers=headers
        )

    def state(self, name: str) -> dict[str, Any]:
        return next(s for s in self.states if s["name"] == name)

    def sign(self, body: bytes) -> str:
        return hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()

    def webhook_headers(self, body: bytes, *, delivery_id: str | None = None) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Linear-Delivery": delivery_id or str(uuid.uuid4()),
            "Linear-Event": "Issue",
            "Linear-Signature": self.sign(body),
            "User-Agent": "Linear-Webhook",
        }

    def webhook_body(
        self,
        issue_id: str,
        *,
        updated_from: dict[str, Any],
        actor: str = "user-alice",
        sent_at: datetime | None = None,
    ) -> dict[str, Any]:
        """An ``Issue`` ``update`` body for the issue's current state, shaped like Linear's."""
        rec = self.issues[issue_id]
        user = next(u for u in self.users if u["id"] == actor)
        data = {k: v for k, v in self._node(rec).items() if k not in ("assignee",)}
        data.update({
            "stateId": rec["state"]["id"], "teamId": self.team_id, "assigneeId": rec["assignee"],
            "labelIds": [], "priorityLabel": PRIORITY_LABELS[rec["priority"]],
            "team": {"id": self.team_id, "key": self.team_key, "name": "Security"},
            "createdAt": _iso(rec["createdAt"]),
        })  # fmt: skip
        if rec["assignee"]:
            data["assignee"] = {"id": rec["assignee"], "name": self._user(rec["assignee"])["name"]}
        sent = sent_at or self.clock()
        return {
            "action": "update", "type": "Issue", "createdAt": _iso(rec["updatedAt"]),
            "data": data, "updatedFrom": updated_from,
            "url": rec["url"], "actor": {"id": user["id"], "name": user["name"],
                                         "email": user["email"], "type": "user"},
            "organizationId": "org-fake", "webhookId": "webhook-fake",
            "webhookTimestamp": int(sent.timestamp() * 1000),
        }  # fmt: skip

    def move(
        self,
        issue_id: str,
        state_name: str,
        *,
        at: datetime | None = None,
        actor: str = "user-alice",
    ) -> dict[str, Any]:
        """A person moves the issue in Linear: change it, return the webhook body."""
        rec = self.issues[issue_id]
        before = {"stateId": rec["state"]["id"], "updatedAt": _iso(rec["updatedAt"])}
        rec["state"], rec["updatedAt"] = self.state(state_name), at or self.clock()
        return self.webhook_body(issue_id, updated_from=before, actor=actor)

    # --- state ---------------------------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        return next(u for u in self.users if u["id"] == user_id)

    def _node(self, rec: dict[str, Any]) -> dict[str, Any]:
        state = rec["state"]
        return {
            "id": rec["id"], "identifier": rec["identifier"], "url": rec["url"],
            "title": rec["title"], "description": rec["description"],
            "priority": rec["priority"], "dueDate": rec["dueDate"],
            "updatedAt": _iso(rec["updatedAt"]),
            "state": {k: state[k] for k in ("id", "name", "type", "color")},
            "assignee": dict(self._user(rec["assignee"])) if rec["assignee"] else None,
        }  # fmt: skip

    def _find(self, ref: str) -> dict[str, Any] | None:
        return self.issues.get(ref) or next(
            (r for r in self.issues.values() if r["identifier"] == ref), None
        )

    @staticmethod
    def _root(query: str) -> str:
        for root in _ROOTS:
            if re.search(rf"\b{root}\s*\(", query):
                return root
        return ""

    # --- routing -------------------------------------------------------------------------------

    def route(self, req: Recorded) -> Reply:
        if req.method != "POST" or req.path != "/graphql":
            return Reply(404, {"error": "not found"})
        if req.headers.get("Authorization") != self.api_key:
            return Reply(401, _gql_error("Authentication required, not authenticated",
                                         "AUTHENTICATION_ERROR"))  # fmt: skip
        try:
            body = json.loads(req.body)
        except ValueError:
            return Reply(400, _gql_error("Body is not JSON", "BAD_REQUEST"))
        variables = body.get("variables") or {}
        root = self._root(str(body.get("query", "")))
        handler = getattr(self, f"_op_{root}", None)
        if handler is None:
            return Reply(
                400,
                _gql_error(
                    f"Fake has no operation for {root or 'query'}", "GRAPHQL_VALIDATION_FAILED"
                ),
            )
        result: Reply = handler(variables)
        return result

    def _op_issue(self, v: dict[str, Any]) -> Reply:
        rec = self._find(str(v.get("id")))
        if rec is None:
            return Reply(200, _gql_error("Entity not found: Issue", "INVALID_INPUT",
                                         "Could not find referenced Issue."))  # fmt: skip
        return Reply(200, {"data": {"issue": self._node(rec)}})

    def _invalid(self, message: str) -> Reply:
        return Reply(400, _gql_error("Argument Validation Error", "INVALID_INPUT", message))

    def _check_fields(self, inp: dict[str, Any]) -> str | None:
        if "priority" in inp and inp["priority"] not in (0, 1, 2, 3, 4):
            return "priority must be an integer from 0 to 4"
        if inp.get("dueDate") is not None:
            try:
                date.fromisoformat(inp["dueDate"])
            except (TypeError, ValueError):
                return "dueDate must be a date"
        if inp.get("assigneeId") and not any(u["id"] == inp["assigneeId"] for u in self.users):
            return "assignee not found"
        if inp.get("stateId") and not any(s["id"] == inp["stateId"] for s in self.states):
            return "workflow state not found"
        return None

    def _op_issueCreate(self, v: dict[str, Any]) -> Reply:
        inp = v.get("input") or {}
        if inp.get("teamId") != self.team_id:
            return self._invalid("team not found")
        if not isinstance(inp.get("title"), str) or not inp["title"].strip():
            return self._invalid("title must not be empty")
        issue_id = inp.get("id") or str(uuid.uuid4())
        try:
            if uuid.UUID(issue_id).version != 4:
                return self._invalid("id must be a UUID v4")
        except ValueError:
            return self._invalid("id must be a UUID")
        if issue_id in self.issues:
            return self._invalid("An entity with this id already exists.")
        problem = self._check_fields(inp)
        if problem:
            return self._invalid(problem)
        now = self.clock()
        identifier = f"{self.team_key}-{len(self.issues) + 1}"
        rec = {
            "id": issue_id, "identifier": identifier,
            "url": f"https://linear.app/fake/issue/{identifier}",
            "title": inp["title"], "description": inp.get("description") or "",
            "priority": inp.get("priority", 0), "dueDate": inp.get("dueDate"),
            "assignee": inp.get("assigneeId"), "state": self.state("Todo"),
            "createdAt": now, "updatedAt": now,
        }  # fmt: skip
        self.issues[issue_id] = rec
        return Reply(200, {"data": {"issueCreate": {"success": True, "issue": self._node(rec)}}})

    def _op_issueUpdate(self, v: dict[str, Any]) -> Reply:
        rec = self._find(str(v.get("id")))
        if rec is None:
            return Reply(200, _gql_error("Entity not found: Issue", "INVALID_INPUT"))
        inp = v.get("input") or {}
        problem = self._check_fields(inp)
        if problem:
            return self._invalid(problem)
        for name in ("dueDate", "priority", "title", "description"):
            if name in inp:
                rec[name] = inp[name]
        if "assigneeId" in inp:
            rec["assignee"] = inp["assigneeId"]
        if inp.get("stateId"):
            rec["state"] = next(s for s in self.states if s["id"] == inp["stateId"])
        rec["updatedAt"] = self.clock()
        return Reply(200, {"data": {"issueUpdate": {"success": True}}})

    def _op_commentCreate(self, v: dict[str, Any]) -> Reply:
        inp = v.get("input") or {}
        rec = self._find(str(inp.get("issueId")))
        if rec is None:
            return Reply(200, _gql_error("Entity not found: Issue", "INVALID_INPUT"))
        self.comments.append({"issueId": rec["id"], "body": inp.get("body")})
        rec["updatedAt"] = self.clock()
        return Reply(200, {"data": {"commentCreate": {"success": True}}})

    def _op_workflowStates(self, v: dict[str, Any]) -> Reply:
        nodes = self.states if v.get("teamId") == self.team_id else []
        return Reply(200, {"data": {"workflowStates": {"nodes": [
            {k: s[k] for k in ("id", "name", "type", "position")} for s in nodes
        ]}}})  # fmt: skip

    def _op_issues(self, v: dict[str, Any]) -> Reply:
        since = datetime.fromisoformat(str(v["since"]).replace("Z", "+00:00"))
        team_ok = v.get("teamId") == self.team_id
        hits = sorted(
            (r for r in self.issues.values() if team_ok and r["updatedAt"] >= since),
            key=lambda r: (r["updatedAt"], r["identifier"]),
        )
        after = v.get("after")
        start = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
        size = min(int(v.get("first") or 50), 250)
        page = hits[start : start + size]
        more = start + size < len(hits)
        cursor = base64.b64encode(f"cursor:{start + len(page)}".encode()).decode()
        return Reply(200, {"data": {"issues": {
            "nodes": [self._node(r) for r in page],
            "pageInfo": {"hasNextPage": more, "endCursor": cursor if page else None},
        }}})  # fmt: skip

    def _op_users(self, v: dict[str, Any]) -> Reply:
        email = str(v.get("email", "")).lower()
        nodes = [u for u in self.users if u["email"].lower() == email]
        return Reply(200, {"data": {"users": {"nodes": nodes}}})
