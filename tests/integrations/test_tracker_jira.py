"""JiraTracker (the real ``jira`` library) against FakeJira over loopback HTTP."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.trackers import JiraTracker, Tracker, TrackerError, jql_string
from tests.fakes.drafts import HOSTILE_DESCRIPTION, HOSTILE_EVIDENCE, make_draft
from tests.fakes.jira import FakeJira
from tests.fakes.jql import parse_jql

pytest_plugins = ["tests.fakes.fixtures"]

ADF_TYPES = {
    "doc",
    "paragraph",
    "text",
    "hardBreak",
    "heading",
    "bulletList",
    "listItem",
    "codeBlock",
}


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.get("content", []):
            yield from walk(child)


def texts(doc: dict[str, Any]) -> str:
    return "\n".join(n["text"] for n in walk(doc) if n.get("type") == "text")


def test_is_a_tracker(jira_tracker: JiraTracker) -> None:
    assert isinstance(jira_tracker, Tracker)
    assert jira_tracker.name == "jira"


def test_create_sends_every_field_and_no_markup(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    remote = jira_tracker.create(make_draft())
    stored = fake_jira.issue(remote.key)
    assert remote.external_id == stored["id"] and remote.category == "open"
    assert remote.url == f"{fake_jira.url}/browse/{remote.key}"
    assert remote.assignee_email == "alice@example.com"
    assert "\n" not in stored["summary"] and stored["summary"].startswith("Apache Struts RCE")
    assert stored["labels"] == ["vulnerability", "slabot", "critical", "slabot-17", "team_payments"]
    assert stored["priority"] == "Highest"
    assert stored["duedate"] == "2025-02-05"
    assert stored["assignee"] == "acc-alice"
    assert stored["custom"] == {"customfield_10050": "CC7.2"}

    doc = stored["description"]
    assert doc["type"] == "doc" and doc["version"] == 1
    assert {n["type"] for n in walk(doc)} <= ADF_TYPES  # nothing but plain structure
    body = texts(doc)
    assert "SLA: nist-800-40r4 — 30 days, due 2025-02-05" in body
    assert "CISA KEV: listed since 2021-11-03" in body and "ransomware use: yes" in body
    assert HOSTILE_DESCRIPTION.split("\n\n")[1] in body  # verbatim, inside a text node
    code = [n for n in walk(doc) if n["type"] == "codeBlock"]
    assert code[0]["content"][0]["text"] == HOSTILE_EVIDENCE
    links = [m["attrs"]["href"] for n in walk(doc) for m in n.get("marks", [])]
    assert links == ["https://nvd.nist.gov/vuln/detail/CVE-2017-5638"]  # never javascript:
    # the library talked v3 and never retried anything on its own
    assert all("/rest/api/3/" in r.path for r in fake_jira.requests)


def test_summary_and_description_are_cut_to_jira_limits(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    draft = make_draft(title="x" * 1000, evidence="E" * 200_000, description="D" * 100_000)
    stored = fake_jira.issue(jira_tracker.create(draft).key)
    assert len(stored["summary"]) == 255 and stored["summary"].endswith("…")
    size = len(json.dumps(stored["description"], ensure_ascii=False))
    assert size <= 32_000
    assert "truncated" in texts(stored["description"])
    assert "SLA: nist-800-40r4" in texts(stored["description"])


def test_find_by_label_is_the_idempotency_check(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    assert jira_tracker.find_by_label(make_draft(17)) is None
    created = jira_tracker.create(make_draft(17))
    jira_tracker.create(make_draft(170))
    found = jira_tracker.find_by_label(make_draft(17))
    assert found == created
    jql = fake_jira.requests_to("search/jql")[-1].query["jql"][0]
    assert jql == 'project = "SEC" AND labels = "slabot-17"'


def test_lost_create_reply_does_not_duplicate(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    fake_jira.lose_next(match="POST /rest/api/3/issue")
    with pytest.raises(TrackerError) as err:
        jira_tracker.create(make_draft(5))
    assert err.value.retryable
    assert len(fake_jira.issues) == 1  # created remotely, reply lost
    # the outbox's retry looks for the key first
    assert jira_tracker.find_by_label(make_draft(5)) is not None
    assert len(fake_jira.requests_to("POST /rest/api/3/issue")) == 1


def test_update_due_priority_and_severity_label(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    remote = jira_tracker.create(make_draft(severity="high"))
    jira_tracker.update(
        remote.external_id,
        due_date=date(2025, 1, 20),
        severity="critical",
        priority_overrides={"critical": "High"},
    )
    stored = fake_jira.issue(remote.key)
    assert stored["duedate"] == "2025-01-20"
    assert stored["priority"] == "High"  # policy override wins
    assert "critical" in stored["labels"] and "high" not in stored["labels"]
    assert "slabot-17" in stored["labels"]


def test_comment_is_literal_adf(jira_tracker: JiraTracker, fake_jira: FakeJira) -> None:
    remote = jira_tracker.create(make_draft())
    jira_tracker.comment(remote.external_id, "Seen again.\n\n{code}x{code} [~accountid:1]")
    (comment,) = fake_jira.comments[remote.key]
    assert {n["type"] for n in walk(comment["body"])} <= ADF_TYPES
    assert texts(comment["body"]) == "Seen again.\n{code}x{code} [~accountid:1]"


def test_transition_by_status_category(jira_tracker: JiraTracker, fake_jira: FakeJira) -> None:
    remote = jira_tracker.create(make_draft())
    jira_tracker.transition(remote.external_id, "in_progress")
    assert fake_jira.issue(remote.key)["status"] == "In Progress"
    jira_tracker.transition(remote.external_id, "resolved")
    done = jira_tracker.get(remote.external_id)
    assert (done.category, done.status_name, done.resolution) == ("resolved", "Done", "Done")
    posts = len(fake_jira.requests_to("POST /rest/api/3/issue/10001/transitions"))
    jira_tracker.transition(remote.external_id, "resolved")  # already there: no-op
    assert len(fake_jira.requests_to("POST /rest/api/3/issue/10001/transitions")) == posts
    jira_tracker.transition(remote.external_id, "open")
    reopened = jira_tracker.get(remote.external_id)
    assert (reopened.category, reopened.resolution) == ("open", None)


def test_updated_since_pages_in_user_time_zone() -> None:
    with FakeJira(time_zone="Europe/Berlin") as fake:
        assert isinstance(fake, FakeJira)
        tracker = JiraTracker(fake.url, fake.email, fake.api_token, "SEC", page_size=2)
        t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
        for i in range(6):
            fake.clock = lambda i=i: t0 + timedelta(minutes=10 * i)
            tracker.create(make_draft(100 + i))
        since = t0 + timedelta(minutes=15)  # issues 2..5 (12:20 .. 12:50 UTC)
        found = list(tracker.updated_since(since))
        tracker.close()
    assert [r.key for r in found] == ["SEC-3", "SEC-4", "SEC-5", "SEC-6"]
    assert all(r.updated_at.tzinfo is not None for r in found)
    searches = fake.requests_to("search/jql")
    assert len(searches) == 2  # 2 per page, 4 hits
    # 12:15 UTC is 13:15 in Berlin: JQL dates are in the API user's zone
    assert 'updated >= "2025/03/01 13:15"' in searches[0].query["jql"][0]


def test_unknown_assignee_is_left_unassigned(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    remote = jira_tracker.create(make_draft(assignee_email="nobody@example.com"))
    assert fake_jira.issue(remote.key)["assignee"] is None
    assert remote.assignee_email is None


def test_assignee_found_when_cloud_hides_emails() -> None:
    with FakeJira(hide_emails=True) as fake:
        assert isinstance(fake, FakeJira)
        tracker = JiraTracker(fake.url, fake.email, fake.api_token, "SEC")
        remote = tracker.create(make_draft(assignee_email="bob@example.com"))
        tracker.close()
        assert fake.issue(remote.key)["assignee"] == "acc-bob"


def test_429_is_retryable_with_retry_after_and_no_library_retry(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    fake_jira.fail_next(status=429, retry_after=7, match="POST /rest/api/3/issue")
    with pytest.raises(TrackerError) as err:
        jira_tracker.create(make_draft())
    assert (err.value.retryable, err.value.status) == (True, 429)
    assert err.value.retry_after == timedelta(seconds=7)
    assert len(fake_jira.requests_to("POST /rest/api/3/issue")) == 1
    assert not fake_jira.issues


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(jira_tracker: JiraTracker, fake_jira: FakeJira, status: int) -> None:
    fake_jira.fail_next(status=status, match="search/jql")
    with pytest.raises(TrackerError) as err:
        jira_tracker.find_by_label(make_draft())
    assert err.value.retryable and err.value.status == status


def test_400_is_not_retryable_and_names_the_problem(jira_tracker: JiraTracker) -> None:
    with pytest.raises(TrackerError) as err:
        jira_tracker.create(make_draft(custom_fields={"customfield_99999": "x"}))
    assert not err.value.retryable and err.value.status == 400
    assert "customfield_99999" in str(err.value)


def test_bad_credentials_are_not_retryable(fake_jira: FakeJira) -> None:
    tracker = JiraTracker(fake_jira.url, fake_jira.email, "wrong", "SEC")
    with pytest.raises(TrackerError) as err:
        tracker.get("10001")
    assert not err.value.retryable and err.value.status == 401
    assert "wrong" not in str(err.value)


def test_timeout_is_retryable(jira_tracker: JiraTracker, fake_jira: FakeJira) -> None:
    remote = jira_tracker.create(make_draft())
    fake_jira.hang_next(seconds=1.0, match=f"GET /rest/api/3/issue/{remote.external_id}")
    with pytest.raises(TrackerError) as err:
        jira_tracker.get(remote.external_id)
    assert err.value.retryable and "timed out" in str(err.value)


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tracker = JiraTracker(f"http://127.0.0.1:{port}", "a@example.com", "t", "SEC", timeout=0.5)
    with pytest.raises(TrackerError) as err:
        tracker.get("1")
    assert err.value.retryable


def test_server_info_failure_is_retried_on_next_call(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    fake_jira.fail_next(status=503, match="serverInfo")
    with pytest.raises(TrackerError) as err:
        jira_tracker.find_by_label(make_draft())
    assert err.value.retryable
    assert jira_tracker.find_by_label(make_draft()) is None


def test_non_cloud_server_is_refused_clearly(
    jira_tracker: JiraTracker, fake_jira: FakeJira
) -> None:
    fake_jira.deployment_type = "Server"
    with pytest.raises(TrackerError) as err:
        jira_tracker.find_by_label(make_draft())
    assert not err.value.retryable and "Cloud" in str(err.value)


def test_outbox_style_retries_converge_under_chaos() -> None:
    """30% 429/5xx and 25% lost write replies: find-then-create opens each ticket once."""
    with FakeJira(seed=7, failure_rate=0.3, lose_reply_rate=0.25) as fake:
        assert isinstance(fake, FakeJira)
        tracker = JiraTracker(fake.url, fake.email, fake.api_token, "SEC", timeout=2)
        for ticket in range(1, 9):
            draft = make_draft(ticket)
            for _ in range(60):
                try:
                    if tracker.find_by_label(draft) is None:
                        tracker.create(draft)
                    break
                except TrackerError as exc:
                    assert exc.retryable, exc
            else:
                pytest.fail(f"ticket {ticket} never converged")
        tracker.close()
        assert {kind for kind, _ in fake.injected} == {"fail", "lose"}  # the chaos happened
        labels = sorted(lab for i in fake.issues.values() for lab in i["labels"] if "-" in lab)
        assert labels == sorted(f"slabot-{t}" for t in range(1, 9))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_jql_string_round_trips(value: str) -> None:
    query = parse_jql(f"labels = {jql_string(value)}", tz=UTC)
    assert query.matches({"labels": [value]})
    assert not query.matches({"labels": [value + "x"]})
