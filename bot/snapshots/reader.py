"""Reading the event log up to a cutoff: the hash chain verified, the state replayed.

The head at the cutoff is the last event recorded before it. Every row up to that head is
verified, oldest first, and the rows recorded before the cutoff are replayed. Rows are read as
raw driver values through streamed cursors (server-side on PostgreSQL; constant memory) and
decoded here rather than through the ORM types: this is the hot path of the snapshot, a
million rows. Verification is :mod:`bot.snapshots.chain_check`.

A long log is read two ways at once: a helper process verifies the chain over every row
(:mod:`bot.snapshots.verifier`) while this one replays only the rows of the kinds that change
state. A short log, a database only this process can see, or a helper that fails: one pass
here does both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.database.core import driver_params
from bot.database.driver import stream_query
from bot.events.chain import GENESIS_HASH, ChainReport, iso_utc
from bot.events.models import Event
from bot.snapshots.chain_check import (
    EVENT_COLUMNS,
    SELECT_EVENTS,
    ChainChecker,
    Iso,
    VerifiedPrefix,
    any_iso,
    as_datetime,
    details_of,
    from_iso,
    plain_columns,
    sqlite_iso,
)
from bot.snapshots.replay import STATE_KINDS, LogState, Replayer
from bot.snapshots.verifier import ChainVerification, wait_after

log = logging.getLogger(__name__)

BATCH = 10_000
# From this many events on, the chain is verified by a helper process beside the replay (it
# costs a fraction of a second to start; on a million events it saves about a third).
SEPARATE_VERIFICATION_MIN_EVENTS = 50_000


def head_before(session: Session, cutoff: datetime) -> tuple[int, str]:
    """Sequence number and hash of the last event recorded before ``cutoff`` (0 = none)."""
    row = session.execute(
        select(Event.seq, Event.hash)
        .where(Event.recorded_at < cutoff)
        .order_by(Event.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def stream_raw(
    session: Session, *, upto_seq: int, kinds: Sequence[str] | None = None
) -> Iterator[Any]:
    """Raw driver rows (columns in ``EVENT_COLUMNS`` order) with ``seq <= upto_seq``, oldest
    first; only rows of ``kinds`` when given."""
    if kinds is None:
        return stream_where(session, "seq <= ?", [upto_seq])
    if session.get_bind().dialect.name == "postgresql":
        return stream_where(session, "seq <= ? AND kind = ANY(?)", [upto_seq, list(kinds)])
    # "+kind": walk the table in seq order and filter, rather than gather the rows through
    # the kind index and sort them.
    marks = ", ".join("?" * len(kinds))
    return stream_where(session, f"seq <= ? AND +kind IN ({marks})", [upto_seq, *kinds])


def stream_where(session: Session, condition: str, params: Sequence[Any]) -> Iterator[Any]:
    """Raw driver rows (columns in ``EVENT_COLUMNS`` order) that meet ``condition`` (written
    with ``?`` placeholders, values in driver form), oldest first: straight from the driver's
    cursor, as plain tuples, since building a SQLAlchemy row for each of a million events cost
    more than reading it."""
    connection = session.connection()
    return stream_query(
        connection.connection,
        f"{SELECT_EVENTS} WHERE {condition} ORDER BY seq",
        params,
        postgresql=connection.dialect.name == "postgresql",
        cursor_name="slabot_event_log",
        batch=BATCH,
    )


def stream_rows(session: Session, *, upto_seq: int) -> Iterator[dict[str, Any]]:
    """Rows with ``seq <= upto_seq`` as the mappings :func:`bot.events.service.iter_rows`
    yields (aware datetimes, details decoded), oldest first."""
    for raw in stream_raw(session, upto_seq=upto_seq):
        row = dict(zip(EVENT_COLUMNS, raw, strict=True))
        row["at"] = as_datetime(row["at"])
        row["recorded_at"] = as_datetime(row["recorded_at"])
        row["details"] = details_of(row["details"])
        yield row


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
    iso = sqlite_iso if session.get_bind().dialect.name == "sqlite" else any_iso
    verification = _start_verification(session, head_seq=head_seq, cutoff=cutoff)
    if verification is not None:
        try:
            replayer = Replayer(cutoff=cutoff, period_start=period_start)
            started = time.monotonic()
            _replay_state_rows(session, replayer, head_seq=head_seq, iso=iso)
            verified = verification.result(timeout=wait_after(time.monotonic() - started))
        finally:
            verification.close()
        if verified is not None and _reaches(verified, head_seq):
            state = replayer.state
            state.replayed = verified.replayed
            state.head_seq, state.head_hash = verified.head_seq, verified.head_hash
            return CutoffRead(state, verified.chain)
    return _read_in_one_pass(
        session, cutoff=cutoff, period_start=period_start, head_seq=head_seq, iso=iso
    )


def _reaches(verified: VerifiedPrefix, head_seq: int) -> bool:
    """Whether the helper read the same log up to the same head (a database lagging behind
    this one, say a standby, would report an intact but shorter chain)."""
    chain = verified.chain
    if verified.head_seq == head_seq and (chain.broken is not None or chain.head_seq == head_seq):
        return True
    log.warning(
        "chain verifier reached seq %s (chain %s), not the head %s; verifying in process",
        verified.head_seq,
        chain.head_seq,
        head_seq,
    )
    return False


def _start_verification(
    session: Session, *, head_seq: int, cutoff: datetime
) -> ChainVerification | None:
    if head_seq < SEPARATE_VERIFICATION_MIN_EVENTS:
        return None
    connect = driver_params(session.get_bind().engine)
    if connect is None:
        return None  # no other process can see the database
    return ChainVerification.start(connect, upto_seq=head_seq, cutoff_iso=iso_utc(cutoff))


def _replay_state_rows(session: Session, replayer: Replayer, *, head_seq: int, iso: Iso) -> None:
    """Replay the rows that change state; counting every row and the head is the verifier's."""
    cutoff_iso = iso_utc(replayer.state.cutoff)
    apply = replayer.apply
    for raw in stream_raw(session, upto_seq=head_seq, kinds=sorted(STATE_KINDS)):
        rec_iso = iso(raw[2])
        if rec_iso < cutoff_iso:
            apply(_replay_row(raw, iso(raw[1]), rec_iso, None))


def _read_in_one_pass(
    session: Session, *, cutoff: datetime, period_start: datetime, head_seq: int, iso: Iso
) -> CutoffRead:
    replayer = Replayer(cutoff=cutoff, period_start=period_start)
    checker = ChainChecker()
    cutoff_iso = iso_utc(cutoff)
    check_raw, count, feed = checker.check_raw, replayer.count, replayer.feed
    for raw in stream_raw(session, upto_seq=head_seq):
        at_iso, rec_iso = iso(raw[1]), iso(raw[2])
        details = check_raw(raw, at_iso, rec_iso)
        if rec_iso >= cutoff_iso:
            continue
        if raw[3] in STATE_KINDS:
            feed(_replay_row(raw, at_iso, rec_iso, details))
        else:
            count(int(raw[0]), raw[13])
    return CutoffRead(replayer.state, checker.report())


def _replay_row(
    raw: Any, at_iso: str, rec_iso: str, details: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        **plain_columns(raw),
        "seq": int(raw[0]),
        "hash": raw[13],
        "at": from_iso(at_iso),
        "recorded_at": from_iso(rec_iso),
        "details": details if details is not None else details_of(raw[11]),
    }
