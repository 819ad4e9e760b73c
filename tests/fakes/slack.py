"""A fake Slack Web API: a real HTTP server on 127.0.0.1 (port 0) in a thread.

Point ``slack_sdk.WebClient(token, base_url=fake.base_url)`` at it. It records every call
(method, parsed body — query string, form or JSON merged —, headers incl. Authorization) and
answers the methods slabot uses with Slack-shaped JSON. Knobs inject 429s, Slack errors, HTTP
errors and slow answers. The pytest fixtures, and helpers that sign interactivity requests exactly
as Slack does and build ``block_actions`` / ``view_submission`` payloads shaped like Slack's,
are in :mod:`tests.fakes.slack_fixtures`; the HTTP plumbing in :mod:`tests.fakes.slack_http`.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.slack_http import RecordedCall, make_handler

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "FakeSlack",
    "RecordedCall",
]

TEAM_ID = "T0SLABOT"
BOT_USER_ID = "U0SLABOT"
BOT_ID = "B0SLABOT"
_MESSAGE_METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.delete"}


@dataclass(slots=True)
class _Failure:
    error: str
    status: int
    remaining: int | None  # None: until cleared
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Delay:
    seconds: float
    remaining: int | None


def _channel_id(channel: str) -> str:
    """Resolve what a caller passed as ``channel`` to the id Slack would answer with."""
    name = channel.lstrip("#")
    if name[:1] in ("C", "G", "D") and name.isupper() and name.isalnum():
        return name
    if name[:1] in ("U", "W") and name.isupper() and name.isalnum():
        return "D" + name[1:]  # posting to a user id lands in the DM with the bot
    return "C" + hashlib.sha256(name.lower().encode()).hexdigest()[:10].upper()


class FakeSlack:
    """The fake server. Use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self.users: dict[str, str] = {}  # email -> user id (others: users_not_found)
        self.user_names: dict[str, str] = {}  # user id -> display name
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel id, ts) -> message
        self._calls: list[RecordedCall] = []
        self._ratelimits: list[tuple[str | None, int]] = []  # (method or None, retry_after)
        self._failures: dict[str, _Failure] = {}
        self._delays: dict[str, _Delay] = {}
        self._used_triggers: set[str] = set()
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeSlack:
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.handle, self.record))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("fake Slack server is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """For ``WebClient(base_url=...)``; ends with ``/`` as slack_sdk expects."""
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def response_url(self) -> str:
        """A ``response_url`` served by the fake (POSTs are recorded as method "response_url")."""
        return f"http://127.0.0.1:{self.port}/actions/{TEAM_ID}/1/response"

    # -- knobs --------------------------------------------------------------------------
    def add_user(self, email: str, user_id: str, name: str | None = None) -> None:
        self.users[email] = user_id
        self.user_names[user_id] = name or email.split("@", 1)[0]

    def ratelimit_next(self, n: int = 1, retry_after: int = 1, method: str | None = None) -> None:
        """Answer the next ``n`` calls (of ``method``, or of any method) with HTTP 429."""
        with self._lock:
            self._ratelimits.extend([(method, retry_after)] * n)

    def fail_method(
        self,
        method: str,
        error: str = "channel_not_found",
        *,
        status: int = 200,
        times: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``method`` ("*" for all) with ``{"ok": false, "error": error}``.

        ``status`` other than 200 sends that HTTP status (e.g. 500/503); ``times`` limits how
        many calls fail (default: until clear_failures()).
        """
        with self._lock:
            self._failures[method] = _Failure(error, status, times, dict(headers or {}))

    def delay_method(self, method: str, seconds: float, *, times: int | None = 1) -> None:
        """Sleep before answering ``method`` ("*" for all): provokes client timeouts."""
        with self._lock:
            self._delays[method] = _Delay(seconds, times)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()
            self._ratelimits.clear()
            self._delays.clear()

    # -- accessors ----------------------------------------------------------------------
    def requests(self, method: str | None = None) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Parsed bodies of every call of ``method``, oldest first (failed attempts included)."""
        return [c.body for c in self.requests(method)]

    def successful_calls(self, method: str) -> list[dict[str, Any]]:
        return [c.body for c in self.requests(method) if c.response.get("ok") is True]

    def call_count(self, method: str | None = None) -> int:
        return len(self.requests(method))

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current content of a posted message (after any chat.update)."""
        with self._lock:
            return self.messages.get((_channel_id(channel), ts))

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self.messages.clear()
            self._used_triggers.clear()
        self.clear_failures()

    # -- request handling (called from handler threads) ------------------------------------
    def _take(self, method: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """An injected answer for this call, if any (consumes one use)."""
        with self._lock:
            for i, (only, retry_after) in enumerate(self._ratelimits):
                if only is None or only == method:
                    del self._ratelimits[i]
                    body = {"ok": False, "error": "ratelimited"}
                    return 429, body, {"Retry-After": str(retry_after)}
            failure = self._failures.get(method) or self._failures.get("*")
            if failure is not None:
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        key = method if method in self._failures else "*"
                        del self._failures[key]
                return failure.status, {"ok": False, "error": failure.error}, failure.headers
        return None

    def _delay_for(self, method: str) -> float:
        with self._lock:
            delay = self._delays.get(method) or self._delays.get("*")
            if delay is None:
                return 0.0
            if delay.remaining is not None:
                delay.remaining -= 1
                if delay.remaining <= 0:
                    key = method if method in self._delays else "*"
                    del self._delays[key]
            return delay.seconds

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_700_000_000 + n}.{n:06d}"

    def handle(
        self, method: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        seconds = self._delay_for(method)
        if seconds:
            time.sleep(seconds)
        injected = self._take(method)
        if injected is not None:
            return injected
        if method == "response_url":
            return 200, {"ok": True}, {}
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") and "token" not in body:
            return 200, {"ok": False, "error": "not_authed"}, {}
        token = auth.removeprefix("Bearer ") if auth else str(body.get("token"))
        if not token.startswith(("xoxb-", "xoxp-", "xoxa-")):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        answer = _ANSWERS.get(method)
        if answer is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, answer(self, body), {}

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            self._calls.append(call)

    # -- canned answers -----------------------------------------------------------------
    def _post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        cid, ts = _channel_id(channel), self._next_ts()
        msg: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": body.get("text", ""),
            "blocks": body.get("blocks", []),
            "ts": ts,
            "team": TEAM_ID,
        }
        if body.get("thread_ts"):
            msg["thread_ts"] = str(body["thread_ts"])
        with self._lock:
            self.messages[(cid, ts)] = msg
        return {"ok": True, "channel": cid, "ts": ts, "message": msg}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        cid, ts = _channel_id(str(body.get("channel") or "")), str(body.get("ts") or "")
        with self._lock:
            msg = self.messages.get((cid, ts))
            if msg is None:
                return {"ok": False, "error": "message_not_found"}
            msg = {**msg, "text": body.get("text", msg["text"]), "edited": {"user": BOT_USER_ID}}
            if "blocks" in body:
                msg["blocks"] = body["blocks"]
            self.messages[(cid, ts)] = msg
        return {"ok": True, "channel": cid, "ts": ts, "text": msg["text"], "message": msg}

    def _ephemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("user"):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _open(self, body: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(body.get("users") or "").split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        cid = _channel_id(users[0]) if len(users) == 1 else "G" + _channel_id(",".join(users))[1:]
        return {"ok": True, "channel": {"id": cid}}

    def _user_object(self, user_id: str, email: str | None) -> dict[str, Any]:
        name = self.user_names.get(user_id, user_id.lower())
        profile: dict[str, Any] = {"display_name": name, "real_name": name.title()}
        if email:
            profile["email"] = email
        return {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name.title(),
            "deleted": False,
            "is_bot": False,
            "profile": profile,
        }

    def _lookup(self, body: dict[str, Any]) -> dict[str, Any]:
        email = str(body.get("email") or "")
        user_id = self.users.get(email) or {k.lower(): v for k, v in self.users.items()}.get(
            email.lower()
        )
        if user_id is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": self._user_object(user_id, email)}

    def _info(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = str(body.get("user") or "")
        emails = {v: k for k, v in self.users.items()}
        if user_id not in emails and user_id not in self.user_names:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self._user_object(user_id, emails.get(user_id))}

    def _views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        trigger, view = str(body.get("trigger_id") or ""), body.get("view")
        if not trigger or not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            if trigger in self._used_triggers:
                return {"ok": False, "error": "exchanged_trigger_id"}
            self._used_triggers.add(trigger)
        return {"ok": True, "view": {"id": f"V{next(self._ts):08d}", "team_id": TEAM_ID, **view}}

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://slabot-test.slack.com/",
            "team": "slabot test",
            "user": "slabot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }


def _ok(_fake: FakeSlack, _body: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}


_ANSWERS: dict[str, Any] = {
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.postEphemeral": FakeSlack._ephemeral,
    "chat.delete": _ok,
    "conversations.open": FakeSlack._open,
    "users.lookupByEmail": FakeSlack._lookup,
    "users.info": FakeSlack._info,
    "views.open": FakeSlack._views_open,
    "views.update": _ok,
    "views.push": _ok,
    "reactions.add": _ok,
    "auth.test": FakeSlack._auth_test,
}
