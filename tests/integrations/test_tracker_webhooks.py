"""Webhook signatures and parsing, with bodies signed the way Jira and Linear sign them."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from integrations.trackers import (
    JiraTracker,
    LinearTracker,
    StatusChange,
    WebhookPayloadError,
    linear_timestamp_fresh,
    parse_jira_webhook,
    parse_linear_webhook,
    verify_jira_signature,
    verify_linear_signature,
)
from tests.fakes.drafts import make_draft
from tests.fakes.jira import FakeJira
from tests.fakes.linear import FakeLinear

pytest_plugins = ["tests.fakes.fixtures"]

AT = datetime(2025, 2, 3, 14, 5, 6, 789000, tzinfo=UTC)


def raw(body: dict[str, object]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


# --- Jira ----------------------------------------------------------------------------------------


def test_jira_status_change_signed_and_parsed(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    remote = jira_tracker.create(make_draft())
    body = fake_jira.move(remote.key, "Done", at=AT)
    data = raw(body)
    headers = fake_jira.webhook_headers(data, delivery_id="d-1")
    assert verify_jira_signature(fake_jira.webhook_secret, data, headers["X-Hub-Signature"])
    changes = parse_jira_webhook(json.loads(data), delivery_id="d-1")
    assert changes == [
        StatusChange(
            external_id=remote.external_id,
            key=remote.key,
            at=AT.replace(microsecond=789000),
            field="status",
            from_value="To Do",
            to_value="Done",
            to_category="resolved",
            resolution="Done",
            actor="alice@example.com",
            delivery_id="d-1",
        )
    ]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256=" + "0" * 64,
        "sha1=abc",
        "deadbeef",
    ],
)
def test_jira_bad_signatures(header: str | None) -> None:
    assert not verify_jira_signature("secret", b"{}", header)


def test_jira_signature_rejects_tampering_and_wrong_secret() -> None:
    body = b'{"webhookEvent":"jira:issue_updated"}'
    good = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert verify_jira_signature("secret", body, good)
    assert verify_jira_signature(b"secret", body, good.upper().replace("SHA256", "sha256"))
    assert not verify_jira_signature("secret", body + b" ", good)
    assert not verify_jira_signature("other", body, good)
    assert not verify_jira_signature("", body, good)


def test_jira_assignee_and_resolution_in_one_delivery() -> None:
    body = {
        "timestamp": int(AT.timestamp() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "acc-bob", "displayName": "Bob"},  # e-mail hidden by privacy
        "issue": {
            "id": "10007",
            "key": "SEC-7",
            "fields": {
                "status": {"name": "Won't Do", "statusCategory": {"key": "done"}},
                "resolution": {"name": "Won't Do"},
                "assignee": {"accountId": "acc-alice", "emailAddress": "alice@example.com"},
            },
        },
        "changelog": {
            "id": "99",
            "items": [
                {"field": "assignee", "from": None, "fromString": None,
                 "to": "acc-alice", "toString": "Alice"},
                {"field": "resolution", "from": None, "to": "10001", "toString": "Won't Do"},
                {"field": "status", "from": "3", "fromString": "In Progress",
                 "to": "10002", "toString": "Won't Do"},
            ],
        },
    }  # fmt: skip
    assignee, status = parse_jira_webhook(body, delivery_id=None)
    assert (assignee.field, assignee.from_value, assignee.to_value) == (
        "assignee",
        None,
        "alice@example.com",
    )
    assert assignee.actor == "Bob"
    assert (status.to_value, status.to_category, status.resolution) == (
        "Won't Do",
        "resolved",
        "Won't Do",
    )
    assert status.at == AT.replace(microsecond=789000)


def test_jira_reopen_has_no_resolution() -> None:
    body = {
        "timestamp": 1_700_000_000_000,
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "1", "key": "SEC-1", "fields": {
            "status": {"name": "To Do", "statusCategory": {"key": "new"}}, "resolution": None}},
        "changelog": {"items": [{"field": "status", "fromString": "Done", "toString": "To Do"}]},
    }  # fmt: skip
    (change,) = parse_jira_webhook(body, delivery_id="x")
    assert (change.to_category, change.resolution, change.actor) == ("open", None, None)
    assert change.at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_jira_other_events_and_fields_are_ignored() -> None:
    assert parse_jira_webhook({"webhookEvent": "jira:issue_created"}, delivery_id=None) == []
    body = {
        "timestamp": 1,
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "1", "key": "SEC-1", "fields": {}},
        "changelog": {"items": [{"field": "summary", "fromString": "a", "toString": "b"}]},
    }
    assert parse_jira_webhook(body, delivery_id=None) == []


def test_jira_malformed_body_is_an_error() -> None:
    with pytest.raises(WebhookPayloadError):
        parse_jira_webhook({"webhookEvent": "jira:issue_updated"}, delivery_id=None)


# --- Linear --------------------------------------------------------------------------------------


def test_linear_state_change_signed_fresh_and_parsed(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    remote = linear_tracker.create(make_draft())
    fake_linear.clock = lambda: AT
    body = fake_linear.move(remote.external_id, "In Progress", at=AT - timedelta(seconds=2))
    data = raw(body)
    headers = fake_linear.webhook_headers(data)
    assert verify_linear_signature(fake_linear.webhook_secret, data, headers["Linear-Signature"])
    assert linear_timestamp_fresh(data, AT + timedelta(seconds=59))
    assert linear_timestamp_fresh(json.loads(data), AT - timedelta(seconds=59))
    assert not linear_timestamp_fresh(data, AT + timedelta(seconds=61))
    assert not linear_timestamp_fresh(data, AT - timedelta(seconds=61))
    (change,) = parse_linear_webhook(json.loads(data), delivery_id=headers["Linear-Delivery"])
    assert change.external_id == remote.external_id and change.key == remote.key
    assert change.at == AT - timedelta(seconds=2)  # the source's event time, not the send time
    assert (change.field, change.from_value, change.to_value) == ("status", None, "In Progress")
    assert (change.to_category, change.resolution) == ("in_progress", None)
    assert change.actor == "alice@example.com"
    assert change.delivery_id == headers["Linear-Delivery"]


@pytest.mark.parametrize(
    ("state", "category", "resolution"),
    [("Done", "resolved", None), ("Canceled", "resolved", "canceled"),
     ("Duplicate", "resolved", "duplicate"), ("Backlog", "open", None)],
)  # fmt: skip
def test_linear_state_types(
    linear_tracker: LinearTracker,
    fake_linear: FakeLinear,
    state: str,
    category: str,
    resolution: str | None,
) -> None:
    remote = linear_tracker.create(make_draft())
    (change,) = parse_linear_webhook(fake_linear.move(remote.external_id, state), delivery_id=None)
    assert (change.to_value, change.to_category, change.resolution) == (state, category, resolution)


def test_linear_assignee_change(linear_tracker: LinearTracker, fake_linear: FakeLinear) -> None:
    remote = linear_tracker.create(make_draft(assignee_email=None))
    fake_linear.issues[remote.external_id]["assignee"] = "user-bob"
    body = fake_linear.webhook_body(remote.external_id, updated_from={"assigneeId": None})
    (change,) = parse_linear_webhook(body, delivery_id="d")
    assert (change.field, change.to_value, change.to_category) == ("assignee", "Bob", None)


def test_linear_other_payloads_are_ignored() -> None:
    assert parse_linear_webhook({"type": "Comment", "action": "create"}, delivery_id=None) == []
    assert parse_linear_webhook({"type": "Issue", "action": "create"}, delivery_id=None) == []
    body = {"type": "Issue", "action": "update", "data": {"id": "x"}, "updatedFrom": {"title": "a"},
            "webhookTimestamp": 1}  # fmt: skip
    assert parse_linear_webhook(body, delivery_id=None) == []
    with pytest.raises(WebhookPayloadError):
        parse_linear_webhook({"type": "Issue", "action": "update", "data": {}}, delivery_id=None)


def test_linear_bad_signatures() -> None:
    body = b'{"type":"Issue"}'
    good = hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert verify_linear_signature("s", body, good)
    assert verify_linear_signature("s", body, good.upper())
    for bad in (None, "", good[:-1], "z" * 64, "sha256=" + good):
        assert not verify_linear_signature("s", body, bad)
    assert not verify_linear_signature("s", body + b"\n", good)
    assert not verify_linear_signature("other", body, good)


def test_linear_timestamp_missing_or_garbage() -> None:
    now = datetime.now(UTC)
    assert not linear_timestamp_fresh(b"not json", now)
    assert not linear_timestamp_fresh({"webhookTimestamp": "123"}, now)
    assert not linear_timestamp_fresh({"webhookTimestamp": True}, now)
    assert not linear_timestamp_fresh({}, now)
    stamp = int(now.timestamp() * 1000)
    assert linear_timestamp_fresh({"webhookTimestamp": stamp}, now, window=timedelta(seconds=1))
