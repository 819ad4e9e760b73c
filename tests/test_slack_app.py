"""POST /slack/events through bolt: signature checks, the request button and its modal,
modal validation, tampered buttons and the /slabot command — signed exactly as Slack signs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from bot.context import AppContext
from bot.web.app import create_app
from integrations.slack import ActionId, CallbackId, DecisionValue, ModalMetadata
from integrations.slack.payloads import RequestAcceptanceValue
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_fixtures import (
    acceptance_modal_values,
    view_submission_payload,
)
from tests.helpers_ingest import events, kinds
from tests.helpers_slack import (
    SECURITY_CHANNEL,
    T0,
    acceptances,
    button_payload,
    get_ticket,
    job_rows,
    open_ticket,
    post_command,
    post_interactivity,
    run_tick,
    set_assignee,
    slack_ctx,
)

pytest_plugins = ["tests.fakes.slack_fixtures"]

NOW = T0 + timedelta(hours=1)  # the app's clock: Monday 2026-03-02 11:00 UTC
JUSTIFICATION = "The admin panel is only reachable over the VPN; the fix ships with 4.2."


@pytest.fixture
def sctx(ctx: AppContext, fake_slack: FakeSlack) -> AppContext:
    return slack_ctx(ctx, fake_slack, security_channel=SECURITY_CHANNEL, clock=NOW)


@pytest.fixture
def client(sctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(sctx)) as test_client:
        yield test_client


def _open_and_post(sctx: AppContext, severity: str = "critical", template: str = "t") -> int:
    ticket = open_ticket(sctx, template=template, severity=severity, now=T0)
    run_tick(sctx, T0)
    return ticket.id


def _request_button(fake: FakeSlack, sctx: AppContext, ticket_id: int, **kw: str) -> dict:  # type: ignore[type-arg]
    ticket = get_ticket(sctx, ticket_id)
    assert ticket.slack_channel and ticket.slack_thread_ts
    return button_payload(
        fake,
        action_id=ActionId.REQUEST_ACCEPTANCE.value,
        value=kw.pop("value", RequestAcceptanceValue(ticket_id=ticket_id).dumps()),
        user_id=kw.pop("user_id", "U0REQUESTER"),
        channel_id=ticket.slack_channel,
        message_ts=ticket.slack_thread_ts,
        **kw,
    )


def _submission(
    ticket_id: int, *, justification: str | None, expires_on: date | str | None
) -> dict:  # type: ignore[type-arg]
    return view_submission_payload(
        callback_id=CallbackId.ACCEPTANCE_SUBMIT.value,
        values=acceptance_modal_values(
            justification=justification, expires_on=expires_on, controls="WAF rule 9921"
        ),
        private_metadata=ModalMetadata(ticket_id=ticket_id).dumps(),
    )


def test_request_button_opens_the_modal(
    sctx: AppContext, fake_slack: FakeSlack, client: TestClient
) -> None:
    ticket_id = _open_and_post(sctx)
    response = post_interactivity(client, _request_button(fake_slack, sctx, ticket_id))
    assert response.status_code == 200
    (call,) = fake_slack.calls("views.open")
    assert call["trigger_id"] == "1111.2222.trigger"
    view = call["view"]
    assert view["type"] == "modal" and view["callback_id"] == CallbackId.ACCEPTANCE_SUBMIT.value
    metadata = ModalMetadata.loads(view["private_metadata"])
    assert metadata.ticket_id == ticket_id
    assert metadata.thread_ts == get_ticket(sctx, ticket_id).slack_thread_ts
    picker = next(b for b in view["blocks"] if b.get("block_id") == "expires_on")
    assert picker["element"]["initial_date"] == "2026-04-01"  # critical: at most 30 days
    assert acceptances(sctx) == []


def test_tampered_request_button_value_is_refused_ephemerally(
    sctx: AppContext, fake_slack: FakeSlack, client: TestClient
) -> None:
    ticket_id = _open_and_post(sctx)
    payload = _request_button(fake_slack, sctx, ticket_id, value='{"ticket_id":"1 OR 1=1"}')
    assert post_interactivity(client, payload).status_code == 200
    assert fake_slack.calls("views.open") == []
    (eph,) = fake_slack.calls("chat.postEphemeral")
    assert eph["user"] == "U0REQUESTER" and "not one slabot sent" in eph["text"]


@pytest.mark.parametrize(
    ("justification", "expires_on", "field"),
    [
        ("too short", "2026-03-20", "justification"),
        ("", "2026-03-20", "justification"),
        (JUSTIFICATION, "2026-04-02", "expires_on"),  # policy max for critical is 04-01
        (JUSTIFICATION, "2026-03-02", "expires_on"),  # not after today
        (JUSTIFICATION, "03/20/2026", "expires_on"),  # not a date
    ],
)
def test_invalid_modal_submission_answers_errors_and_stores_nothing(
    sctx: AppContext,
    client: TestClient,
    justification: str,
    expires_on: str,
    field: str,
) -> None:
    ticket_id = _open_and_post(sctx)
    before = kinds(sctx)
    payload = _submission(ticket_id, justification=justification, expires_on=expires_on)
    response = post_interactivity(client, payload)
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [field]
    assert acceptances(sctx) == []
    assert kinds(sctx) == before
    assert job_rows(sctx, "notify.approval_request") == []


def test_valid_submission_stores_a_pending_request(
    sctx: AppContext, fake_slack: FakeSlack, client: TestClient
) -> None:
    ticket_id = _open_and_post(sctx)
    payload = _submission(ticket_id, justification=JUSTIFICATION, expires_on="2026-04-01")
    response = post_interactivity(client, payload)
    assert response.status_code == 200 and response.content == b""
    (request,) = acceptances(sctx)
    assert (request.status, request.requested_by, request.expires_on) == (
        "pending",
        "U0REQUESTER",
        date(2026, 4, 1),
    )
    assert request.justification == JUSTIFICATION
    assert request.compensating_controls == "WAF rule 9921"
    (event,) = events(sctx, "risk_acceptance.requested")
    assert event.actor == "U0REQUESTER" and event.details["request_id"] == request.id
    (job,) = job_rows(sctx, "notify.approval_request")
    assert job.payload == {"request_id": request.id} and job.state == "queued"
    # A second request while one is pending is refused on the justification field.
    again = post_interactivity(client, payload).json()
    assert again["response_action"] == "errors" and "pending" in again["errors"]["justification"]
    assert len(acceptances(sctx)) == 1


def test_forged_signature_and_stale_timestamp_are_refused(
    sctx: AppContext, fake_slack: FakeSlack, client: TestClient
) -> None:
    ticket_id = _open_and_post(sctx)
    payload = _request_button(fake_slack, sctx, ticket_id)
    forged = post_interactivity(client, payload, secret="not-the-signing-secret")
    assert forged.status_code == 401
    stale = post_interactivity(client, payload, timestamp=int(time.time()) - 6 * 60)
    assert stale.status_code == 401
    submission = _submission(ticket_id, justification=JUSTIFICATION, expires_on="2026-03-20")
    assert post_interactivity(client, submission, secret="wrong").status_code == 401
    # Nothing reached a listener: no modal, no ephemeral, nothing stored.
    assert fake_slack.calls("views.open") == []
    assert fake_slack.calls("chat.postEphemeral") == []
    assert acceptances(sctx) == []
    assert events(sctx, "risk_acceptance.refused") == []


def test_garbage_decision_value_is_refused_and_recorded(
    sctx: AppContext, fake_slack: FakeSlack, client: TestClient
) -> None:
    ticket_id = _open_and_post(sctx)
    ticket = get_ticket(sctx, ticket_id)
    assert ticket.slack_channel and ticket.slack_thread_ts
    for value in ("garbage", '{"request_id": -1}', DecisionValue(request_id=999).dumps()):
        payload = button_payload(
            fake_slack,
            action_id=ActionId.APPROVE.value,
            value=value,
            user_id="ULEAD1",
            channel_id=ticket.slack_channel,
            message_ts=ticket.slack_thread_ts,
        )
        assert post_interactivity(client, payload).status_code == 200
    refused = events(sctx, "risk_acceptance.refused")
    assert [e.actor for e in refused] == ["ULEAD1"] * 3
    assert "tampered or invalid" in refused[0].details["why"]
    assert "#999 does not exist" in refused[2].details["why"]
    ephemerals = fake_slack.calls("chat.postEphemeral")
    assert [e["user"] for e in ephemerals] == ["ULEAD1"] * 3
    assert acceptances(sctx) == []
    assert get_ticket(sctx, ticket_id).status == "open"


def test_slash_status_and_mine(sctx: AppContext, fake_slack: FakeSlack, client: TestClient) -> None:
    fake_slack.add_user("dev@example.com", "UDEV1", "dev")
    fake_slack.add_user("idle@example.com", "UIDLE", "idle")
    ticket_id = _open_and_post(sctx)
    other = open_ticket(sctx, template="other", severity="medium", now=T0, asset="https://o/")
    set_assignee(sctx, ticket_id, "dev@example.com")
    key = get_ticket(sctx, ticket_id).external_key
    assert key == f"SLABOT-{ticket_id}"

    status = post_command(client, f"status {key}", user_id="UDEV1")
    assert status.status_code == 200
    text = status.text  # bolt answers a command's ack(text=...) as the plain-text body
    assert f"*{key}*" in text and "critical" in text and "due 2026-04-01" in text
    assert "open" in text and "within_sla" in text

    by_id = post_command(client, f"status #{other.id}", user_id="UDEV1").text
    assert "medium" in by_id and "due 2026-05-31" in by_id
    missing = post_command(client, "status NOPE-1", user_id="UDEV1").text
    assert missing == "No ticket NOPE-1."

    mine = post_command(client, "mine", user_id="UDEV1").text
    assert f"*{key}*" in mine and f"SLABOT-{other.id}" not in mine
    assert fake_slack.calls("users.info")[-1]["user"] == "UDEV1"
    none = post_command(client, "mine", user_id="UIDLE").text
    assert "no open remediation tickets" in none
    unknown = post_command(client, "mine", user_id="UNOBODY").text
    assert "could not look up" in unknown
    assert "Usage" in post_command(client, "", user_id="UDEV1").text
    assert "Usage" in post_command(client, "frobnicate", user_id="UDEV1").text


def test_slack_disabled_without_token(ctx: AppContext) -> None:
    with TestClient(create_app(ctx)) as plain:
        response = plain.post("/slack/events", content=b"payload=%7B%7D")
    assert response.status_code == 404
    assert "Slack is not configured" in json.dumps(response.json())
