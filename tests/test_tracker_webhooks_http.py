"""``POST /webhooks/jira`` and ``POST /webhooks/linear`` over HTTP, signed like the real
senders, against tickets linked to issues in the fake trackers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.context import AppContext
from bot.database.core import transaction
from bot.web.app import create_app
from tests.fakes.jira import FakeJira
from tests.fakes.linear import FakeLinear
from tests.helpers_trackers import (
    T0,
    events,
    jira_ctx,
    jobs,
    linear_ctx,
    open_tickets,
    run_jobs,
    set_clock,
    ticket,
)

pytest_plugins = ["tests.fakes.fixtures"]

T1, T2, T3 = (T0 + timedelta(hours=h, milliseconds=123 * h) for h in (1, 2, 3))


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
def jira(ctx: AppContext, fake_jira: FakeJira) -> Iterator[tuple[AppContext, TestClient, str]]:
    jctx = jira_ctx(ctx, fake_jira, clock=T0)
    open_tickets(jctx, 1)
    run_jobs(jctx, T0)
    key = fake_jira.issue("SEC-1")["key"]
    with TestClient(create_app(jctx)) as client:
        yield jctx, client, key


def post_jira(client: TestClient, fake: FakeJira, body: dict[str, Any], **kw: Any) -> Any:
    data = raw(body)
    return client.post("/webhooks/jira", content=data, headers=fake.webhook_headers(data, **kw))


def status_events(ctx: AppContext) -> list[Any]:
    return events(ctx, "ticket.status_changed")


# -- Jira ---------------------------------------------------------------------------------------


def test_jira_workflow_records_source_times_and_actor(
    jira: tuple[AppContext, TestClient, str], fake_jira: FakeJira
) -> None:
    ctx, client, key = jira
    tid = _only_ticket(ctx)
    for to, at in (("In Progress", T1), ("Done", T2), ("To Do", T3)):
        response = post_jira(client, fake_jira, fake_jira.move(key, to, at=at, user="acc-bob"))
        assert response.status_code == 200, response.text
        assert response.json() == {"recorded": 1}
    got = status_events(ctx)
    assert [(e.from_state, e.to_state) for e in got] == [
        ("open", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "open"),
    ]
    assert [e.at for e in got] == [T1, T2, T3]  # Jira's ``timestamp`` (ms), not receipt time
    assert {e.source for e in got} == {"jira"} and {e.actor for e in got} == {"bob@example.com"}
    assert all(e.details["applied"] for e in got) and got[1].details["resolution"] == "Done"
    assert all(e.external_id and e.ticket_id == tid for e in got)
    final = ticket(ctx, tid)
    assert (final.status, final.resolved_at, final.status_changed_at) == ("open", None, T3)


def _only_ticket(ctx: AppContext) -> int:
    from tests.helpers_trackers import all_tickets

    [t] = all_tickets(ctx)
    return t.id


def test_jira_redelivery_is_recorded_once(
    jira: tuple[AppContext, TestClient, str], fake_jira: FakeJira
) -> None:
    ctx, client, key = jira
    body = fake_jira.move(key, "In Progress", at=T1)
    replies = [
        post_jira(client, fake_jira, body, delivery_id="d-1", retry=n or None) for n in range(3)
    ]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert [r.json()["recorded"] for r in replies] == [1, 0, 0]
    assert len(status_events(ctx)) == 1


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_jira_shuffled_deliveries_end_in_the_latest_state(
    jira: tuple[AppContext, TestClient, str], fake_jira: FakeJira, order: tuple[int, ...]
) -> None:
    ctx, client, key = jira
    bodies = [
        fake_jira.move(key, "In Progress", at=T1),
        fake_jira.move(key, "Done", at=T2),
        fake_jira.move(key, "To Do", at=T3),  # reopened in Jira: the latest truth is "open"
    ]
    for i in order:
        assert post_jira(client, fake_jira, bodies[i]).status_code == 200
    final = ticket(ctx, _only_ticket(ctx))
    assert (final.status, final.status_changed_at, final.resolved_at) == ("open", T3, None)
    got = status_events(ctx)
    assert len(got) == 3  # every delivery is in the audit trail
    applied_times = [e.at for e in got if e.details["applied"]]
    assert applied_times == sorted(applied_times)  # never moved backwards
    for e in got:
        if not e.details["applied"]:
            assert e.details["note"]


def test_jira_bad_signature_is_401_and_stores_nothing(
    jira: tuple[AppContext, TestClient, str], fake_jira: FakeJira
) -> None:
    ctx, client, key = jira
    data = raw(fake_jira.move(key, "Done", at=T1))
    before = len(events(ctx))
    for headers in (
        {**fake_jira.webhook_headers(data), "X-Hub-Signature": "sha256=" + "0" * 64},
        {k: v for k, v in fake_jira.webhook_headers(data).items() if k != "X-Hub-Signature"},
        fake_jira.webhook_headers(data + b" "),  # signed another body
    ):
        response = client.post("/webhooks/jira", content=data, headers=headers)
        assert response.status_code == 401
        assert set(response.json()) == {"error", "detail"}
    assert len(events(ctx)) == before and ticket(ctx, _only_ticket(ctx)).status == "open"


def test_jira_issue_not_ours_is_2xx_and_ignored(
    jira: tuple[AppContext, TestClient, str], fake_jira: FakeJira
) -> None:
    ctx, client, key = jira
    body = fake_jira.move(key, "Done", at=T1)
    body["issue"] = {**body["issue"], "id": "99999", "key": "OPS-7"}
    before = len(events(ctx))
    response = post_jira(client, fake_jira, body)
    assert response.status_code == 200 and response.json() == {"recorded": 0}
    assert len(events(ctx)) == before


def test_jira_malformed_payload_is_400(jira: tuple[AppContext, TestClient, str],
                                       fake_jira: FakeJira) -> None:  # fmt: skip
    ctx, client, _ = jira
    response = post_jira(client, fake_jira, {"webhookEvent": "jira:issue_updated", "issue": {}})
    assert response.status_code == 400  # Jira retries 5xx, not 4xx
    assert status_events(ctx) == []


def test_jira_assignee_change_is_recorded(
    jira: tuple[AppContext, TestClient, str], fake_jira: FakeJira
) -> None:
    ctx, client, key = jira
    fake_jira.issue(key)["assignee"] = "acc-bob"
    body = fake_jira.webhook_body(key, "To Do", "To Do", T1)
    body["changelog"]["items"] = [
        {"field": "assignee", "fieldtype": "jira", "fieldId": "assignee", "from": None,
         "fromString": None, "to": "acc-bob", "toString": "Bob"}
    ]  # fmt: skip
    assert post_jira(client, fake_jira, body).json() == {"recorded": 1}
    [assigned] = events(ctx, "ticket.assigned")
    assert (assigned.at, assigned.source, assigned.actor) == (T1, "jira", "alice@example.com")
    assert assigned.details["assignee"] == "bob@example.com"
    assert ticket(ctx, _only_ticket(ctx)).assignee_email == "bob@example.com"
    assert status_events(ctx) == []


def test_jira_wont_do_without_acceptance_is_unverified(
    jira: tuple[AppContext, TestClient, str], fake_jira: FakeJira
) -> None:
    ctx, client, key = jira
    assert post_jira(client, fake_jira, fake_jira.move(key, "Won't Do", at=T1)).status_code == 200
    final = ticket(ctx, _only_ticket(ctx))
    assert final.status == "resolved_unverified" and final.resolved_at == T1
    assert final.next_reminder_at is None
    [event] = status_events(ctx)
    assert event.to_state == "resolved_unverified" and event.details["resolution"] == "Won't Do"
    [job] = jobs(ctx, "notify.unverified")
    assert job.payload == {"ticket_id": final.id, "resolution": "Won't Do"}


def test_jira_wont_do_with_approved_acceptance_is_resolved(
    jira: tuple[AppContext, TestClient, str], fake_jira: FakeJira
) -> None:
    from datetime import date

    from bot.acceptances.models import RiskAcceptance

    ctx, client, key = jira
    tid = _only_ticket(ctx)
    with transaction(ctx.sessions) as session:
        session.add(
            RiskAcceptance(
                ticket_id=tid, status="approved", requested_by="UENG", requested_at=T0,
                justification="compensating WAF rule", expires_on=date(2026, 5, 1),
                decided_by="ULEAD1", decided_at=T0,
            )
        )  # fmt: skip
    post_jira(client, fake_jira, fake_jira.move(key, "Won't Do", at=T1))
    assert ticket(ctx, tid).status == "resolved"
    assert jobs(ctx, "notify.unverified") == []


# -- Linear -------------------------------------------------------------------------------------


@pytest.fixture
def linear(
    ctx: AppContext, fake_linear: FakeLinear
) -> Iterator[tuple[AppContext, TestClient, str]]:
    lctx = linear_ctx(ctx, fake_linear, clock=T0)
    fake_linear.clock = lambda: T0
    open_tickets(lctx, 1)
    run_jobs(lctx, T0)
    [issue_id] = fake_linear.issues
    with TestClient(create_app(lctx)) as client:
        yield lctx, client, issue_id


def post_linear(client: TestClient, fake: FakeLinear, body: dict[str, Any], **kw: Any) -> Any:
    data = raw(body)
    return client.post("/webhooks/linear", content=data, headers=fake.webhook_headers(data, **kw))


def linear_move(ctx: AppContext, fake: FakeLinear, issue_id: str, state: str, at: Any) -> Any:
    """The person moves the issue at ``at``; Linear sends the webhook at once (app clock too)."""
    fake.clock = lambda: at
    set_clock(ctx, at + timedelta(seconds=2))
    return fake.move(issue_id, state, at=at, actor="user-bob")


def test_linear_workflow_dedup_and_order(
    linear: tuple[AppContext, TestClient, str], fake_linear: FakeLinear
) -> None:
    ctx, client, issue_id = linear
    times = [T1 + timedelta(seconds=s) for s in (0, 10, 20)]
    bodies = [
        linear_move(ctx, fake_linear, issue_id, name, at)
        for name, at in zip(("In Progress", "Done", "Todo"), times, strict=True)
    ]
    set_clock(ctx, T1 + timedelta(seconds=30))  # all sent within the last minute
    # delivered latest first, and the first one three times
    for body, delivery in ((bodies[2], "c"), (bodies[0], "a"), (bodies[0], "a"), (bodies[1], "b")):
        reply = post_linear(client, fake_linear, body, delivery_id=delivery)
        assert reply.status_code == 200, reply.text
    got = status_events(ctx)
    assert [e.at for e in got] == [times[2], times[0], times[1]]  # Linear's updatedAt
    assert [e.details["applied"] for e in got] == [False, False, False]
    assert [e.details.get("note", "")[:7] for e in got] == ["already", "deliver", "deliver"]
    assert {e.source for e in got} == {"linear"} and {e.actor for e in got} == {"bob@example.com"}
    final = ticket(ctx, _only_ticket(ctx))
    assert (final.status, final.status_changed_at) == ("open", times[2])


def test_linear_in_order_moves_the_ticket(
    linear: tuple[AppContext, TestClient, str], fake_linear: FakeLinear
) -> None:
    ctx, client, issue_id = linear
    for name, at, status in (("In Progress", T1, "in_progress"), ("Done", T2, "resolved")):
        body = linear_move(ctx, fake_linear, issue_id, name, at)
        assert post_linear(client, fake_linear, body).json() == {"recorded": 1}
        assert ticket(ctx, _only_ticket(ctx)).status == status
    assert [e.at for e in status_events(ctx)] == [T1, T2]
    assert ticket(ctx, _only_ticket(ctx)).resolved_at == T2


def test_linear_forward_path_and_canceled(
    linear: tuple[AppContext, TestClient, str], fake_linear: FakeLinear
) -> None:
    ctx, client, issue_id = linear
    for name, at in (("In Progress", T1), ("Canceled", T2)):
        body = linear_move(ctx, fake_linear, issue_id, name, at)
        assert post_linear(client, fake_linear, body).json() == {"recorded": 1}
    got = status_events(ctx)
    assert [(e.to_state, e.at) for e in got] == [("in_progress", T1), ("resolved_unverified", T2)]
    assert got[1].details["resolution"] == "canceled"
    assert ticket(ctx, _only_ticket(ctx)).status == "resolved_unverified"
    [job] = jobs(ctx, "notify.unverified")
    assert job.payload["resolution"] == "canceled"


@pytest.mark.parametrize("skew", [timedelta(seconds=61), timedelta(seconds=-61)])
def test_linear_stale_timestamp_is_401(
    linear: tuple[AppContext, TestClient, str], fake_linear: FakeLinear, skew: timedelta
) -> None:
    ctx, client, issue_id = linear
    body = linear_move(ctx, fake_linear, issue_id, "Done", T1)
    set_clock(ctx, T1 + skew)
    before = len(events(ctx))
    response = post_linear(client, fake_linear, body)
    assert response.status_code == 401 and "webhookTimestamp" in response.json()["error"]
    assert len(events(ctx)) == before
    set_clock(ctx, T1 + timedelta(seconds=59))
    assert post_linear(client, fake_linear, body).status_code == 200


def test_linear_bad_signature_and_foreign_issue(
    linear: tuple[AppContext, TestClient, str], fake_linear: FakeLinear
) -> None:
    ctx, client, issue_id = linear
    body = linear_move(ctx, fake_linear, issue_id, "Done", T1)
    data = raw(body)
    before = len(events(ctx))
    bad = {**fake_linear.webhook_headers(data), "Linear-Signature": "ab" * 32}
    assert client.post("/webhooks/linear", content=data, headers=bad).status_code == 401
    assert len(events(ctx)) == before
    body["data"] = {**body["data"], "id": "00000000-0000-4000-8000-000000000000"}
    reply = post_linear(client, fake_linear, body)
    assert reply.status_code == 200 and reply.json() == {"recorded": 0}
    assert len(events(ctx)) == before


def test_linear_assignee_change_is_recorded(
    linear: tuple[AppContext, TestClient, str], fake_linear: FakeLinear
) -> None:
    ctx, client, issue_id = linear
    fake_linear.issues[issue_id]["assignee"] = "user-bob"
    set_clock(ctx, T0)
    body = fake_linear.webhook_body(issue_id, updated_from={"assigneeId": None})
    assert post_linear(client, fake_linear, body).json() == {"recorded": 1}
    [assigned] = events(ctx, "ticket.assigned")
    assert assigned.source == "linear" and assigned.details["assignee"] in (
        "Bob",
        "bob@example.com",
    )
