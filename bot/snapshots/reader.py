"""Reading the event log up to a cutoff: one streamed pass that verifies and replays.

The head at the cutoff is the last event recorded before it. Every row up to that head is read
once, oldest first, through one streamed cursor (server-side on PostgreSQL; constant memory):
the hash chain is verified over exactly that prefix while the same rows feed the replay.

This is the hot path of the snapshot (a million rows in seconds), so rows are read as raw
driver values and decoded here rather than through the ORM types. The hash rule itself is
:func:`bot.events.chain.row_digest`'s, with one shortcut: on SQLite a timestamp is stored as
``YYYY-MM-DD HH:MM:SS.ffffff`` (naive UTC), which is already the hashed ISO spelling but for
the ``T`` and the ``Z``; any other stored spelling takes the general path. The tests check
this reader against :func:`bot.events.chain.verify_rows` on intact and tampered logs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.events.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    Break,
    ChainReport,
    canonical_json,
    iso_utc,
)
from bot.events.models import Event
from bot.snapshots.replay import LogState, Replayer

BATCH = 10_000
_NAMES = ("seq", *HASHED_FIELDS, "prev_hash", "hash")
_SQL = f"SELECT {', '.join(_NAMES)} FROM events WHERE seq <= ? ORDER BY seq"  # noqa: S608


def head_before(session: Session, cutoff: datetime) -> tuple[int, str]:
    """Sequence number and hash of the last event recorded before ``cutoff`` (0 = none)."""
    row = session.execute(
        select(Event.seq, Event.hash)
        .where(Event.recorded_at < cutoff)
        .order_by(Event.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def _sqlite_iso(raw: Any) -> str:
    if isinstance(raw, str) and len(raw) == 26 and raw[10] == " ":
        return f"{raw[:10]}T{raw[11:]}Z"
    return iso_utc(_as_datetime(raw))


def _any_iso(raw: Any) -> str:
    return iso_utc(_as_datetime(raw))


def _as_datetime(raw: Any) -> datetime:
    value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).rstrip("Z"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _from_iso(value: str) -> datetime:
    """Back from the ``...Z`` spelling (fixed width) to an aware datetime."""
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)


def _details(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str | bytes):
        raw = orjson.loads(raw)
    return raw if isinstance(raw, dict) else {}


_PLAIN = _NAMES[3:11]  # kind … external_id: the columns stored as they are hashed


def _plain_columns(raw: Any) -> dict[str, Any]:
    """The plain columns of a raw row, shared by the exact hash check and the replay."""
    return dict(zip(_PLAIN, raw[3:11], strict=True))


def _hash_input(
    at: str,
    recorded_at: str,
    kind: Any,
    ticket_id: Any,
    finding_id: Any,
    from_state: Any,
    to_state: Any,
    actor: Any,
    source: Any,
    external_id: Any,
    details_text: str,
) -> bytes:
    """``canonical_json`` of the hashed fields with ``details`` spliced in as stored text
    (keys in sorted order: actor, at, details, external_id, … as OPT_SORT_KEYS writes them)."""
    before = canonical_json({"actor": actor, "at": at})
    after = canonical_json(
        {
            "external_id": external_id,
            "finding_id": finding_id,
            "from_state": from_state,
            "kind": kind,
            "recorded_at": recorded_at,
            "source": source,
            "ticket_id": ticket_id,
            "to_state": to_state,
        }
    )
    return before[:-1] + b',"details":' + details_text.encode() + b"," + after[1:]


def stream_raw(session: Session, *, upto_seq: int) -> Iterator[Any]:
    """Raw driver rows (columns in ``_NAMES`` order) with ``seq <= upto_seq``, oldest first.

    Straight from the driver's cursor, as plain tuples: building a SQLAlchemy row for each of
    a million events cost more than reading it. On PostgreSQL a named (server-side) cursor
    streams them; SQLite's cursor steps through the result as it is fetched."""
    connection = session.connection()
    dbapi = connection.connection
    if connection.dialect.name == "postgresql":
        cursor = dbapi.cursor(name="slabot_event_log")
        cursor.execute(_SQL.replace("?", "%s"), (upto_seq,))
    else:
        cursor = dbapi.cursor()
        cursor.execute(_SQL, (upto_seq,))
    try:
        while True:
            chunk = cursor.fetchmany(BATCH)
            if not chunk:
                return
            yield from chunk
    finally:
        cursor.close()


