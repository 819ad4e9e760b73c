"""The Slack port: the :class:`Notifier` protocol, the Web API implementation and a console one.

:class:`SlackNotifier` talks to the Slack Web API through ``slack_sdk.WebClient`` (``base_url``
selects a fake server in tests). A 429 is retried by slack_sdk's ``RateLimitErrorRetryHandler``
(bounded, sleeping Retry-After in the calling thread); anything still failing is raised as
:class:`NotifierError` — send errors are never swallowed, so the job queue can back off and retry
(``retryable`` / ``retry_after``) or give up.

:class:`ConsoleNotifier` is what runs without a Slack token: it logs each message and keeps a
record of what was "sent".
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from .blocks import SlackMessage, render_blocks

__all__ = [
    "DEFAULT_SLACK_API_URL",
    "ConsoleNotifier",
    "ConsoleRecord",
    "Notifier",
    "NotifierError",
    "PostedMessage",
    "SlackNotifier",
    "to_notifier_error",
]

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
Clock = Callable[[], datetime]

# Slack error codes that a later attempt may get past (everything else is permanent).
_RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_NOT_FOUND_USER = frozenset({"users_not_found", "user_not_found"})


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """Where a message landed: the channel *id* Slack answered with and the message ``ts``."""

    channel: str
    ts: str


class NotifierError(Exception):
    """A Slack call failed.

    ``error`` is Slack's error code (``channel_not_found``, ``ratelimited``, …) or a transport
    description; ``retryable`` says whether trying again later can help; ``retry_after`` is the
    delay Slack asked for (HTTP 429 ``Retry-After``), when it asked.
    """

    def __init__(
        self,
        method: str,
        error: str,
        *,
        retryable: bool,
        retry_after: timedelta | None = None,
        status: int | None = None,
    ) -> None:
        self.method = method
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        hint = "retryable" if retryable else "not retryable"
        if retry_after is not None:
            hint += f", retry after {retry_after.total_seconds():g}s"
        super().__init__(f"Slack {method} failed: {error} ({hint})")


@runtime_checkable
class Notifier(Protocol):
    """What the domain needs from Slack. Every method raises NotifierError on failure."""

    def post(
        self, channel: str, message: SlackMessage, *, thread_ts: str | None = None
    ) -> PostedMessage: ...

    def update(self, channel: str, ts: str, message: SlackMessage) -> None: ...

    def post_ephemeral(self, channel: str, user: str, text: str) -> None: ...

    def dm(self, user_id: str, message: SlackMessage) -> PostedMessage: ...

    def lookup_user_by_email(self, email: str) -> str | None: ...

    def open_modal(self, trigger_id: str, view: Mapping[str, object]) -> None: ...

    def user_name(self, user_id: str) -> str | None: ...


def _retry_after(headers: Mapping[str, Any] | None) -> timedelta | None:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return timedelta(seconds=max(0, int(str(raw).strip())))
            except ValueError:
                return None
    return None


def to_notifier_error(method: str, exc: BaseException) -> NotifierError:
    """Map what slack_sdk / urllib raised to a NotifierError (never includes the token)."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None)
        data = getattr(response, "data", None)
        code = data.get("error") if isinstance(data, dict) else None
        error = str(code) if code else f"http_{status}"
        if status == 429 or error == "ratelimited":
            after = _retry_after(getattr(response, "headers", None))
            return NotifierError(method, error, retryable=True, retry_after=after, status=status)
        retryable = error in _RETRYABLE_ERRORS or (status is not None and status >= 500)
        return NotifierError(method, error, retryable=retryable, status=status)
    if isinstance(exc, TimeoutError):
        return NotifierError(method, "timeout", retryable=True)
    if isinstance(exc, OSError | http.client.HTTPException):  # URLError, resets, refused
        return NotifierError(method, f"connection error: {exc}", retryable=True)
    if isinstance(exc, SlackClientError):  # bad arguments, unparseable response
        return NotifierError(method, f"client error: {exc}", retryable=False)
    return NotifierError(method, f"{type(exc).__name__}: {exc}", retryable=False)


