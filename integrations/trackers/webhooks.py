"""Incoming tracker webhooks: signature checks and parsing into :class:`StatusChange` (pure).

Jira (admin webhook with a secret): ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw
body)>``; the body's ``timestamp`` (epoch ms) is the event time. There is no freshness check on
purpose: Jira retries late (up to ~30 min); dedup on ``X-Atlassian-Webhook-Identifier``.

Linear: ``Linear-Signature: <hex HMAC-SHA256(secret, raw body)>`` and, as the official SDK does,
``abs(now - webhookTimestamp) <= 60 s`` (:func:`linear_timestamp_fresh`); dedup on
``Linear-Delivery``.

One delivery can carry several changes (status and assignee); each :class:`StatusChange` carries
the same ``delivery_id``, so a caller that needs a unique event id keys on
``(delivery_id, field)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import (
    JIRA_STATUS_CATEGORIES,
    LINEAR_STATE_CATEGORIES,
    LINEAR_STATE_RESOLUTIONS,
    Category,
    StatusChange,
    parse_time,
)

__all__ = [
    "WebhookPayloadError",
    "linear_timestamp_fresh",
    "parse_jira_webhook",
    "parse_linear_webhook",
    "verify_jira_signature",
    "verify_linear_signature",
]

LINEAR_WINDOW = timedelta(seconds=60)


class WebhookPayloadError(ValueError):
    """The body is not a webhook of the expected shape (names the missing part)."""


def _hmac_hex(secret: str | bytes, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_jira_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is ``sha256=<hex HMAC-SHA256(secret, body)>`` (constant time)."""
    if not secret or not header:
        return False
    method, _, signature = header.strip().partition("=")
    if method.lower() != "sha256" or not signature:
        return False
    return hmac.compare_digest(signature.lower().encode(), _hmac_hex(secret, body).encode())


def verify_linear_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the hex HMAC-SHA256 of the raw body (constant time)."""
    if not secret or not header:
        return False
    expected = _hmac_hex(secret, body)
    given = header.strip().lower()
    if len(given) != len(expected):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def linear_timestamp_fresh(
    body: Mapping[str, Any] | bytes, now: datetime, window: timedelta = LINEAR_WINDOW
) -> bool:
    """``webhookTimestamp`` (epoch ms, inside the signed body) is within ``window`` of ``now``."""
    if isinstance(body, bytes | bytearray):
        try:
            body = json.loads(body)
        except ValueError:
            return False
    if not isinstance(body, Mapping):
        return False
    stamp = body.get("webhookTimestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return False
    sent = datetime.fromtimestamp(stamp / 1000, UTC)
    return abs(now - sent) <= window


def _ms(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _first(*values: Any) -> str | None:
    for v in values:
        if isinstance(v, str) and v:
            return v
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_jira_webhook(body: Mapping[str, Any], *, delivery_id: str | None) -> list[StatusChange]:
    """Status and assignee changes from a ``jira:issue_updated`` body (others give [])."""
    if body.get("webhookEvent") not in ("jira:issue_updated", None):
        return []
    issue = _mapping(body.get("issue"))
    if not issue.get("id") or not issue.get("key"):
        raise WebhookPayloadError("jira webhook: issue.id / issue.key missing")
    fields = _mapping(issue.get("fields"))
    at = _ms(body.get("timestamp"))
    if at is None:
        if not isinstance(fields.get("updated"), str):
            raise WebhookPayloadError("jira webhook: no timestamp")
        at = parse_time(fields["updated"])
    user = _mapping(body.get("user"))
    actor = _first(user.get("emailAddress"), user.get("displayName"), user.get("accountId"))
    status = _mapping(fields.get("status"))
    final_category: Category | None = JIRA_STATUS_CATEGORIES.get(
        str(_mapping(status.get("statusCategory")).get("key"))
    )
    items = [
        i for i in _mapping(body.get("changelog")).get("items") or [] if isinstance(i, Mapping)
    ]
    resolution_item = next((i for i in items if i.get("field") == "resolution"), None)
    resolution = _first(
        _mapping(fields.get("resolution")).get("name"),
        resolution_item.get("toString") if resolution_item else None,
    )
    status_items = [i for i in items if i.get("field") == "status"]
    assignee = _mapping(fields.get("assignee"))
    changes: list[StatusChange] = []
    for item in items:
        name = item.get("field")
        if name == "status":
            last = item is status_items[-1]
            to_name = _first(item.get("toString"))
            changes.append(
                StatusChange(
                    external_id=str(issue["id"]),
                    key=str(issue["key"]),
                    at=at,
                    field="status",
                    from_value=_first(item.get("fromString")),
                    to_value=to_name,
                    to_category=final_category if last else None,
                    resolution=resolution if last and final_category == "resolved" else None,
                    actor=actor,
                    delivery_id=delivery_id,
                )
            )
        elif name == "assignee":
            to_value = _first(item.get("toString"), item.get("to"))
            if item.get("to") and item.get("to") == assignee.get("accountId"):
                to_value = _first(assignee.get("emailAddress"), to_value)
            changes.append(
                StatusChange(
                    external_id=str(issue["id"]),
                    key=str(issue["key"]),
                    at=at,
                    field="assignee",
                    from_value=_first(item.get("fromString"), item.get("from")),
                    to_value=to_value,
                    to_category=None,
                    resolution=None,
                    actor=actor,
                    delivery_id=delivery_id,
                )
            )
    return changes


def parse_linear_webhook(body: Mapping[str, Any], *, delivery_id: str | None) -> list[StatusChange]:
    """State and assignee changes from an ``Issue`` ``update`` body (others give []).

    ``updatedFrom`` holds only the previous ids, so ``from_value`` is None (the caller knows the
    ticket's previous status); ``to_value`` is the new state's name or assignee's e-mail/name.
    """
    if body.get("type") != "Issue" or body.get("action") != "update":
        return []
    data = _mapping(body.get("data"))
    updated_from = _mapping(body.get("updatedFrom"))
    if not data.get("id"):
        raise WebhookPayloadError("linear webhook: data.id missing")
    stamp = _first(data.get("updatedAt"), body.get("createdAt"))
    if stamp is not None:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    else:
        sent = _ms(body.get("webhookTimestamp"))
        if sent is None:
            raise WebhookPayloadError("linear webhook: no updatedAt / webhookTimestamp")
        at = sent
    actor_obj = _mapping(body.get("actor"))
    actor = _first(actor_obj.get("email"), actor_obj.get("name"), actor_obj.get("id"))
    key = _first(data.get("identifier"), data.get("id")) or ""
    changes: list[StatusChange] = []
    if "stateId" in updated_from:
        state = _mapping(data.get("state"))
        state_type = str(state.get("type", ""))
        changes.append(
            StatusChange(
                external_id=str(data["id"]),
                key=key,
                at=at,
                field="status",
                from_value=None,
                to_value=_first(state.get("name")),
                to_category=LINEAR_STATE_CATEGORIES.get(state_type),
                resolution=LINEAR_STATE_RESOLUTIONS.get(state_type),
                actor=actor,
                delivery_id=delivery_id,
            )
        )
    if "assigneeId" in updated_from:
        assignee = _mapping(data.get("assignee"))
        changes.append(
            StatusChange(
                external_id=str(data["id"]),
                key=key,
                at=at,
                field="assignee",
                from_value=None,
                to_value=_first(
                    assignee.get("email"), assignee.get("name"), data.get("assigneeId")
                ),
                to_category=None,
                resolution=None,
                actor=actor,
                delivery_id=delivery_id,
            )
        )
    return changes
