"""Appending to the event log and reading it back.

Appends run inside the caller's transaction, so an event is stored if and only if the change
it describes is. On PostgreSQL a transaction-scoped advisory lock serializes appenders (the
chain needs a single head); on SQLite ``BEGIN IMMEDIATE`` already holds the write lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Counter as MetricCounter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.database.bulk import (
    advisory_xact_lock,
    converter,
    driver_rows,
    execute_many,
    insert_sql,
    json_text_converter,
)
from bot.database.core import table_of
from bot.events.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    ChainReport,
    canonical_json,
    chain_hash,
    hashed_bytes,
    iso_utc,
    verify_rows,
)
from bot.events.models import Event
from bot.metrics import REGISTRY

EVENTS_APPENDED = MetricCounter(
    "slabot_events_appended_total", "Events appended to the log", ["kind"], registry=REGISTRY
)
# Any constant works; it only has to be the same in every slabot process.
EVENT_LOG_LOCK_ID = 0x51AB07


@dataclass(slots=True)
class NewEvent:
    kind: str
    at: datetime
    source: str
    ticket_id: int | None = None
    finding_id: int | None = None
    from_state: str | None = None
    to_state: str | None = None
    actor: str | None = None
    external_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


_HEAD_KEY = "slabot.event_head"


def _lock_and_read_head(session: Session) -> tuple[int, str]:
    cached = session.info.get(_HEAD_KEY)
    transaction = session.get_transaction()
    if cached is not None and cached[0] is transaction:
        return cached[1], cached[2]
    advisory_xact_lock(session, EVENT_LOG_LOCK_ID)
    rows = driver_rows(session, _HEAD_SQL)
    return (0, GENESIS_HASH) if not rows else (int(rows[0][0]), str(rows[0][1]))


_HEAD_SQL = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
# The parameters below follow this order: the hashed fields, between seq and the hashes.
_INSERT_SQL = insert_sql(table_of(Event), ("seq", *HASHED_FIELDS, "prev_hash", "hash"))


def append_events(session: Session, events: Sequence[NewEvent], *, now: datetime) -> list[int]:
    """Append events in order; returns their sequence numbers. Batched in one INSERT.

    ``details`` is serialized once, canonically: those bytes are hashed and (on SQLite) stored
    as the column's text, so what is hashed is exactly what is stored."""
    if not events:
        return []
    seq, prev_hash = _lock_and_read_head(session)
    first_seq = seq + 1
    stored_time = converter(session, table_of(Event), "at")
    json_param = json_text_converter(session)
    times: dict[datetime, tuple[str, Any]] = {}

    def spelled(value: datetime) -> tuple[str, Any]:
        """(hashed ISO text, stored value) of a time, once per distinct time in the batch."""
        known = times.get(value)
        if known is None:
            known = times[value] = (iso_utc(value), stored_time(value))
        return known

    recorded_iso, recorded_db = spelled(now)
    params: list[tuple[Any, ...]] = []
    for new in events:
        seq += 1
        at_iso, at_db = spelled(new.at)
        details_json = canonical_json(dict(new.details)) if new.details else b"{}"
        plain = (
            new.kind,
            new.ticket_id,
            new.finding_id,
            new.from_state,
            new.to_state,
            new.actor,
            new.source,
            new.external_id,
        )  # the columns stored as they are hashed, in HASHED_FIELDS order
        digest = chain_hash(prev_hash, hashed_bytes(at_iso, recorded_iso, *plain, details_json))
        params.append(
            (seq, at_db, recorded_db, *plain, json_param(details_json.decode()), prev_hash, digest)
        )
        prev_hash = digest
    execute_many(session, _INSERT_SQL, params)
    for kind, n in Counter(new.kind for new in events).items():
        EVENTS_APPENDED.labels(kind).inc(n)
    session.info[_HEAD_KEY] = (session.get_transaction(), seq, prev_hash)
    return list(range(first_seq, seq + 1))


def append_event(session: Session, event: NewEvent, *, now: datetime) -> int:
    return append_events(session, [event], now=now)[0]


def external_event_seen(session: Session, external_id: str) -> bool:
    """A redelivered webhook is recorded once: check before doing the work it describes."""
    return session.scalar(select(Event.seq).where(Event.external_id == external_id)) is not None


def head(session: Session) -> tuple[int, str]:
    row = session.execute(select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def iter_rows(session: Session, *, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every row as a plain mapping, oldest first, streamed in batches (constant memory)."""
    last = 0
    columns = [c for c in Event.__table__.columns]
    while True:
        chunk = (
            session.execute(
                select(*columns).where(Event.seq > last).order_by(Event.seq).limit(batch)
            )
            .mappings()
            .all()
        )
        if not chunk:
            return
        for row in chunk:
            yield dict(row)
        last = int(chunk[-1]["seq"])


def verify(session: Session) -> ChainReport:
    return verify_rows(iter_rows(session))


def ticket_history(session: Session, ticket_id: int) -> list[Event]:
    return list(
        session.scalars(select(Event).where(Event.ticket_id == ticket_id).order_by(Event.seq))
    )