@dataclass(slots=True)
class _TTLCache:
    ttl: timedelta
    negative_ttl: timedelta
    clock: Clock
    _entries: dict[str, tuple[datetime, str | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> tuple[bool, str | None]:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return False, None
            expires, value = hit
            if self.clock() >= expires:
                del self._entries[key]
                return False, None
            return True, value

    def put(self, key: str, value: str | None) -> None:
        ttl = self.ttl if value is not None else self.negative_ttl
        with self._lock:
            self._entries[key] = (self.clock() + ttl, value)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SlackNotifier:
    """Notifier over the Slack Web API (``slack_sdk.WebClient``)."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_SLACK_API_URL,
        timeout: float = 10,
        max_rate_limit_retries: int = 2,
        cache_ttl: timedelta = timedelta(hours=1),
        negative_cache_ttl: timedelta = timedelta(minutes=10),
        clock: Clock | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Slack bot token is required")
        if max_rate_limit_retries < 0:
            raise ValueError("max_rate_limit_retries must be >= 0")
        self._client = WebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=timeout,  # type: ignore[arg-type]  # annotated int; urllib takes float
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                RateLimitErrorRetryHandler(max_retry_count=max_rate_limit_retries),
            ],
        )
        now = clock or _utcnow
        self._emails = _TTLCache(cache_ttl, negative_cache_ttl, now)
        self._names = _TTLCache(cache_ttl, negative_cache_ttl, now)
        self._dm_channels: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> WebClient:
        """The underlying WebClient (for bolt wiring)."""
        return self._client

    def __repr__(self) -> str:  # never show the token
        return f"SlackNotifier(base_url={self._client.base_url!r})"

    def _call(self, method: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as exc:
            raise to_notifier_error(method, exc) from exc

    def post(
        self, channel: str, message: SlackMessage, *, thread_ts: str | None = None
    ) -> PostedMessage:
        resp = self._call(
            "chat.postMessage",
            self._client.chat_postMessage,
            channel=channel,
            text=message.text,
            blocks=message.blocks or None,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        return PostedMessage(channel=str(resp.get("channel") or channel), ts=str(resp["ts"]))

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        self._call(
            "chat.update",
            self._client.chat_update,
            channel=channel,
            ts=ts,
            text=message.text,
            blocks=message.blocks,
        )

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        """``text`` is sent as mrkdwn as is: escape untrusted parts with escape_mrkdwn."""
        self._call(
            "chat.postEphemeral",
            self._client.chat_postEphemeral,
            channel=channel,
            user=user,
            text=text,
        )

    def dm(self, user_id: str, message: SlackMessage) -> PostedMessage:
        with self._lock:
            channel = self._dm_channels.get(user_id)
        if channel is None:
            resp = self._call("conversations.open", self._client.conversations_open, users=user_id)
            channel = str(resp["channel"]["id"])
            with self._lock:
                self._dm_channels[user_id] = channel
        return self.post(channel, message)

    def lookup_user_by_email(self, email: str) -> str | None:
        key = email.strip().lower()
        if not key:
            return None
        hit, value = self._emails.get(key)
        if hit:
            return value
        try:
            resp = self._client.users_lookupByEmail(email=email.strip())
        except SlackApiError as exc:
            if isinstance(exc.response.data, dict) and exc.response.data.get("error") in (
                _NOT_FOUND_USER
            ):
                self._emails.put(key, None)
                return None
            raise to_notifier_error("users.lookupByEmail", exc) from exc
        except Exception as exc:
            raise to_notifier_error("users.lookupByEmail", exc) from exc
        user_id = str(resp["user"]["id"])
        self._emails.put(key, user_id)
        return user_id

    def open_modal(self, trigger_id: str, view: Mapping[str, object]) -> None:
        self._call("views.open", self._client.views_open, trigger_id=trigger_id, view=dict(view))

    def user_name(self, user_id: str) -> str | None:
        hit, value = self._names.get(user_id)
        if hit:
            return value
        try:
            resp = self._client.users_info(user=user_id)
        except SlackApiError as exc:
            if isinstance(exc.response.data, dict) and exc.response.data.get("error") in (
                _NOT_FOUND_USER
            ):
                self._names.put(user_id, None)
                return None
            raise to_notifier_error("users.info", exc) from exc
        except Exception as exc:
            raise to_notifier_error("users.info", exc) from exc
        user = resp.get("user") or {}
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
        )
        result = str(name) if name else None
        self._names.put(user_id, result)
        return result


@dataclass(frozen=True, slots=True)
class ConsoleRecord:
    """One thing the console notifier "sent"."""

    kind: str  # post | update | ephemeral | dm | modal
    channel: str | None
    ts: str | None
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str | None = None


class ConsoleNotifier:
    """Notifier without Slack: logs every message at INFO and records it in ``sent``."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("slabot.slack.console")
        self.sent: list[ConsoleRecord] = []
        self._counter = 0
        self._lock = threading.Lock()

    def _next_ts(self) -> str:
        with self._lock:
            self._counter += 1
            return f"console.{self._counter}"

    def _record(self, record: ConsoleRecord) -> None:
        with self._lock:
            self.sent.append(record)
        where = record.channel or record.user or "-"
        extra = f" thread={record.thread_ts}" if record.thread_ts else ""
        rendered = render_blocks(record.blocks) if record.blocks else ""
        self.logger.info(
            "slack %s %s ts=%s%s: %s%s",
            record.kind,
            where,
            record.ts,
            extra,
            record.text,
            "\n" + rendered if rendered else "",
        )

    def post(
        self, channel: str, message: SlackMessage, *, thread_ts: str | None = None
    ) -> PostedMessage:
        ts = self._next_ts()
        self._record(
            ConsoleRecord("post", channel, ts, message.text, list(message.blocks), thread_ts)
        )
        return PostedMessage(channel=channel, ts=ts)

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        self._record(ConsoleRecord("update", channel, ts, message.text, list(message.blocks)))

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self._record(ConsoleRecord("ephemeral", channel, None, text, [], user=user))

    def dm(self, user_id: str, message: SlackMessage) -> PostedMessage:
        ts = self._next_ts()
        self._record(
            ConsoleRecord("dm", user_id, ts, message.text, list(message.blocks), user=user_id)
        )
        return PostedMessage(channel=user_id, ts=ts)

    def lookup_user_by_email(self, email: str) -> str | None:
        return None

    def open_modal(self, trigger_id: str, view: Mapping[str, object]) -> None:
        blocks = view.get("blocks")
        rendered = list(blocks) if isinstance(blocks, list) else []
        title = view.get("title")
        text = str(title.get("text", "")) if isinstance(title, Mapping) else "modal"
        self._record(ConsoleRecord("modal", None, trigger_id, text, rendered))

    def user_name(self, user_id: str) -> str | None:
        return None
