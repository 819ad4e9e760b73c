"""Reading the event log up to a cutoff: one streamed pass that verifies and replays.

The head at the cutoff is the last event recorded before it. Every row up to that head is read
once, oldest first, in keyset-paginated batches (constant memory): the hash chain is verified
over exactly that prefix while the same rows feed the replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.events.chain import GENESIS_HASH, ChainReport, verify_rows
from bot.events.models import Event
from bot.snapshots.replay import LogState, Replayer

BATCH = 10_000
_COLUMNS = list(Event.__table__.columns)


def head_before(session: Session, cutoff: datetime) -> tuple[int, str]:
    """Sequence number and hash of the last event recorded before ``cutoff`` (0 = none)."""
    row = session.execute(
        select(Event.seq, Event.hash)
        .where(Event.recorded_at < cutoff)
        .order_by(Event.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def stream_rows(
    session: Session, *, upto_seq: int | None = None, batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """Rows with ``seq <= upto_seq`` (all rows when None), oldest first, as plain dicts."""
    last = 0
    while True:
        query = select(*_COLUMNS).where(Event.seq > last)
        if upto_seq is not None:
            query = query.where(Event.seq <= upto_seq)
        chunk = session.execute(query.order_by(Event.seq).limit(batch)).mappings().all()
        if not chunk:
            return
        for row in chunk:
            yield dict(row)
        last = int(chunk[-1]["seq"])


@dataclass(frozen=True, slots=True)
class CutoffRead:
    state: LogState
    chain: ChainReport


def read_until(session: Session, *, cutoff: datetime, period_start: datetime) -> CutoffRead:
    """Verify the chain up to the cutoff's head and replay the log as of the cutoff.

    A broken chain does not stop the replay (the rest of the prefix is still read): the break
    is reported in the result, so the evidence says so instead of silently going missing.
    """
    head_seq, _ = head_before(session, cutoff)
    replayer = Replayer(cutoff=cutoff, period_start=period_start)

    def tap() -> Iterator[dict[str, Any]]:
        for row in stream_rows(session, upto_seq=head_seq):
            replayer.feed(row)
            yield row

    rows = tap()
    chain = verify_rows(rows)
    for _ in rows:  # after a break: finish the replay
        pass
    return CutoffRead(replayer.state, chain)
