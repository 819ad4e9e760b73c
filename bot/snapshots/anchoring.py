"""Anchoring the event log to the written snapshots.

Each snapshot records the log's head (sequence and hash) at its cutoff, and its JSON copy sits
in write-once storage. The chain alone cannot notice a log cut short at its tail or rebuilt
wholesale with fresh hashes; the anchors can: every anchored head must still be in the log with
the same hash, and the log must reach at least the largest anchored sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.events.chain import ChainReport
from bot.events.models import Event
from bot.events.service import head, verify
from bot.snapshots.models import Snapshot


@dataclass(frozen=True, slots=True)
class AnchorProblem:
    week: str
    seq: int
    problem: str  # "truncated" | "rewritten"
    message: str


@dataclass(frozen=True, slots=True)
class AnchorReport:
    chain: ChainReport
    log_head_seq: int
    anchors_checked: int
    problems: list[AnchorProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    def messages(self) -> list[str]:
        lines: list[str] = []
        broken = self.chain.broken
        if broken is not None:
            lines.append(
                f"chain broken at seq {broken.seq} ({broken.problem}): {broken.reason}; "
                f"last good seq {self.chain.head_seq}"
            )
        lines.extend(p.message for p in self.problems)
        return lines

    def as_json(self) -> dict[str, Any]:
        broken = self.chain.broken
        return {
            "ok": self.ok,
            "checked": self.chain.checked,
            "head_seq": self.chain.head_seq,
            "head_hash": self.chain.head_hash,
            "broken": None
            if broken is None
            else {"seq": broken.seq, "problem": broken.problem, "reason": broken.reason},
            "log_head_seq": self.log_head_seq,
            "anchors_checked": self.anchors_checked,
            "anchor_problems": [
                {"week": p.week, "seq": p.seq, "problem": p.problem, "message": p.message}
                for p in self.problems
            ],
        }


def check_anchors(session: Session, *, log_head_seq: int) -> tuple[int, list[AnchorProblem]]:
    anchors = session.execute(
        select(Snapshot.week, Snapshot.event_head_seq, Snapshot.event_head_hash).order_by(
            Snapshot.event_head_seq, Snapshot.week
        )
    ).all()
    problems: list[AnchorProblem] = []
    checked = 0
    for week, seq, anchored_hash in anchors:
        seq = int(seq)
        if seq <= 0:
            continue
        checked += 1
        if seq > log_head_seq:
            problems.append(
                AnchorProblem(
                    week,
                    seq,
                    "truncated",
                    f"log truncated: snapshot {week} anchored seq {seq} "
                    f"but the log ends at {log_head_seq}",
                )
            )
            continue
        found = session.scalar(select(Event.hash).where(Event.seq == seq))
        if found is None:
            problems.append(
                AnchorProblem(
                    week,
                    seq,
                    "truncated",
                    f"log truncated: snapshot {week} anchored seq {seq} but that row is missing",
                )
            )
        elif found != anchored_hash:
            problems.append(
                AnchorProblem(
                    week,
                    seq,
                    "rewritten",
                    f"history rewritten: seq {seq} hash differs from snapshot {week} "
                    f"(log {found[:16]}…, anchored {anchored_hash[:16]}…)",
                )
            )
    return checked, problems


def verify_with_anchors(session: Session) -> AnchorReport:
    """Chain verification plus every snapshot's anchored head (see the module docstring)."""
    chain = verify(session)
    log_head_seq, _ = head(session)
    checked, problems = check_anchors(session, log_head_seq=log_head_seq)
    return AnchorReport(chain, log_head_seq, checked, problems)
