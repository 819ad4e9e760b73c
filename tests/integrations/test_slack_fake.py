"""The fake Slack Web API and the interactivity helpers are faithful enough to drive slack_sdk and
a real bolt App (signature verification on)."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from integrations.slack import (
    ActionId,
    CallbackId,
    ModalMetadata,
    RequestAcceptanceValue,
    parse_modal_submission,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_fixtures import (
    SLACK_TEST_SIGNING_SECRET,
    SLACK_TEST_TOKEN,
    acceptance_modal_values,
    block_actions_payload,
    interactivity_body,
    signed_interactivity_request,
    signed_slack_request,
    view_submission_payload,
)

pytest_plugins = ["tests.fakes.slack_fixtures"]


def test_signature_matches_slack_sdk_verifier() -> None:
    body = b'payload={"type":"block_actions"}'
    now = int(time.time())
    headers = signed_slack_request("s3cret", body, now)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert headers["X-Slack-Signature"] == verifier.generate_signature(
        timestamp=str(now), body=body
    )
    assert not verifier.is_valid(body + b" ", str(now), headers["X-Slack-Signature"])
    stale = signed_slack_request("s3cret", body, now - 301)
    assert not verifier.is_valid(body, str(now - 301), stale["X-Slack-Signature"])


def test_interactivity_body_is_form_encoded_payload() -> None:
    payload = block_actions_payload(action_id="a", value='{"ticket_id":1}')
    fields = parse_qs(interactivity_body(payload).decode())
    assert list(fields) == ["payload"]
    assert json.loads(fields["payload"][0]) == payload


def _bolt_app(fake: FakeSlack) -> App:
    client = WebClient(token=SLACK_TEST_TOKEN, base_url=fake.base_url)
    # process_before_response: run listeners inside dispatch (else bolt uses a thread pool).
    return App(
        client=client, signing_secret=SLACK_TEST_SIGNING_SECRET, process_before_response=True
    )


def _dispatch(app: App, payload: dict[str, Any], *, secret: str = SLACK_TEST_SIGNING_SECRET) -> Any:
    body, headers = signed_interactivity_request(secret, payload)
    return app.dispatch(BoltRequest(body=body.decode(), headers=headers))


def test_bolt_routes_a_signed_button_click(fake_slack: FakeSlack) -> None:
    app = _bolt_app(fake_slack)
    seen: list[RequestAcceptanceValue] = []

    @app.action(ActionId.REQUEST_ACCEPTANCE)
    def on_click(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.append(RequestAcceptanceValue.loads(body["actions"][0]["value"]))
        meta = ModalMetadata(
            ticket_id=seen[-1].ticket_id,
            channel=body["container"]["channel_id"],
            thread_ts=body["container"]["message_ts"],
        )
        client.views_open(
            trigger_id=body["trigger_id"],
            view={"type": "modal", "callback_id": "x", "private_metadata": meta.dumps()},
        )

    payload = block_actions_payload(
        action_id=ActionId.REQUEST_ACCEPTANCE,
        value=RequestAcceptanceValue(ticket_id=42).dumps(),
        trigger_id="9.9.t",
    )
    response = _dispatch(app, payload)
    assert response.status == 200
    assert seen == [RequestAcceptanceValue(ticket_id=42)]
    opened = fake_slack.calls("views.open")
    assert opened[0]["trigger_id"] == "9.9.t"
    assert ModalMetadata.loads(opened[0]["view"]["private_metadata"]).channel == "C0SLABOT"

    assert _dispatch(app, payload, secret="wrong-secret").status == 401


def test_bolt_view_submission_with_validation_errors(fake_slack: FakeSlack) -> None:
    app = _bolt_app(fake_slack)

    @app.view(CallbackId.ACCEPTANCE_SUBMIT)
    def on_submit(ack: Any, view: dict[str, Any]) -> None:
        form = parse_modal_submission(view)
        if len(form.justification) < 20:
            ack(response_action="errors", errors={"justification": "Too short."})
        else:
            ack()

    values = acceptance_modal_values(justification="short", expires_on=date(2025, 3, 20))
    payload = view_submission_payload(
        callback_id=CallbackId.ACCEPTANCE_SUBMIT,
        values=values,
        private_metadata=ModalMetadata(ticket_id=1, channel=None, thread_ts=None).dumps(),
    )
    response = _dispatch(app, payload)
    assert response.status == 200
    assert json.loads(response.body) == {
        "response_action": "errors",
        "errors": {"justification": "Too short."},
    }
    payload["view"]["state"]["values"] = acceptance_modal_values(
        justification="A long enough justification.", expires_on="2025-03-20"
    )
    assert _dispatch(app, payload).body == ""


def test_fake_answers_and_knobs(fake_slack: FakeSlack) -> None:
    client = WebClient(token=SLACK_TEST_TOKEN, base_url=fake_slack.base_url)
    assert client.auth_test()["user_id"] == "U0SLABOT"
    with pytest.raises(SlackApiError) as err:
        client.api_call("chat.nonsense")
    assert err.value.response["error"] == "unknown_method"

    fake_slack.fail_method("chat.postMessage", "not_in_channel", times=1)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="x")
    assert client.chat_postMessage(channel="C1", text="x")["ok"]

    fake_slack.ratelimit_next(1, retry_after=7, method="chat.update")
    client.chat_postMessage(channel="C1", text="unaffected")
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts="1.0", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"

    anonymous = WebClient(base_url=fake_slack.base_url)
    with pytest.raises(SlackApiError) as err:
        anonymous.auth_test()
    assert err.value.response["error"] == "not_authed"
    assert [c.status for c in fake_slack.requests("chat.update")] == [429]
    assert fake_slack.successful_calls("chat.postMessage") == [
        {"channel": "C1", "text": "x"},
        {"channel": "C1", "text": "unaffected"},
    ]


def test_fake_records_response_url_posts(fake_slack: FakeSlack) -> None:
    import urllib.request

    request = urllib.request.Request(
        fake_slack.response_url,
        data=json.dumps({"replace_original": True, "text": "done"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert json.loads(resp.read()) == {"ok": True}
    assert fake_slack.calls("response_url") == [{"replace_original": True, "text": "done"}]
