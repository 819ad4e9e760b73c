"""Risk acceptance end to end: Slack modal -> pending request -> approval message -> Approve /
Reject buttons (signed as Slack signs) -> ticket state, events, messages updated in place, expiry
warnings, expiry and resumed reminders. Time moves through the app clock and tick(now=...)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.context import AppContext
from bot.web.app import create_app
from integrations.slack import ActionId, CallbackId, DecisionValue, ModalMetadata
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_fixtures import acceptance_modal_values, view_submission_payload
from tests.helpers_ingest import events
from tests.helpers_slack import (
    SECURITY_CHANNEL,
    T0,
    acceptances,
    at,
    button_payload,
    get_ticket,
    header_of,
    open_ticket,
    post_interactivity,
    posts,
    run_tick,
    set_clock,
    slack_ctx,
)

pytest_plugins = ["tests.fakes.slack_fixtures"]

D = date.fromisoformat
REQUESTED = T0 + timedelta(hours=1)  # Monday 2026-03-02 11:00 UTC
JUSTIFICATION = "Reachable only from the VPN; vendor fix is scheduled for the next release."


@pytest.fixture
def sctx(ctx: AppContext, fake_slack: FakeSlack) -> AppContext:
    return slack_ctx(ctx, fake_slack, security_channel=SECURITY_CHANNEL, clock=REQUESTED)


@pytest.fixture
def client(sctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(sctx)) as test_client:
        yield test_client


def _submit(
    client: TestClient, ticket_id: int, *, user_id: str = "U0REQUESTER", expires_on: str
) -> None:
    payload = view_submission_payload(
        callback_id=CallbackId.ACCEPTANCE_SUBMIT.value,
        values=acceptance_modal_values(justification=JUSTIFICATION, expires_on=expires_on),
        private_metadata=ModalMetadata(ticket_id=ticket_id).dumps(),
        user_id=user_id,
        user_name=user_id.lower(),
    )
    response = post_interactivity(client, payload)
    assert response.status_code == 200 and response.content == b""


def _click(
    client: TestClient,
    fake: FakeSlack,
    *,
    action: ActionId,
    request_id: int,
    user_id: str,
    channel_id: str,
    message_ts: str,
    value: str | None = None,
) -> None:
    payload = button_payload(
        fake,
        action_id=action.value,
        value=value or DecisionValue(request_id=request_id).dumps(),
        user_id=user_id,
        channel_id=channel_id,
        message_ts=message_ts,
    )
    assert post_interactivity(client, payload).status_code == 200


def _approval_location(sctx: AppContext, request_id: int) -> tuple[str, str]:
    request = next(r for r in acceptances(sctx) if r.id == request_id)
    assert request.approval_channel and request.approval_ts
    return request.approval_channel, request.approval_ts


def _actions(body: dict[str, Any]) -> list[str]:
    return [
        e["action_id"]
        for b in body.get("blocks") or []
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


def _ticket_posts(fake: FakeSlack, ticket_id: int) -> list[dict[str, Any]]:
    return [b for b in posts(fake, ticket_id) if not str(b["channel"]).startswith("D")]


def test_approve_then_expiry_warnings_then_expiry(
    sctx: AppContext, fake_slack: FakeSlack, client: TestClient
) -> None:
    ticket = open_ticket(sctx, template="accept-me", severity="critical", now=T0)
    run_tick(sctx, T0)
    _submit(client, ticket.id, expires_on="2026-03-20")
    (request,) = acceptances(sctx)
    assert request.status == "pending"

    run_tick(sctx, REQUESTED)
    approval = [b for b in posts(fake_slack) if b["channel"] == SECURITY_CHANNEL]
    assert len(approval) == 1
    assert header_of(approval[0]) == ":scales: Risk acceptance request"
    assert _actions(approval[0]) == [ActionId.APPROVE.value, ActionId.REJECT.value]
    channel, ts = _approval_location(sctx, request.id)

    # Refusals first: the requester is no approver, a non-approver, a value edited to name
    # another request. Each is recorded and answered ephemerally; nothing changes.
    for user in ("U0REQUESTER", "UNOBODY"):
        _click(
            client,
            fake_slack,
            action=ActionId.APPROVE,
            request_id=request.id,
            user_id=user,
            channel_id=channel,
            message_ts=ts,
        )
    refused = events(sctx, "risk_acceptance.refused")
    assert [(e.actor, e.details["request_id"]) for e in refused] == [
        ("U0REQUESTER", request.id),
        ("UNOBODY", request.id),
    ]
    assert all("only a security approver" in e.details["why"] for e in refused)
    assert [e["user"] for e in fake_slack.calls("chat.postEphemeral")] == [
        "U0REQUESTER",
        "UNOBODY",
    ]
    assert acceptances(sctx)[0].status == "pending"
    assert get_ticket(sctx, ticket.id).status == "open"

    # Approve by a security lead.
    decided_at = REQUESTED + timedelta(hours=2)
    set_clock(sctx, decided_at)
    _click(
        client,
        fake_slack,
        action=ActionId.APPROVE,
        request_id=request.id,
        user_id="ULEAD2",
        channel_id=channel,
        message_ts=ts,
    )
    (request,) = acceptances(sctx)
    assert (request.status, request.decided_by, request.decided_at) == (
        "approved",
        "ULEAD2",
        decided_at,
    )
    assert get_ticket(sctx, ticket.id).status == "risk_accepted"
    (approved,) = events(sctx, "risk_acceptance.approved")
    assert (approved.from_state, approved.to_state, approved.actor) == (
        "open",
        "risk_accepted",
        "ULEAD2",
    )
    assert approved.at == decided_at
    assert approved.details["approver_id"] == "ULEAD2"
    assert approved.details["approver_name"] == "ulead2"
    assert approved.details["expires_on"] == "2026-03-20"
    # A second click, now that it is decided, changes nothing and is only answered.
    _click(
        client,
        fake_slack,
        action=ActionId.REJECT,
        request_id=request.id,
        user_id="ULEAD1",
        channel_id=channel,
        message_ts=ts,
    )
    assert acceptances(sctx)[0].status == "approved"
    assert len(events(sctx, "risk_acceptance.refused")) == 2
    assert "already approved" in fake_slack.calls("chat.postEphemeral")[-1]["text"]

    run_tick(sctx, decided_at)
    (update,) = [u for u in fake_slack.successful_calls("chat.update") if u["ts"] == ts]
    assert _actions(update) == []  # the buttons are gone
    assert "Approved" in fake_slack.message(channel, ts)["blocks"][1]["text"]["text"]  # type: ignore[index]
    dms = [b for b in posts(fake_slack) if b["channel"] == "D0REQUESTER"]
    assert len(dms) == 1 and "approved" in str(dms[0]["text"])

    # While accepted: no reminders (03-09 and 03-16 weekly slots pass silently).
    before = len(_ticket_posts(fake_slack, ticket.id))
    for day in (D("2026-03-09"), D("2026-03-10"), D("2026-03-12")):
        run_tick(sctx, at(day))
    assert len(_ticket_posts(fake_slack, ticket.id)) == before
    assert fake_slack.successful_calls("conversations.open")[-1]["users"] == "U0REQUESTER"

    # 7 days before expiry (03-13): a warning to the requester and to the approver, once —
    # even though opening the approver's DM is rate limited after the requester's went out.
    fake_slack.ratelimit_next(1, retry_after=60, method="conversations.open")
    run_tick(sctx, at(D("2026-03-13")))
    assert len([b for b in posts(fake_slack) if "expires soon" in str(b["text"])]) == 1
    run_tick(sctx, at(D("2026-03-13")) + timedelta(minutes=2))
    run_tick(sctx, at(D("2026-03-16")))
    warnings = [b for b in posts(fake_slack) if "expires soon" in str(b["text"])]
    assert sorted(b["channel"] for b in warnings) == ["D0REQUESTER", "DLEAD2"]
    assert len(_ticket_posts(fake_slack, ticket.id)) == before

    # The acceptance covers 03-20; on 03-21 the ticket is open again and reminders resume.
    run_tick(sctx, at(D("2026-03-20")))
    assert get_ticket(sctx, ticket.id).status == "risk_accepted"
    run_tick(sctx, at(D("2026-03-21")))
    assert get_ticket(sctx, ticket.id).status == "open"
    (expired,) = events(sctx, "risk_acceptance.expired")
    assert (expired.from_state, expired.to_state) == ("risk_accepted", "open")
    assert expired.details["request_id"] == request.id
    assert acceptances(sctx)[0].status == "expired"
    expired_posts = [b for b in posts(fake_slack) if "acceptance expired" in str(b["text"])]
    assert sorted(b["channel"] for b in expired_posts) == ["#sec-alerts", "D0REQUESTER"]
    run_tick(sctx, at(D("2026-03-23")))
    run_tick(sctx, at(D("2026-03-25")))
    resumed = [
        e.details["slot"]
        for e in events(sctx, "reminder.sent")
        if e.ticket_id == ticket.id and e.at > at(D("2026-03-20"))
    ]
    assert resumed[-2:] == ["reminder:2026-03-23", "reminder:2026-03-25"]


def test_reject_path(sctx: AppContext, fake_slack: FakeSlack, client: TestClient) -> None:
    ticket = open_ticket(sctx, template="reject-me", severity="medium", now=T0)
    run_tick(sctx, T0)
    _submit(client, ticket.id, expires_on="2026-05-01")
    run_tick(sctx, REQUESTED)
    (request,) = acceptances(sctx)
    channel, ts = _approval_location(sctx, request.id)
    _click(
        client,
        fake_slack,
        action=ActionId.REJECT,
        request_id=request.id,
        user_id="ULEAD1",
        channel_id=channel,
        message_ts=ts,
    )
    (request,) = acceptances(sctx)
    assert (request.status, request.decided_by) == ("rejected", "ULEAD1")
    (rejected,) = events(sctx, "risk_acceptance.rejected")
    assert rejected.details["approver_id"] == "ULEAD1" and rejected.actor == "ULEAD1"
    assert get_ticket(sctx, ticket.id).status == "open"
    run_tick(sctx, REQUESTED + timedelta(minutes=5))
    assert "Rejected" in fake_slack.message(channel, ts)["blocks"][1]["text"]["text"]  # type: ignore[index]
    assert [b["channel"] for b in posts(fake_slack) if "rejected" in str(b["text"])] == [
        "D0REQUESTER"
    ]
    run_tick(sctx, at(D("2026-03-09")))
    assert [e.details["slot"] for e in events(sctx, "reminder.sent")][-1] == "reminder:2026-03-09"


def test_self_approval_and_tampered_request_id_are_refused(
    sctx: AppContext, fake_slack: FakeSlack, client: TestClient
) -> None:
    first = open_ticket(sctx, template="first", severity="high", now=T0)
    second = open_ticket(sctx, template="second", severity="high", now=T0, asset="https://s/")
    run_tick(sctx, T0)
    _submit(client, first.id, user_id="ULEAD1", expires_on="2026-04-01")  # a lead asks
    _submit(client, second.id, expires_on="2026-04-01")
    run_tick(sctx, REQUESTED)
    lead_request, other_request = acceptances(sctx)
    channel, ts = _approval_location(sctx, lead_request.id)

    # The lead cannot approve his own exception.
    _click(
        client,
        fake_slack,
        action=ActionId.APPROVE,
        request_id=lead_request.id,
        user_id="ULEAD1",
        channel_id=channel,
        message_ts=ts,
    )
    # On the lead's request message, ULEAD1 edits the value to approve the *other* request.
    _click(
        client,
        fake_slack,
        action=ActionId.APPROVE,
        request_id=other_request.id,
        user_id="ULEAD1",
        channel_id=channel,
        message_ts=ts,
    )
    refused = events(sctx, "risk_acceptance.refused")
    assert [(e.actor, e.details["request_id"]) for e in refused] == [
        ("ULEAD1", lead_request.id),
        ("ULEAD1", other_request.id),
    ]
    assert "you requested this exception" in refused[0].details["why"]
    assert "does not belong" in refused[1].details["why"]
    assert [r.status for r in acceptances(sctx)] == ["pending", "pending"]
    assert len(fake_slack.calls("chat.postEphemeral")) == 2
    assert events(sctx, "risk_acceptance.approved") == []

    # ULEAD2 approves the lead's request from its own message: that is allowed.
    _click(
        client,
        fake_slack,
        action=ActionId.APPROVE,
        request_id=lead_request.id,
        user_id="ULEAD2",
        channel_id=channel,
        message_ts=ts,
    )
    assert [r.status for r in acceptances(sctx)] == ["approved", "pending"]
    assert get_ticket(sctx, first.id).status == "risk_accepted"
    assert get_ticket(sctx, second.id).status == "open"


def test_approval_by_direct_message_updates_every_approver_copy(
    ctx: AppContext, fake_slack: FakeSlack
) -> None:
    sctx = slack_ctx(ctx, fake_slack, security_channel=None, clock=REQUESTED)
    with TestClient(create_app(sctx)) as client:
        ticket = open_ticket(sctx, template="dm", severity="critical", now=T0)
        run_tick(sctx, T0)
        _submit(client, ticket.id, expires_on="2026-03-30")
        # The first DM is rate limited once: the job is retried, each approver DMed once.
        fake_slack.ratelimit_next(1, retry_after=5, method="conversations.open")
        run_tick(sctx, REQUESTED)
        run_tick(sctx, REQUESTED + timedelta(seconds=30))
        run_tick(sctx, REQUESTED + timedelta(minutes=5))
        copies = [b for b in posts(fake_slack) if "Risk acceptance requested" in str(b["text"])]
        assert sorted(b["channel"] for b in copies) == ["DLEAD1", "DLEAD2"]
        (request,) = acceptances(sctx)
        sent = {
            (c.body["channel"], c.response["ts"])
            for c in fake_slack.requests("chat.postMessage")
            if c.response.get("ok") and "Risk acceptance requested" in str(c.body.get("text"))
        }
        dlead2_ts = next(ts for ch, ts in sent if ch == "DLEAD2")
        decided: datetime = REQUESTED + timedelta(hours=1)
        set_clock(sctx, decided)
        _click(
            client,
            fake_slack,
            action=ActionId.APPROVE,
            request_id=request.id,
            user_id="ULEAD2",
            channel_id="DLEAD2",
            message_ts=dlead2_ts,
        )
        assert acceptances(sctx)[0].status == "approved"
        run_tick(sctx, decided)
    updated = sorted(u["channel"] for u in fake_slack.successful_calls("chat.update"))
    assert updated == ["DLEAD1", "DLEAD2"]
    for channel, ts in sent:
        assert "approved by <@ULEAD2>" in str(fake_slack.message(channel, ts)["text"])  # type: ignore[index]
