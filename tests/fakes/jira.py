"""FakeJira: a stateful Jira Cloud REST API (v2 and v3 paths) for the real ``jira`` library.

Serves what slabot's client calls: serverInfo (``deploymentType: Cloud``), myself, project,
field, priority, issue create/get/edit, transitions, comments, ``search/jql`` with
``nextPageToken`` paging, and user search. Validates like Jira does where it matters to slabot:
summary (≤ 255, no newline), ADF description on v3 (≤ 32,767 characters), labels without
spaces, known priority/assignee/fields. Workflow: To Do (new) ↔ In Progress (indeterminate) ↔
Done / Won't Do (done, which set the resolution of the same name).

Tests read state from :attr:`FakeJira.issues` (by key) and :attr:`FakeJira.comments`, and make
webhooks with :meth:`move` / :meth:`webhook_body` + :meth:`webhook_headers`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ._http import FakeServer, Recorded, Reply
from .jql import JqlError, parse_jql

__all__ = ["STATUSES", "FakeJira"]

# name -> (status id, category key)
STATUSES = {
    "To Do": ("10000", "new"),
    "In Progress": ("3", "indeterminate"),
    "Done": ("10001", "done"),
    "Won't Do": ("10002", "done"),
}
TRANSITIONS = [("11", "To Do"), ("21", "In Progress"), ("31", "Done"), ("41", "Won't Do")]
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
SYSTEM_FIELDS = [
    "summary", "description", "labels", "priority", "duedate", "assignee", "status",
    "resolution", "updated", "created", "project", "issuetype", "reporter",
]  # fmt: skip
TEXT_LIMIT = 32_767
_ISSUE_PATH = re.compile(r"^/rest/api/(?P<v>[23])/(?P<rest>.*)$")


def _jira_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}" + dt.strftime("%z")


def _errors(messages: list[str] | None = None, **errors: str) -> dict[str, Any]:
    return {"errorMessages": messages or [], "errors": errors}


class FakeJira(FakeServer):
    def __init__(
        self,
        *,
        email: str = "slabot@example.com",
        api_token: str = "jira-token",
        project: str = "SEC",
        webhook_secret: str = "jira-webhook-secret",
        time_zone: str = "UTC",
        hide_emails: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.email, self.api_token, self.project_key = email, api_token, project
        self.webhook_secret = webhook_secret
        self.time_zone = time_zone
        self.hide_emails = hide_emails
        self.deployment_type = "Cloud"  # "Server" makes the jira library refuse search/jql
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.users = [
            {"accountId": "acc-alice", "emailAddress": "alice@example.com", "displayName": "Alice"},
            {"accountId": "acc-bob", "emailAddress": "bob@example.com", "displayName": "Bob"},
        ]
        self.custom_fields = {"customfield_10050": "SOC 2 control"}
        self._next_id = 10000

    # --- helpers for tests ---------------------------------------------------------------------

    def issue(self, key_or_id: str) -> dict[str, Any]:
        for issue in self.issues.values():
            if key_or_id in (issue["key"], issue["id"]):
                return issue
        raise KeyError(key_or_id)

    def label(self, req: Recorded) -> str:
        return f"{req.method} {req.path}"

    def error_body(self, status: int) -> Any:
        return _errors([f"Injected HTTP {status}"])

    def sign(self, body: bytes) -> str:
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        return f"sha256={digest}"

    def webhook_headers(
        self, body: bytes, *, delivery_id: str | None = None, retry: int | None = None
    ) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Atlassian-Webhook-Identifier": delivery_id or str(uuid.uuid4()),
            "X-Atlassian-Webhook-Flow": "Primary",
            "X-Hub-Signature": self.sign(body),
        }
        if retry:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)
        return headers

    def _user(self, account_id: str | None) -> dict[str, Any] | None:
        for user in self.users:
            if user["accountId"] == account_id:
                out = {
                    "self": f"{self.url}/rest/api/3/user?accountId={account_id}",
                    **user,
                    "active": True,
                    "accountType": "atlassian",
                }
                if self.hide_emails:
                    out.pop("emailAddress")
                return out
        return None

    def webhook_body(
        self,
        issue: str | dict[str, Any],
        from_status: str,
        to_status: str,
        ts: datetime,
        *,
        user: dict[str, Any] | None = None,
        extra_items: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A ``jira:issue_updated`` body for a status change, shaped like Jira Cloud's."""
        rec = self.issue(issue) if isinstance(issue, str) else issue
        items = [
            {
                "field": "status", "fieldtype": "jira", "fieldId": "status",
                "from": STATUSES[from_status][0], "fromString": from_status,
                "to": STATUSES[to_status][0], "toString": to_status,
            },
            *(extra_items or []),
        ]  # fmt: skip
        view = self._view(rec, "3")
        view["fields"]["status"] = self._status(to_status)
        return {
            "timestamp": int(ts.timestamp() * 1000),
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": user or self._user("acc-alice"),
            "issue": view,
            "changelog": {"id": str(self._bump()), "items": items},
        }

    def move(
        self, key: str, to_status: str, *, at: datetime | None = None, user: str = "acc-alice"
    ) -> dict[str, Any]:
        """A person moves the issue in Jira: change it, return the webhook body Jira sends."""
        rec = self.issue(key)
        before, at = rec["status"], at or self.clock()
        self._set_status(rec, to_status, at)
        items = []
        if (rec["resolution"] or None) is not None:
            items.append({"field": "resolution", "fromString": None, "toString": rec["resolution"]})
        return self.webhook_body(
            rec, before, to_status, at, user=self._user(user), extra_items=items
        )

    # --- state ---------------------------------------------------------------------------------

    def _bump(self) -> int:
        self._next_id += 1
        return self._next_id

    def _status(self, name: str) -> dict[str, Any]:
        sid, cat = STATUSES[name]
        return {
            "id": sid,
            "name": name,
            "statusCategory": {"key": cat, "name": CATEGORY_NAMES[cat], "id": len(cat)},
        }

    def _set_status(self, rec: dict[str, Any], name: str, at: datetime) -> None:
        rec["status"] = name
        rec["resolution"] = name if STATUSES[name][1] == "done" else None
        rec["updated"] = at

    def _view(
        self, rec: dict[str, Any], version: str, wanted: list[str] | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "summary": rec["summary"],
            "description": rec["description"],
            "labels": list(rec["labels"]),
            "priority": {"name": rec["priority"], "id": str(PRIORITIES.index(rec["priority"]) + 1)},
            "duedate": rec["duedate"],
            "status": self._status(rec["status"]),
            "resolution": {"name": rec["resolution"]} if rec["resolution"] else None,
            "assignee": self._user(rec["assignee"]),
            "updated": _jira_time(rec["updated"].astimezone(ZoneInfo(self.time_zone))),
            "created": _jira_time(rec["created"]),
            "project": {"id": "10000", "key": rec["project"]},
            "issuetype": {"id": "10004", "name": rec["issuetype"]},
            **rec["custom"],
        }
        if wanted and "*all" not in wanted:
            fields = {k: v for k, v in fields.items() if k in wanted}
        base = f"{self.url}/rest/api/{version}/issue/{rec['id']}"
        return {"id": rec["id"], "key": rec["key"], "self": base, "fields": fields}

    def _validate(self, fields: dict[str, Any], version: str, creating: bool) -> dict[str, str]:
        errs: dict[str, str] = {}
        known = set(SYSTEM_FIELDS) | set(self.custom_fields)
        for name in fields:
            if name not in known:
                errs[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, "
                    "or unknown."
                )
        if creating or "summary" in fields:
            summary = fields.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                errs["summary"] = "You must specify a summary of the issue."
            elif "\n" in summary or "\r" in summary:
                errs["summary"] = "The summary is invalid because it contains newline characters."
            elif len(summary) > 255:
                errs["summary"] = "Summary must be less than 255 characters."
        if "description" in fields and fields["description"] is not None:
            desc = fields["description"]
            if version == "3" and not (isinstance(desc, dict) and desc.get("type") == "doc"):
                errs["description"] = "Operation value must be an Atlassian Document"
            elif len(json.dumps(desc) if isinstance(desc, dict) else desc) > TEXT_LIMIT:
                errs["description"] = (
                    "The entered text is too long. It exceeds the allowed limit of 32,767 "
                    "characters."
                )
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or re.search(r"\s", label) or len(label) > 255:
                errs["labels"] = f"The label '{label}' contains spaces which is invalid."
        if "priority" in fields and (fields["priority"] or {}).get("name") not in PRIORITIES:
            errs["priority"] = "Specify a valid priority name"
        if fields.get("duedate") is not None:
            try:
                date.fromisoformat(fields["duedate"])
            except (TypeError, ValueError):
                errs["duedate"] = "Error parsing date string: " + str(fields["duedate"])
        if fields.get("assignee") and self._user(fields["assignee"].get("accountId")) is None:
            errs["assignee"] = "Specified user does not exist or you do not have required access"
        return errs

    # --- routing -------------------------------------------------------------------------------

    def route(self, req: Recorded) -> Reply:
        auth = req.headers.get("Authorization", "")
        token = base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
        if auth != f"Basic {token}":
            return Reply(401, _errors(["Client must be authenticated to access this resource."]))
        m = _ISSUE_PATH.match(req.path)
        if not m:
            return Reply(404, _errors(["Not found"]))
        v, rest = m.group("v"), m.group("rest")
        q = {k: vs[-1] for k, vs in req.query.items()}
        method = req.method
        if rest == "serverInfo":
            return Reply(200, {
                "baseUrl": self.url, "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0], "deploymentType": self.deployment_type,
                "buildNumber": 100282, "serverTitle": "Fake Jira",
            })  # fmt: skip
        if rest == "myself":
            return Reply(200, {
                "accountId": "acc-slabot", "emailAddress": self.email,
                "displayName": "slabot", "timeZone": self.time_zone, "active": True,
            })  # fmt: skip
        if rest == f"project/{self.project_key}":
            return Reply(200, {
                "id": "10000", "key": self.project_key, "name": "Security",
                "issueTypes": [{"id": "10004", "name": "Bug"}, {"id": "10002", "name": "Task"}],
            })  # fmt: skip
        if rest == "field":
            system = [{"id": f, "name": f.title(), "custom": False, "clauseNames": [f]}
                      for f in SYSTEM_FIELDS]  # fmt: skip
            custom = [
                {"id": fid, "name": name, "custom": True,
                 "clauseNames": [f"cf[{fid.split('_')[1]}]", name]}
                for fid, name in self.custom_fields.items()
            ]  # fmt: skip
            return Reply(200, system + custom)
        if rest == "priority":
            return Reply(200, [{"id": str(i + 1), "name": p} for i, p in enumerate(PRIORITIES)])
        if rest == "user/search":
            needle = q.get("query", "").lower()
            found = [
                self._user(u["accountId"])
                for u in self.users
                if needle and needle in f"{u['emailAddress']} {u['displayName']}".lower()
            ]
            return Reply(200, found)
        if rest == "search/jql":
            if method == "POST":
                params = req.json() or {}
                return self._search(params, v, params.get("fields"))
            return self._search(q, v, req.query.get("fields"))
        if rest == "issue" and method == "POST":
            return self._create((req.json() or {}).get("fields") or {}, v)
        m2 = re.fullmatch(r"issue/([^/]+)(/transitions|/comment)?", rest)
        if m2:
            try:
                rec = self.issue(m2.group(1))
            except KeyError:
                return Reply(404, _errors(["Issue does not exist or you do not have permission."]))
            sub = m2.group(2)
            if sub is None and method == "GET":
                return Reply(
                    200, self._view(rec, v, q["fields"].split(",") if "fields" in q else None)
                )
            if sub is None and method == "PUT":
                return self._edit(rec, req.json() or {}, v)
            if sub == "/transitions" and method == "GET":
                return Reply(200, {"expand": "transitions", "transitions": [
                    {"id": tid, "name": name, "hasScreen": False, "isGlobal": True,
                     "to": {"self": f"{self.url}/rest/api/{v}/status/{STATUSES[name][0]}",
                            **self._status(name)}}
                    for tid, name in TRANSITIONS if name != rec["status"]
                ]})  # fmt: skip
            if sub == "/transitions" and method == "POST":
                tid = str(((req.json() or {}).get("transition") or {}).get("id"))
                target = dict(TRANSITIONS).get(tid)
                if target is None or target == rec["status"]:
                    return Reply(
                        400, _errors([f"Transition id '{tid}' is not valid for this issue."])
                    )
                self._set_status(rec, target, self.clock())
                return Reply(204)
            if sub == "/comment" and method == "POST":
                body = (req.json() or {}).get("body")
                if v == "3" and not (isinstance(body, dict) and body.get("type") == "doc"):
                    return Reply(400, _errors(errors={"comment": "Comment body must be ADF"}))
                comment = {
                    "id": str(self._bump()),
                    "body": body,
                    "created": _jira_time(self.clock()),
                }
                self.comments.setdefault(rec["key"], []).append(comment)
                rec["updated"] = self.clock()
                return Reply(201, comment)
        return Reply(404, _errors([f"No fake route for {method} {req.path}"]))

    def _create(self, fields: dict[str, Any], v: str) -> Reply:
        errs = self._validate(fields, v, creating=True)
        if (fields.get("project") or {}).get("key") != self.project_key and (
            fields.get("project") or {}
        ).get("id") != "10000":
            errs["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in ("Bug", "Task") and (
            fields.get("issuetype") or {}
        ).get("id") not in ("10004", "10002"):
            errs["issuetype"] = "valid issue type is required"
        if errs:
            return Reply(400, _errors(**errs))
        now = self.clock()
        num = len(self.issues) + 1
        rec = {
            "id": str(self._bump()), "key": f"{self.project_key}-{num}",
            "project": self.project_key, "issuetype": (fields["issuetype"].get("name") or "Bug"),
            "summary": fields["summary"], "description": fields.get("description"),
            "labels": list(fields.get("labels") or []),
            "priority": (fields.get("priority") or {}).get("name") or "Medium",
            "duedate": fields.get("duedate"),
            "assignee": (fields.get("assignee") or {}).get("accountId"),
            "status": "To Do", "resolution": None, "created": now, "updated": now,
            "custom": {k: val for k, val in fields.items() if k.startswith("customfield_")},
        }  # fmt: skip
        self.issues[rec["key"]] = rec
        return Reply(
            201,
            {
                "id": rec["id"],
                "key": rec["key"],
                "self": f"{self.url}/rest/api/{v}/issue/{rec['id']}",
            },
        )

    def _edit(self, rec: dict[str, Any], body: dict[str, Any], v: str) -> Reply:
        fields = body.get("fields") or {}
        errs = self._validate(fields, v, creating=False)
        if errs:
            return Reply(400, _errors(**errs))
        for name, value in fields.items():
            if name == "priority":
                rec["priority"] = value["name"]
            elif name == "assignee":
                rec["assignee"] = (value or {}).get("accountId")
            elif name.startswith("customfield_"):
                rec["custom"][name] = value
            else:
                rec[name] = value
        for op in (body.get("update") or {}).get("labels") or []:
            if "add" in op and op["add"] not in rec["labels"]:
                rec["labels"].append(op["add"])
            if "remove" in op and op["remove"] in rec["labels"]:
                rec["labels"].remove(op["remove"])
        rec["updated"] = self.clock()
        return Reply(204)

    def _search(self, params: dict[str, Any], v: str, fields: list[str] | None) -> Reply:
        try:
            query = parse_jql(str(params.get("jql", "")), tz=ZoneInfo(self.time_zone))
        except JqlError as exc:
            return Reply(400, _errors([str(exc)]))
        hits = [rec for rec in self.issues.values() if query.matches(rec)]
        for name, desc in reversed(query.order or [("key", True)]):
            if name == "key":
                hits.sort(key=lambda r: int(r["id"]), reverse=desc)
            else:
                hits.sort(key=lambda r, n=name: r[n], reverse=desc)
        size = min(int(params.get("maxResults") or 50), 100)
        token = params.get("nextPageToken")
        start = int(base64.urlsafe_b64decode(token).decode().split(":")[1]) if token else 0
        page = hits[start : start + size]
        wanted = [f for fs in (fields or []) for f in fs.split(",")] or None
        out: dict[str, Any] = {"issues": [self._view(r, v, wanted) for r in page]}
        if start + size < len(hits):
            out["nextPageToken"] = base64.urlsafe_b64encode(
                f"page:{start + size}".encode()
            ).decode()
            out["isLast"] = False
        else:
            out["isLast"] = True
        return Reply(200, out)
