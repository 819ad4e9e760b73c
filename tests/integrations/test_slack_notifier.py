"""SlackNotifier through the real slack_sdk WebClient against the fake Slack Web API;
ConsoleNotifier."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from urllib.error import URLError

import pytest
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from integrations.slack import (
    ConsoleNotifier,
    Notifier,
    NotifierError,
    PostedMessage,
    SlackMessage,
    SlackNotifier,
    text_message,
    to_notifier_error,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_fixtures import SLACK_TEST_TOKEN

pytest_plugins = ["tests.fakes.slack_fixtures"]

MSG = SlackMessage(
    text="Reminder: fix it",
    blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*fix it*", "verbatim": True}}],
)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_both_implement_the_protocol(slack_notifier: SlackNotifier) -> None:
    assert isinstance(slack_notifier, Notifier)
    assert isinstance(ConsoleNotifier(), Notifier)


def test_client_has_bounded_retry_handlers(slack_notifier: SlackNotifier) -> None:
    handlers = slack_notifier.client.retry_handlers
    assert [type(h) for h in handlers] == [ConnectionErrorRetryHandler, RateLimitErrorRetryHandler]
    assert handlers[1].max_retry_count == 1
    assert SLACK_TEST_TOKEN not in repr(slack_notifier)


def test_post_and_thread_reply(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    parent = slack_notifier.post("#security", MSG)
    assert parent.channel.startswith("C") and parent.channel != "#security"
    reply = slack_notifier.post(parent.channel, text_message("again"), thread_ts=parent.ts)
    assert reply.channel == parent.channel and reply.ts != parent.ts

    first, second = fake_slack.calls("chat.postMessage")
    assert first["channel"] == "#security" and first["text"] == "Reminder: fix it"
    assert first["blocks"] == MSG.blocks
    assert first["unfurl_links"] is False and first["unfurl_media"] is False
    assert "thread_ts" not in first and second["thread_ts"] == parent.ts
    assert fake_slack.requests("chat.postMessage")[0].auth == f"Bearer {SLACK_TEST_TOKEN}"
    stored = fake_slack.message(parent.channel, reply.ts)
    assert stored is not None and stored["thread_ts"] == parent.ts


def test_update_in_place(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    posted = slack_notifier.post("C0SLABOT", MSG)
    slack_notifier.update(posted.channel, posted.ts, text_message("now resolved"))
    body = fake_slack.calls("chat.update")[0]
    assert (body["channel"], body["ts"]) == ("C0SLABOT", posted.ts)
    stored = fake_slack.message("C0SLABOT", posted.ts)
    assert stored is not None and stored["text"] == "now resolved"
    with pytest.raises(NotifierError) as err:
        slack_notifier.update("C0SLABOT", "1.000", MSG)
    assert err.value.error == "message_not_found" and not err.value.retryable


def test_ephemeral(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    slack_notifier.post_ephemeral("C0SLABOT", "U0REQ", "Only you can see this")
    assert fake_slack.calls("chat.postEphemeral") == [
        {"channel": "C0SLABOT", "user": "U0REQ", "text": "Only you can see this"}
    ]


def test_dm_opens_conversation_once(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    first = slack_notifier.dm("U0LEAD", MSG)
    second = slack_notifier.dm("U0LEAD", MSG)
    assert first.channel == second.channel == "D0LEAD"
    assert fake_slack.calls("conversations.open") == [{"users": "U0LEAD"}]
    assert [c["channel"] for c in fake_slack.calls("chat.postMessage")] == ["D0LEAD", "D0LEAD"]


def test_lookup_user_by_email_and_cache(fake_slack: FakeSlack) -> None:
    clock = FakeClock()
    notifier = SlackNotifier(
        SLACK_TEST_TOKEN, base_url=fake_slack.base_url, clock=clock, cache_ttl=timedelta(hours=1)
    )
    fake_slack.add_user("dev@example.com", "U0DEV", "dev")
    assert notifier.lookup_user_by_email("dev@example.com") == "U0DEV"
    assert notifier.lookup_user_by_email("DEV@example.com ") == "U0DEV"  # cache hit
    assert fake_slack.call_count("users.lookupByEmail") == 1
    assert fake_slack.calls("users.lookupByEmail") == [{"email": "dev@example.com"}]

    assert notifier.lookup_user_by_email("ghost@example.com") is None  # users_not_found
    assert notifier.lookup_user_by_email("ghost@example.com") is None
    assert fake_slack.call_count("users.lookupByEmail") == 2

    clock.now += timedelta(hours=2)  # both entries expired
    fake_slack.add_user("ghost@example.com", "U0GHOST")
    assert notifier.lookup_user_by_email("ghost@example.com") == "U0GHOST"
    assert notifier.lookup_user_by_email("dev@example.com") == "U0DEV"
    assert fake_slack.call_count("users.lookupByEmail") == 4


def test_lookup_errors_other_than_not_found_raise(
    fake_slack: FakeSlack, slack_notifier: SlackNotifier
) -> None:
    fake_slack.fail_method("users.lookupByEmail", "missing_scope")
    with pytest.raises(NotifierError) as err:
        slack_notifier.lookup_user_by_email("dev@example.com")
    assert err.value.error == "missing_scope" and not err.value.retryable


def test_user_name(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    fake_slack.add_user("lead@example.com", "U0LEAD", "sec-lead")
    assert slack_notifier.user_name("U0LEAD") == "sec-lead"
    assert slack_notifier.user_name("U0LEAD") == "sec-lead"
    assert slack_notifier.user_name("U0NOBODY") is None
    assert fake_slack.calls("users.info") == [{"user": "U0LEAD"}, {"user": "U0NOBODY"}]


def test_open_modal(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    view = {"type": "modal", "callback_id": "risk_acceptance.submit", "blocks": []}
    slack_notifier.open_modal("1111.2222.abc", view)
    assert fake_slack.calls("views.open") == [{"trigger_id": "1111.2222.abc", "view": view}]
    with pytest.raises(NotifierError) as err:  # triggers are single-use
        slack_notifier.open_modal("1111.2222.abc", view)
    assert err.value.error == "exchanged_trigger_id" and not err.value.retryable


def test_429_is_retried_then_succeeds(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    fake_slack.ratelimit_next(1, retry_after=0)
    started = time.monotonic()
    posted = slack_notifier.post("C0SLABOT", MSG)
    assert time.monotonic() - started < 2
    assert isinstance(posted, PostedMessage)
    assert [c.status for c in fake_slack.requests("chat.postMessage")] == [429, 200]


def test_persistent_429_raises_retryable_with_retry_after(fake_slack: FakeSlack) -> None:
    notifier = SlackNotifier(
        SLACK_TEST_TOKEN, base_url=fake_slack.base_url, max_rate_limit_retries=0
    )
    fake_slack.ratelimit_next(1, retry_after=1)
    with pytest.raises(NotifierError) as err:
        notifier.post("C0SLABOT", MSG)
    assert err.value.retryable and err.value.error == "ratelimited"
    assert err.value.retry_after == timedelta(seconds=1) and err.value.status == 429
    assert fake_slack.call_count("chat.postMessage") == 1


def test_429_retries_are_bounded(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    fake_slack.ratelimit_next(5, retry_after=0)
    with pytest.raises(NotifierError) as err:
        slack_notifier.post("C0SLABOT", MSG)
    assert err.value.retryable and err.value.retry_after == timedelta(0)
    assert fake_slack.call_count("chat.postMessage") == 2  # one try + one retry


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "invalid_blocks"])
def test_permanent_errors_are_not_retryable(
    fake_slack: FakeSlack, slack_notifier: SlackNotifier, code: str
) -> None:
    fake_slack.fail_method("chat.postMessage", code)
    with pytest.raises(NotifierError) as err:
        slack_notifier.post("C0GONE", MSG)
    assert err.value.error == code and not err.value.retryable and err.value.retry_after is None
    assert f"chat.postMessage failed: {code}" in str(err.value)
    assert SLACK_TEST_TOKEN not in str(err.value)


def test_invalid_auth_is_not_retryable(fake_slack: FakeSlack) -> None:
    notifier = SlackNotifier("not-a-slack-token", base_url=fake_slack.base_url)
    with pytest.raises(NotifierError) as err:
        notifier.post("C0SLABOT", MSG)
    assert err.value.error == "invalid_auth" and not err.value.retryable


def test_server_errors_are_retryable(fake_slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    fake_slack.fail_method("chat.update", "service_unavailable", status=503, times=1)
    with pytest.raises(NotifierError) as err:
        slack_notifier.update("C0SLABOT", "1.0", MSG)
    assert err.value.retryable and err.value.status == 503


def test_timeout_is_retryable(fake_slack: FakeSlack) -> None:
    notifier = SlackNotifier(SLACK_TEST_TOKEN, base_url=fake_slack.base_url, timeout=0.2)
    fake_slack.delay_method("chat.postMessage", 0.6)
    with pytest.raises(NotifierError) as err:
        notifier.post("C0SLABOT", MSG)
    assert err.value.retryable and err.value.error == "timeout"


def test_connection_refused_is_retryable(fake_slack: FakeSlack) -> None:
    base_url = fake_slack.base_url
    fake_slack.stop()
    notifier = SlackNotifier(SLACK_TEST_TOKEN, base_url=base_url, timeout=1)
    with pytest.raises(NotifierError) as err:
        notifier.post("C0SLABOT", MSG)
    assert err.value.retryable and err.value.error.startswith("connection error")


def test_to_notifier_error_mapping() -> None:
    assert to_notifier_error("x", URLError("boom")).retryable
    assert to_notifier_error("x", ConnectionResetError()).retryable
    assert not to_notifier_error("x", ValueError("bad")).retryable


# -- console ----------------------------------------------------------------------------
def test_console_notifier_logs_and_records(caplog: pytest.LogCaptureFixture) -> None:
    console = ConsoleNotifier()
    with caplog.at_level(logging.INFO, logger="slabot.slack.console"):
        first = console.post("#security", MSG)
        reply = console.post("#security", text_message("again"), thread_ts=first.ts)
        console.update("#security", first.ts, text_message("resolved"))
        dm = console.dm("U0LEAD", MSG)
        console.post_ephemeral("#security", "U0REQ", "psst")
        console.open_modal("trig", {"type": "modal", "title": {"text": "Risk acceptance"}})
    assert (first.ts, reply.ts, dm.ts) == ("console.1", "console.2", "console.3")
    assert [r.kind for r in console.sent] == ["post", "post", "update", "dm", "ephemeral", "modal"]
    assert console.sent[1].thread_ts == "console.1"
    assert console.sent[2].text == "resolved"
    log = caplog.text
    assert "slack post #security ts=console.1: Reminder: fix it" in log
    assert "*fix it*" in log  # compact rendering of the blocks
    assert "thread=console.1" in log and "slack dm U0LEAD" in log and "Risk acceptance" in log
    assert all(r.levelno == logging.INFO for r in caplog.records)
    assert console.lookup_user_by_email("dev@example.com") is None
    assert console.user_name("U0LEAD") is None


def test_console_notifier_custom_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.slack.custom")
    with caplog.at_level(logging.INFO, logger="test.slack.custom"):
        ConsoleNotifier(logger).post("C1", MSG)
    assert [r.name for r in caplog.records] == ["test.slack.custom"]
