"""LinearTracker (GraphQL over httpx) against FakeLinear over loopback HTTP."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.trackers import (
    LinearTracker,
    Tracker,
    TrackerError,
    linear_issue_uuid,
    linear_priority,
)
from integrations.trackers.render import escape_markdown
from tests.fakes.drafts import HOSTILE_EVIDENCE, make_draft
from tests.fakes.linear import FakeLinear

pytest_plugins = ["tests.fakes.fixtures"]


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def test_is_a_tracker(linear_tracker: LinearTracker) -> None:
    assert isinstance(linear_tracker, Tracker)
    assert linear_tracker.name == "linear"


def test_create_sends_every_field_escaped(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    remote = linear_tracker.create(make_draft())
    stored = fake_linear.issues[remote.external_id]
    assert remote.external_id == linear_issue_uuid(17)
    assert (remote.key, remote.category, remote.status_name) == ("SEC-1", "open", "Todo")
    assert remote.assignee_email == "alice@example.com"
    assert "\n" not in stored["title"]
    assert (stored["priority"], stored["dueDate"], stored["assignee"]) == (
        1,
        "2025-02-05",
        "user-alice",
    )

    desc = stored["description"]
    for raw in ("[phish](", "![img](", "<script>", "[~accountid", "{code}"):
        assert raw not in desc  # no live markup from scan text
    assert "\\@channel" in desc and "\\# Heading" not in desc  # mid-line "#" is inert
    plain = unescape(desc)
    assert "SLA: nist-800-40r4 — 30 days, due 2025-02-05" in plain
    assert "[phish](https://evil.example)" in plain  # the text survives, as text
    assert "slabot-17" in plain  # idempotency key in the footer
    # evidence in a fence longer than any backtick run inside it
    fence = re.search(r"^(`{3,})text$", desc, re.M)
    assert fence and len(fence.group(1)) == 5
    assert f"{fence.group(1)}text\n{HOSTILE_EVIDENCE}\n{fence.group(1)}" in desc


def test_auth_header_is_the_raw_key(linear_tracker: LinearTracker, fake_linear: FakeLinear) -> None:
    linear_tracker.find_by_label(make_draft())
    assert fake_linear.requests[0].headers["Authorization"] == fake_linear.api_key


def test_second_create_is_idempotent(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    assert linear_tracker.find_by_label(make_draft()) is None
    first = linear_tracker.create(make_draft())
    again = linear_tracker.create(make_draft())
    assert again.external_id == first.external_id
    assert len(fake_linear.issues) == 1
    assert linear_tracker.find_by_label(make_draft()) == first


def test_lost_create_reply_then_retry(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    fake_linear.lose_next(match="SlabotIssueCreate")
    with pytest.raises(TrackerError) as err:
        linear_tracker.create(make_draft())
    assert err.value.retryable
    assert linear_tracker.create(make_draft()).external_id == linear_issue_uuid(17)
    assert len(fake_linear.issues) == 1


def test_update_due_date_and_priority(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    remote = linear_tracker.create(make_draft(severity="medium"))
    linear_tracker.update(
        remote.external_id, due_date=date(2025, 1, 9), severity="high", priority_overrides={}
    )
    stored = fake_linear.issues[remote.external_id]
    assert (stored["dueDate"], stored["priority"]) == ("2025-01-09", 2)
    linear_tracker.update(remote.external_id, due_date=None, severity="low", priority_overrides={})
    assert (stored["dueDate"], stored["priority"]) == (None, 4)


@pytest.mark.parametrize(
    ("severity", "overrides", "expected"),
    [
        ("critical", {}, 1),
        ("high", {}, 2),
        ("medium", {}, 3),
        ("low", {}, 4),
        ("info", {}, 0),
        ("unknown", {}, 0),
        ("medium", {"medium": "Urgent"}, 1),
        ("high", {"high": "Highest"}, 1),
    ],
)
def test_linear_priority(severity: str, overrides: dict[str, str], expected: int) -> None:
    assert linear_priority(severity, overrides) == expected


def test_comment_is_escaped_markdown(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    remote = linear_tracker.create(make_draft())
    linear_tracker.comment(remote.external_id, "Seen again at [x](javascript:alert(1))\n\n# hi")
    (comment,) = fake_linear.comments
    assert comment["issueId"] == remote.external_id
    assert comment["body"] == "Seen again at \\[x\\](javascript:alert(1))\n\n\\# hi"


def test_transition_by_state_type(linear_tracker: LinearTracker, fake_linear: FakeLinear) -> None:
    remote = linear_tracker.create(make_draft())
    linear_tracker.transition(remote.external_id, "in_progress")
    assert fake_linear.issues[remote.external_id]["state"]["name"] == "In Progress"
    linear_tracker.transition(remote.external_id, "resolved")
    done = linear_tracker.get(remote.external_id)
    assert (done.category, done.status_name, done.resolution) == ("resolved", "Done", None)
    linear_tracker.transition(remote.external_id, "open")
    assert linear_tracker.get(remote.external_id).status_name == "Todo"  # unstarted first
    assert len(fake_linear.requests_to("SlabotWorkflowStates")) == 1  # cached


def test_canceled_state_reads_as_resolved_canceled(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    remote = linear_tracker.create(make_draft())
    fake_linear.move(remote.external_id, "Canceled")
    got = linear_tracker.get(remote.external_id)
    assert (got.category, got.resolution) == ("resolved", "canceled")


def test_updated_since_pages(linear_tracker: LinearTracker, fake_linear: FakeLinear) -> None:
    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    for i in range(5):
        fake_linear.clock = lambda i=i: t0 + timedelta(minutes=10 * i)
        linear_tracker.create(make_draft(200 + i))
    found = list(linear_tracker.updated_since(t0 + timedelta(minutes=5)))
    assert [r.key for r in found] == ["SEC-2", "SEC-3", "SEC-4", "SEC-5"]
    assert len(fake_linear.requests_to("SlabotIssues")) == 2
    assert fake_linear.requests_to("SlabotIssues")[0].json()["variables"]["since"] == (
        "2025-03-01T12:05:00.000Z"
    )


def test_unknown_assignee_is_left_unassigned(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    remote = linear_tracker.create(make_draft(assignee_email="nobody@example.com"))
    assert fake_linear.issues[remote.external_id]["assignee"] is None


@pytest.mark.parametrize("http_status", [400, 200])
def test_ratelimited_error_code_whatever_the_status(
    linear_tracker: LinearTracker, fake_linear: FakeLinear, http_status: int
) -> None:
    fake_linear.ratelimit_next(http_status=http_status, reset_in_ms=30_000)
    with pytest.raises(TrackerError) as err:
        linear_tracker.create(make_draft())
    assert err.value.retryable and err.value.status == 429
    assert err.value.retry_after is not None
    assert timedelta(seconds=25) < err.value.retry_after <= timedelta(seconds=30)
    assert not fake_linear.issues


def test_ratelimited_prefers_retry_after(
    linear_tracker: LinearTracker, fake_linear: FakeLinear
) -> None:
    fake_linear.ratelimit_next(retry_after=12)
    with pytest.raises(TrackerError) as err:
        linear_tracker.get(linear_issue_uuid(1))
    assert err.value.retry_after == timedelta(seconds=12)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_http_errors_are_retryable(
    linear_tracker: LinearTracker, fake_linear: FakeLinear, status: int
) -> None:
    fake_linear.fail_next(status=status, body=b"upstream trouble")
    with pytest.raises(TrackerError) as err:
        linear_tracker.get(linear_issue_uuid(1))
    assert err.value.retryable and err.value.status == status


def test_invalid_input_is_not_retryable(fake_linear: FakeLinear) -> None:
    tracker = LinearTracker(
        fake_linear.api_key, "no-such-team", api_url=f"{fake_linear.url}/graphql"
    )
    with pytest.raises(TrackerError) as err:
        tracker.create(make_draft())
    tracker.close()
    assert not err.value.retryable
    assert "team not found" in str(err.value)


def test_bad_key_is_not_retryable(fake_linear: FakeLinear) -> None:
    tracker = LinearTracker(
        "lin_api_wrong", fake_linear.team_id, api_url=f"{fake_linear.url}/graphql"
    )
    with pytest.raises(TrackerError) as err:
        tracker.get(linear_issue_uuid(1))
    tracker.close()
    assert not err.value.retryable and err.value.status == 401
    assert "lin_api_wrong" not in str(err.value)


def test_get_unknown_issue_is_404(linear_tracker: LinearTracker) -> None:
    with pytest.raises(TrackerError) as err:
        linear_tracker.get(linear_issue_uuid(404))
    assert (err.value.retryable, err.value.status) == (False, 404)


def test_timeout_is_retryable(linear_tracker: LinearTracker, fake_linear: FakeLinear) -> None:
    fake_linear.hang_next(seconds=1.0)
    with pytest.raises(TrackerError) as err:
        linear_tracker.get(linear_issue_uuid(1))
    assert err.value.retryable and "timed out" in str(err.value)


def test_injected_client_is_not_closed(fake_linear: FakeLinear) -> None:
    with httpx.Client(timeout=2) as client:
        tracker = LinearTracker(
            fake_linear.api_key,
            fake_linear.team_id,
            api_url=f"{fake_linear.url}/graphql",
            client=client,
        )
        tracker.close()
        assert tracker.find_by_label(make_draft()) is None


def test_outbox_style_retries_converge_under_chaos() -> None:
    with FakeLinear(seed=11, failure_rate=0.3, lose_reply_rate=0.15) as fake:
        assert isinstance(fake, FakeLinear)
        tracker = LinearTracker(fake.api_key, fake.team_id, api_url=f"{fake.url}/graphql")
        for ticket in range(1, 9):
            for _ in range(60):
                try:
                    tracker.create(make_draft(ticket))  # idempotent by construction
                    break
                except TrackerError as exc:
                    assert exc.retryable, exc
            else:
                pytest.fail(f"ticket {ticket} never converged")
        tracker.close()
        assert {kind for kind, _ in fake.injected} == {"fail", "lose"}
        assert sorted(fake.issues) == sorted(linear_issue_uuid(t) for t in range(1, 9))


@given(st.integers(min_value=1, max_value=2**62))
def test_linear_uuid_is_deterministic_v4(ticket_id: int) -> None:
    value = linear_issue_uuid(ticket_id)
    assert value == linear_issue_uuid(ticket_id) != linear_issue_uuid(ticket_id + 1)
    parsed = uuid.UUID(value)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


@given(st.text())
def test_escaped_markdown_has_no_unescaped_specials(text: str) -> None:
    escaped = escape_markdown(text)
    # every markup-opening character is preceded by a backslash
    assert not re.search(r"(?<!\\)(?:\\\\)*[`*_\[\]<>!|~&@{}$]", escaped.replace("\\\\", ""))
    for line in escaped.split("\n"):
        assert not re.match(r"[-+=#]|\d+[.)]|\s", line)
