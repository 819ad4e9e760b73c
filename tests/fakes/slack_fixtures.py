"""Pytest fixtures and interactivity helpers for the fake Slack Web API.

Fixtures: ``fake_slack`` (a running :class:`~tests.fakes.slack.FakeSlack`) and
``slack_notifier`` (a real :class:`SlackNotifier` pointed at it). Enable them with
``pytest_plugins = ["tests.fakes.slack_fixtures"]`` (root conftest or a test module).

Helpers: :func:`signed_slack_request` signs a body exactly as Slack does;
:func:`block_actions_payload` / :func:`view_submission_payload` build interactivity payloads
shaped like Slack's, and :func:`signed_interactivity_request` turns one into the
form-encoded ``payload=<json>`` body plus signed headers.

PYTEST_DONT_REWRITE (no asserts here; lets tests import helpers from this plugin module).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest

from integrations.slack import SlackNotifier
from integrations.slack.payloads import BlockId, InputActionId
from tests.fakes.slack import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlack

__all__ = [
    "FORM_CONTENT_TYPE",
    "SLACK_TEST_SIGNING_SECRET",
    "SLACK_TEST_TOKEN",
    "acceptance_modal_values",
    "block_actions_payload",
    "fake_slack",
    "interactivity_body",
    "iter_blocks_text",
    "signed_interactivity_request",
    "signed_slack_request",
    "slack_notifier",
    "view_submission_payload",
]

SLACK_TEST_TOKEN = "xoxb-test-token"
SLACK_TEST_SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running fake Slack Web API (``.base_url`` for WebClient), fresh per test."""
    with FakeSlack() as server:
        yield server


@pytest.fixture
def slack_notifier(fake_slack: FakeSlack) -> SlackNotifier:
    """A SlackNotifier (real WebClient) against ``fake_slack``; one 429 retry, 5 s timeout."""
    return SlackNotifier(
        SLACK_TEST_TOKEN, base_url=fake_slack.base_url, timeout=5, max_rate_limit_retries=1
    )


# -- interactivity requests, signed and shaped as Slack sends them ----------------------------
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def signed_slack_request(
    signing_secret: str, body: bytes, timestamp: int, *, content_type: str = FORM_CONTENT_TYPE
) -> dict[str, str]:
    """Headers Slack sends: ``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:ts:body"))``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Signature": f"v0={digest}",
        "X-Slack-Request-Timestamp": str(timestamp),
        "Content-Type": content_type,
    }


def interactivity_body(payload: Mapping[str, Any]) -> bytes:
    """The form-encoded body Slack POSTs for interactivity: ``payload=<json>``."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def signed_interactivity_request(
    signing_secret: str, payload: Mapping[str, Any], *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """``(body, headers)`` for a signed interactivity POST (timestamp defaults to now)."""
    body = interactivity_body(payload)
    ts = int(time.time()) if timestamp is None else timestamp
    return body, signed_slack_request(signing_secret, body, ts)


def _user(user_id: str, user_name: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID}


def block_actions_payload(
    *,
    action_id: str,
    value: str,
    user_id: str = "U0REQUESTER",
    user_name: str = "requester",
    channel_id: str = "C0SLABOT",
    message_ts: str = "1700000001.000001",
    block_id: str = "ticket.actions",
    button_text: str = "Request risk acceptance",
    trigger_id: str = "1111.2222.trigger",
    response_url: str = f"https://hooks.slack.com/actions/{TEAM_ID}/1/response",
    message: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click on a channel message."""
    msg = (
        dict(message)
        if message is not None
        else {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": "",
            "blocks": [],
            "ts": message_ts,
            "team": TEAM_ID,
        }
    )
    return {
        "type": "block_actions",
        "user": _user(user_id, user_name),
        "api_app_id": "A0SLABOT",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": TEAM_ID, "domain": "slabot-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "slabot"},
        "message": msg,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{message_ts.split('.')[0]}.123456",
            }
        ],
    }


def acceptance_modal_values(
    *, justification: str | None, expires_on: date | str | None, controls: str | None = None
) -> dict[str, Any]:
    """``view.state.values`` of the acceptance modal as Slack fills it in."""
    day = expires_on.isoformat() if isinstance(expires_on, date) else expires_on
    return {
        BlockId.JUSTIFICATION.value: {
            InputActionId.JUSTIFICATION.value: {"type": "plain_text_input", "value": justification}
        },
        BlockId.EXPIRES_ON.value: {
            InputActionId.EXPIRES_ON.value: {"type": "datepicker", "selected_date": day}
        },
        BlockId.CONTROLS.value: {
            InputActionId.CONTROLS.value: {"type": "plain_text_input", "value": controls}
        },
    }


def view_submission_payload(
    *,
    callback_id: str,
    values: Mapping[str, Any],
    private_metadata: str = "",
    user_id: str = "U0REQUESTER",
    user_name: str = "requester",
    view_id: str = "V0MODAL",
    trigger_id: str = "3333.4444.trigger",
    blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``view_submission`` payload (``values`` as from acceptance_modal_values)."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "slabot-test"},
        "user": _user(user_id, user_name),
        "api_app_id": "A0SLABOT",
        "token": "legacy-verification-token",
        "trigger_id": trigger_id,
        "view": {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": dict(values)},
            "hash": "1700000000.abcdef",
            "title": {"type": "plain_text", "text": "Risk acceptance", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
            "submit": {"type": "plain_text", "text": "Request approval", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": "A0SLABOT",
            "external_id": "",
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def iter_blocks_text(blocks: list[dict[str, Any]]) -> Iterator[str]:
    """Every text string inside a list of blocks (for assertions)."""
    stack: list[Any] = list(blocks)
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    yield value
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