def stream_rows(session: Session, *, upto_seq: int) -> Iterator[dict[str, Any]]:
    """Rows with ``seq <= upto_seq`` as the mappings :func:`bot.events.service.iter_rows`
    yields (aware datetimes, details decoded), oldest first."""
    for raw in stream_raw(session, upto_seq=upto_seq):
        row = dict(zip(_NAMES, raw, strict=True))
        row["at"] = _as_datetime(row["at"])
        row["recorded_at"] = _as_datetime(row["recorded_at"])
        row["details"] = _details(row["details"])
        yield row


class ChainChecker:
    """:func:`bot.events.chain.verify_rows`, fed one decoded row at a time."""

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.checked = 0
        self.broken: Break | None = None

    def check(self, seq: int, payload: dict[str, Any], prev_hash: str, row_hash: str) -> None:
        """``payload``: the hashed fields, times already in their ISO spelling."""
        if self.broken is not None:
            return
        if seq != self.expected_seq:
            self.broken = Break(
                self.expected_seq,
                "missing",
                f"rows {self.expected_seq}..{seq - 1} are missing (next present row is {seq})",
            )
            return
        digest = hashlib.sha256(prev_hash.encode("ascii") + canonical_json(payload)).hexdigest()
        if digest != row_hash:
            self.broken = Break(
                seq, "modified", "content does not match its hash (row was modified)"
            )
            return
        if prev_hash != self.prev_hash:
            self.broken = Break(
                seq,
                "reordered",
                "prev_hash does not link to the previous row "
                "(rows were reordered, or a row was replaced)",
            )
            return
        self.prev_hash = row_hash
        self.checked += 1
        self.expected_seq += 1

    def check_fast(self, seq: int, body: bytes, prev_hash: str, row_hash: str) -> bool:
        """Accept the row if ``body`` hashes to it and it links; False means "use check"."""
        if self.broken is not None:
            return True
        if (
            seq != self.expected_seq
            or prev_hash != self.prev_hash
            or hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest() != row_hash
        ):
            return False
        self.prev_hash = row_hash
        self.checked += 1
        self.expected_seq += 1
        return True

    def report(self) -> ChainReport:
        return ChainReport(self.checked, self.expected_seq - 1, self.prev_hash, self.broken)


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
    checker = ChainChecker()
    iso = _sqlite_iso if session.get_bind().dialect.name == "sqlite" else _any_iso
    cutoff_iso = iso_utc(cutoff)
    check, wants, feed, count = checker.check, replayer.wants, replayer.feed, replayer.count
    for raw in stream_raw(session, upto_seq=head_seq):
        seq, at, recorded_at, kind, tid, fid, from_, to, actor, source, ext, det, prev, h = raw
        at_iso, rec_iso = iso(at), iso(recorded_at)
        details: dict[str, Any] | None = None

        # Fast path: slabot stores ``details`` as its canonical JSON text, so the hashed bytes
        # can be assembled around it without decoding and re-encoding. Any mismatch (another
        # spelling, or tampering) falls back to the exact check below, which names the break.
        if not (
            isinstance(det, str)
            and checker.check_fast(
                int(seq),
                _hash_input(at_iso, rec_iso, kind, tid, fid, from_, to, actor, source, ext, det),
                prev,
                h,
            )
        ):
            details = _details(det)
            check(
                int(seq),
                {**_plain_columns(raw), "at": at_iso, "recorded_at": rec_iso, "details": details},
                prev,
                h,
            )
        if rec_iso >= cutoff_iso:
            continue
        if not wants(kind):
            count(int(seq), h)
            continue
        feed(
            {
                **_plain_columns(raw),
                "seq": int(seq),
                "hash": h,
                "at": _from_iso(at_iso),
                "recorded_at": _from_iso(rec_iso),
                "details": details if details is not None else _details(det),
            }
        )
    return CutoffRead(replayer.state, checker.report())
