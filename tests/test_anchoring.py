"""Anchoring the log to written snapshots: truncation and rewritten history are named."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from bot.context import AppContext
from bot.database.core import transaction
from bot.events.chain import GENESIS_HASH, row_digest
from bot.events.service import iter_rows
from bot.snapshots.anchoring import verify_with_anchors
from bot.snapshots.service import write_snapshot
from bot.snapshots.weeks import IsoWeek
from tests.test_snapshot_support import D0, History

W02, W03 = IsoWeek(2026, 2), IsoWeek(2026, 3)


def _two_anchored_weeks(ctx: AppContext) -> tuple[int, int]:
    h = History(ctx)
    for i in range(3):
        h.open_ticket(D0 + timedelta(days=i))
    a = write_snapshot(ctx, week=W02, now=W02.end + timedelta(hours=2))
    for i in range(3):
        h.open_ticket(W03.start + timedelta(days=i))
    b = write_snapshot(ctx, week=W03, now=W03.end + timedelta(hours=2))
    h.open_ticket(W03.end + timedelta(days=1))
    return a.head_seq, b.head_seq


def test_intact_log_passes(ctx: AppContext) -> None:
    a, b = _two_anchored_weeks(ctx)
    assert (a, b) == (3, 7)  # W03's head follows W02's snapshot.written event (seq 4)
    with ctx.sessions() as session:
        report = verify_with_anchors(session)
    assert report.ok and report.anchors_checked == 2 and report.messages() == []


def test_truncated_tail_is_named(ctx: AppContext) -> None:
    _, b = _two_anchored_weeks(ctx)
    with transaction(ctx.sessions) as session:
        session.execute(text("DELETE FROM events WHERE seq >= 6"))
    with ctx.sessions() as session:
        report = verify_with_anchors(session)
    assert report.chain.ok  # what is left of the chain is intact: only the anchors can tell
    assert not report.ok
    assert report.messages() == [
        f"log truncated: snapshot 2026-W03 anchored seq {b} but the log ends at 5"
    ]
    assert report.as_json()["anchor_problems"][0]["problem"] == "truncated"


def test_modified_anchored_row_is_named(ctx: AppContext) -> None:
    a, _ = _two_anchored_weeks(ctx)
    with transaction(ctx.sessions) as session:
        session.execute(text("UPDATE events SET hash = :h WHERE seq = :s"), {"h": "f" * 64, "s": a})
    with ctx.sessions() as session:
        report = verify_with_anchors(session)
    messages = report.messages()
    assert messages[0].startswith(f"chain broken at seq {a} (modified)")
    assert messages[1].startswith(f"history rewritten: seq {a} hash differs from snapshot 2026-W02")


def test_rehashed_history_is_caught_by_the_anchors(ctx: AppContext) -> None:
    """An attacker who edits a row and recomputes every later hash keeps the chain valid."""
    a, b = _two_anchored_weeks(ctx)
    with ctx.sessions() as session:
        rows = list(iter_rows(session))
    prev = GENESIS_HASH
    with transaction(ctx.sessions) as session:
        for row in rows:
            if row["seq"] == 1:
                row["actor"] = "mallory"
            row["prev_hash"] = prev
            row["hash"] = prev = row_digest(prev, row)
            session.execute(
                text("UPDATE events SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"),
                {"a": row["actor"], "p": row["prev_hash"], "h": row["hash"], "s": row["seq"]},
            )
    with ctx.sessions() as session:
        report = verify_with_anchors(session)
    assert report.chain.ok and not report.ok
    assert [p.message.split(" (")[0] for p in report.problems] == [
        f"history rewritten: seq {a} hash differs from snapshot 2026-W02",
        f"history rewritten: seq {b} hash differs from snapshot 2026-W03",
    ]
