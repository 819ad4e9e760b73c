"""Block Kit builders and typed payloads (pure; no server)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.slack import (
    KEV_BADGE,
    ActionId,
    BlockId,
    CallbackId,
    DecisionValue,
    ModalMetadata,
    PayloadError,
    RequestAcceptanceValue,
    TicketCard,
    acceptance_modal,
    approval_request_message,
    decision_message,
    due_phrase,
    escape_mrkdwn,
    escape_truncated,
    parse_modal_submission,
    reminder_message,
    render_blocks,
    scan_missed_message,
    snapshot_summary_message,
    text_message,
    thread_parent_message,
)
from integrations.slack.blocks import safe_link
from tests.fakes.slack_fixtures import (
    acceptance_modal_values,
    iter_blocks_text,
    view_submission_payload,
)

NASTY = "<!channel> & <@U1> <http://x|y>"
NASTY_ESCAPED = "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;http://x|y&gt;"


def card(**changes: Any) -> TicketCard:
    base = TicketCard(
        ticket_id=42,
        title="Apache Struts RCE",
        severity="critical",
        reported_severity="high",
        kev=True,
        asset="https://app.example.com:8443",
        due_date=date(2025, 3, 1),
        days_left=5,
        policy_name="nist-800-40r4",
        status="open",
        ticket_url="https://jira.example.com/browse/SEC-7",
        ticket_key="SEC-7",
    )
    return replace(base, **changes)


def all_text(message_blocks: list[dict[str, Any]], fallback: str = "") -> list[str]:
    return [fallback, *iter_blocks_text(message_blocks)]


def control_sequences(text: str) -> list[str]:
    """Every ``<...>`` Slack would interpret in a mrkdwn string."""
    return re.findall(r"<[^<>]*>", text)


def mrkdwn_objects(obj: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(obj, dict):
        if obj.get("type") == "mrkdwn":
            found.append(obj)
        for value in obj.values():
            found += mrkdwn_objects(value)
    elif isinstance(obj, list):
        for value in obj:
            found += mrkdwn_objects(value)
    return found


def element(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for block in blocks:
        for el in block.get("elements", []) if block["type"] == "actions" else []:
            if el["action_id"] == action_id:
                return dict(el)
    raise AssertionError(f"no element {action_id}")


# -- escaping ---------------------------------------------------------------------------
def test_escape_mrkdwn() -> None:
    assert escape_mrkdwn(NASTY) == NASTY_ESCAPED
    assert escape_mrkdwn("&lt;") == "&amp;lt;"  # pre-escaped input stays literal


@pytest.mark.parametrize(
    "kind",
    ["open", "reminder", "escalation", "kev_escalation", "expiry_warning", "acceptance_expired"],
)
def test_untrusted_text_renders_inert(kind: Any) -> None:
    evil = card(title=NASTY, asset=NASTY, policy_name=NASTY, ticket_key=NASTY, ticket_url=None)
    msg = reminder_message(evil, kind=kind, mention_user_id="U0ASSIGNEE")
    for text in all_text(msg.blocks, msg.text):
        # The only control sequence is the mention slabot itself wrote.
        assert set(control_sequences(text)) <= {"<@U0ASSIGNEE>"}, text
    assert NASTY_ESCAPED in msg.text
    assert any(NASTY_ESCAPED in t for t in iter_blocks_text(msg.blocks))
    assert all(obj["verbatim"] is True for obj in mrkdwn_objects(msg.blocks))


def test_every_builder_escapes() -> None:
    evil = card(title=NASTY, asset=NASTY, ticket_key=NASTY)
    messages = [
        thread_parent_message(evil),
        approval_request_message(
            request_id=3,
            card=evil,
            requester_id="U0REQ",
            justification=NASTY,
            controls=NASTY,
            expires_on=date(2025, 4, 1),
        ),
        decision_message(
            request_id=3,
            card=evil,
            decision="rejected",
            approver_id="U0LEAD",
            decided_at=datetime(2025, 3, 1, 9, tzinfo=UTC),
            expires_on=None,
            requester_id="U0REQ",
            justification=NASTY,
        ),
        snapshot_summary_message(week="2025-W09", figures={NASTY: NASTY}, uri=NASTY),
        scan_missed_message(
            target=NASTY,
            window_start=datetime(2025, 3, 3, 2, tzinfo=UTC),
            window_end=datetime(2025, 3, 10, 2, tzinfo=UTC),
        ),
        text_message(NASTY),
    ]
    allowed = {"<@U0REQ>", "<@U0LEAD>", "<https://jira.example.com/browse/SEC-7|" + NASTY_ESCAPED}
    for msg in messages:
        for text in all_text(msg.blocks, msg.text):
            for seq in control_sequences(text):
                assert any(seq.startswith(a) for a in allowed), (seq, text)
        assert NASTY not in json.dumps(msg.blocks)


def test_ticket_link_is_safe() -> None:
    link = safe_link("https://jira.example.com/browse/SEC-7?a=1&b=<x>|<!channel>", "SEC-7")
    assert link is not None
    assert link.count("<") == 1 and link.count(">") == 1 and link.count("|") == 1
    assert "&amp;b=" in link and "%3Cx%3E%7C%3C!channel%3E" in link
    assert safe_link("javascript:alert(1)", "x") is None
    assert safe_link("ftp://host/x", "x") is None
    assert safe_link(None, "x") is None
    msg = reminder_message(
        card(ticket_url="javascript:alert(1)"), kind="open", mention_user_id=None
    )
    assert "javascript" not in json.dumps(msg.blocks)
    assert "SEC-7" in render_blocks(msg.blocks)


def test_mentions_must_be_user_ids() -> None:
    with pytest.raises(ValueError, match="not a Slack user id"):
        reminder_message(card(), kind="reminder", mention_user_id="here> <!channel")


@given(st.text(alphabet="ab&<>é", max_size=60), st.integers(min_value=1, max_value=40))
def test_escape_truncated_never_splits_entities(text: str, limit: int) -> None:
    out = escape_truncated(text, limit)
    assert len(out) <= limit
    assert "<" not in out and ">" not in out
    assert re.sub(r"&(amp|lt|gt);", "", out).count("&") == 0
    if len(escape_mrkdwn(text)) <= limit:
        assert out == escape_mrkdwn(text)


# -- content ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("days_left", "phrase"),
    [(10, "10 days left"), (1, "1 day left"), (0, "due today"), (-1, "1 day overdue"),
     (-3, "3 days overdue"), (None, "no due date")],
)  # fmt: skip
def test_due_phrase(days_left: int | None, phrase: str) -> None:
    assert due_phrase(days_left) == phrase


def test_reminder_shows_kev_badge_severity_due_and_policy() -> None:
    msg = reminder_message(card(), kind="reminder", mention_user_id="U0ASSIGNEE")
    text = render_blocks(msg.blocks)
    assert KEV_BADGE in text and "*CRITICAL*" in text and "(reported high)" in text
    assert "2025-03-01 · 5 days left" in text
    assert "nist-800-40r4" in text
    assert "<https://jira.example.com/browse/SEC-7|SEC-7>" in text
    assert msg.text.startswith("<@U0ASSIGNEE> Reminder: Apache Struts RCE (critical, KEV, ")
    plain = reminder_message(card(kev=False, reported_severity="critical"), kind="reminder",
                             mention_user_id=None)  # fmt: skip
    assert KEV_BADGE not in render_blocks(plain.blocks) and "reported" not in plain.text


def test_overdue_wording_and_escalation_note() -> None:
    msg = reminder_message(card(days_left=-4), kind="escalation", mention_user_id=None)
    text = render_blocks(msg.blocks)
    assert "*2025-03-01 · 4 days overdue*" in text
    assert "escalated to the security team" in text
    assert "4 days overdue" in msg.text


def test_kinds_have_distinct_headers() -> None:
    kinds = ["open", "reminder", "escalation", "kev_escalation", "expiry_warning",
             "acceptance_expired"]  # fmt: skip
    headers = {
        reminder_message(card(), kind=k, mention_user_id=None).blocks[0]["text"]["text"]  # type: ignore[arg-type]
        for k in kinds
    }
    assert len(headers) == len(kinds)
    with pytest.raises(ValueError, match="unknown message kind"):
        reminder_message(card(), kind="nag", mention_user_id=None)  # type: ignore[arg-type]
    warn = reminder_message(
        card(status="risk_accepted"),
        kind="expiry_warning",
        mention_user_id=None,
        acceptance_expires_on=date(2025, 3, 8),
    )
    assert "expires on 2025-03-08" in render_blocks(warn.blocks)


def test_request_button_round_trips() -> None:
    msg = reminder_message(card(), kind="open", mention_user_id=None)
    btn = element(msg.blocks, ActionId.REQUEST_ACCEPTANCE)
    assert btn["action_id"] == "risk_acceptance.request"
    assert btn["text"]["text"] == "Request risk acceptance"
    assert RequestAcceptanceValue.loads(btn["value"]) == RequestAcceptanceValue(ticket_id=42)
    for status in ("resolved", "risk_accepted"):
        done = reminder_message(card(status=status), kind="reminder", mention_user_id=None)
        assert not [b for b in done.blocks if b["type"] == "actions"]


def test_thread_parent_shows_current_status_and_due_line() -> None:
    msg = thread_parent_message(card(status="in_progress", days_left=-2))
    text = render_blocks(msg.blocks)
    assert "in progress" in text and "2 days overdue" in text
    assert element(msg.blocks, "risk_acceptance.request")
    resolved = thread_parent_message(card(status="resolved"))
    assert "resolved" in resolved.text and "[Request" not in render_blocks(resolved.blocks)


def test_approval_request_and_decision() -> None:
    msg = approval_request_message(
        request_id=7,
        card=card(),
        requester_id="U0REQ",
        justification="WAF rule blocks the exploit path.\nVendor patch due next sprint.",
        controls="WAF rule 9001",
        expires_on=date(2025, 4, 1),
    )
    approve = element(msg.blocks, "risk_acceptance.approve")
    reject = element(msg.blocks, "risk_acceptance.reject")
    assert approve["style"] == "primary" and reject["style"] == "danger"
    assert DecisionValue.loads(approve["value"]).request_id == 7
    assert json.loads(reject["value"]) == {"request_id": 7}
    actions_block = next(b for b in msg.blocks if b["type"] == "actions")
    assert actions_block["block_id"] == BlockId.DECISION
    text = render_blocks(msg.blocks)
    assert ">WAF rule blocks the exploit path. ⏎ >Vendor patch due next sprint." in text
    assert "<@U0REQ>" in msg.text and "2025-04-01" in msg.text

    done = decision_message(
        request_id=7,
        card=card(),
        decision="approved",
        approver_id="U0LEAD",
        decided_at=datetime(2025, 3, 1, 10, 30, tzinfo=UTC),
        expires_on=date(2025, 4, 1),
    )
    assert not [b for b in done.blocks if b["type"] == "actions"]
    done_text = render_blocks(done.blocks)
    assert "*Approved* by <@U0LEAD> until *2025-04-01*" in done_text
    assert "decided 2025-03-01 10:30 UTC" in done_text
    rejected = decision_message(request_id=7, card=card(), decision="rejected",
                                approver_id="U0LEAD", decided_at=datetime(2025, 3, 1),
                                expires_on=None)  # fmt: skip
    assert "*Rejected* by <@U0LEAD>" in render_blocks(rejected.blocks)


def test_snapshot_and_scan_missed() -> None:
    figures = {f"figure_{i}": i for i in range(12)} | {"closed_within_sla_pct": 97.456}
    msg = snapshot_summary_message(week="2025-W09", figures=figures, uri="s3://bucket/key.json")
    sections = [b for b in msg.blocks if b["type"] == "section"]
    assert [len(s["fields"]) for s in sections] == [10, 3]
    text = render_blocks(msg.blocks)
    assert "*closed within sla pct*\n97.5" in json.dumps(msg.blocks, ensure_ascii=False).replace(
        "\\n", "\n"
    )
    assert "s3://bucket/key.json" in text and "2025-W09" in msg.text
    gap = scan_missed_message(
        target="https://app.example.com",
        window_start=datetime(2025, 3, 3, 2, tzinfo=UTC),
        window_end=datetime(2025, 3, 10, 2, tzinfo=UTC),
    )
    assert "between 2025-03-03 02:00 UTC and 2025-03-10 02:00 UTC" in render_blocks(gap.blocks)


def test_long_text_is_truncated_within_slack_limits() -> None:
    msg = approval_request_message(request_id=1, card=card(title="&" * 5000),
                                   requester_id="U0REQ", justification="<" * 5000,
                                   controls=None, expires_on=date(2025, 4, 1))  # fmt: skip
    for block in msg.blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000


# -- payloads ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "[]",
        '{"ticket_id": "42"}',  # strict: no string coercion
        '{"ticket_id": 42.5}',
        '{"ticket_id": -1}',
        '{"ticket_id": 42, "admin": true}',  # extra fields are rejected
        '{"request_id": 42}',  # a DecisionValue is not a RequestAcceptanceValue
        '{"ticket_id": ' + "1" * 3000 + "}",
    ],
)
def test_tampered_button_value_raises_payload_error(raw: str) -> None:
    with pytest.raises(PayloadError):
        RequestAcceptanceValue.loads(raw)


def test_modal_metadata_round_trip() -> None:
    meta = ModalMetadata(ticket_id=42, channel="C0SLABOT", thread_ts="1700000001.000001")
    assert ModalMetadata.loads(meta.dumps()) == meta
    bare = ModalMetadata(ticket_id=42, channel=None, thread_ts=None)
    assert bare.dumps() == '{"ticket_id":42}'
    assert ModalMetadata.loads(bare.dumps()) == bare
    with pytest.raises(PayloadError, match="ticket_id"):
        ModalMetadata.loads('{"channel": "C1"}')
    with pytest.raises(PayloadError):
        ModalMetadata.loads(None)


def test_acceptance_modal_shape() -> None:
    view = acceptance_modal(
        ticket=card(),
        max_expiry=date(2025, 3, 31),
        min_justification=20,
        private_metadata=ModalMetadata(ticket_id=42, channel="C1", thread_ts=None).dumps(),
        initial_expiry=date(2025, 6, 1),
    )
    assert view["type"] == "modal" and view["callback_id"] == CallbackId.ACCEPTANCE_SUBMIT
    assert len(view["title"]["text"]) <= 24
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["justification", "expires_on", "controls"]
    assert inputs["justification"]["element"]["multiline"] is True
    assert inputs["justification"]["element"]["min_length"] == 20
    assert inputs["expires_on"]["element"]["type"] == "datepicker"
    assert inputs["expires_on"]["element"]["initial_date"] == "2025-03-31"  # clamped to max
    assert inputs["controls"]["optional"] is True
    assert ModalMetadata.loads(view["private_metadata"]).channel == "C1"
    json.dumps(view)  # serialisable as is
    with pytest.raises(ValueError, match="private_metadata"):
        acceptance_modal(ticket=card(), max_expiry=date(2025, 3, 31), min_justification=1,
                         private_metadata="x" * 3001)  # fmt: skip


def test_parse_modal_submission() -> None:
    values = acceptance_modal_values(
        justification="  Compensated by WAF rule 9001 until patch.  ",
        expires_on=date(2025, 3, 20),
        controls="   ",
    )
    payload = view_submission_payload(callback_id="risk_acceptance.submit", values=values)
    form = parse_modal_submission(payload["view"])
    assert form.justification == "Compensated by WAF rule 9001 until patch."
    assert form.expires_on == date(2025, 3, 20)
    assert form.controls is None
    empty = parse_modal_submission(
        {"state": {"values": acceptance_modal_values(justification=None, expires_on=None)}}
    )
    assert (empty.justification, empty.expires_on, empty.controls) == ("", None, None)


@pytest.mark.parametrize(
    "view",
    [
        {},
        {"state": {}},
        {"state": {"values": []}},
        {"state": {"values": acceptance_modal_values(justification="x", expires_on="03/20/2025")}},
        {"state": {"values": {"justification": {"justification_input": {"value": 5}}}}},
        {"state": {"values": {"justification": "x"}}},
    ],
)
def test_parse_modal_submission_rejects_malformed_views(view: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        parse_modal_submission(view)
