"""The hash-chained event log: appends, verification, tampering, concurrent writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.database.core import make_session_factory, transaction
from bot.events import service as events
from bot.events.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    canonical_json,
    hashed_bytes,
    iso_utc,
    row_digest,
)
from bot.events.service import NewEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _append(engine: Engine, n: int, *, start: int = 0) -> None:
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        events.append_events(
            session,
            [
                NewEvent(
                    kind="ticket.status_changed",
                    at=T0 + timedelta(minutes=i),
                    source="system",
                    ticket_id=i % 3 + 1,
                    from_state="open",
                    to_state="in_progress",
                    actor="tester",
                    details={"i": i, "note": "ünïcode & <html>", "when": T0.date()},
                )
                for i in range(start, start + n)
            ],
            now=T0 + timedelta(hours=1),
        )


def _verify(engine: Engine) -> events.ChainReport:
    with make_session_factory(engine)() as session:
        return events.verify(session)


def test_empty_log_verifies(engine: Engine) -> None:
    report = _verify(engine)
    assert report.ok and report.checked == 0 and report.head_hash == GENESIS_HASH


def test_appends_form_a_chain_whose_head_is_reported(engine: Engine) -> None:
    _append(engine, 5)
    _append(engine, 3, start=5)
    report = _verify(engine)
    assert report.ok
    assert (report.checked, report.head_seq) == (8, 8)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, prev_hash, hash FROM events ORDER BY seq")).all()
    assert [r[0] for r in rows] == list(range(1, 9))
    assert rows[0][1] == GENESIS_HASH
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, 8))
    assert report.head_hash == rows[-1][2]


def test_details_round_trip_exactly_as_hashed(engine: Engine) -> None:
    _append(engine, 1)
    with make_session_factory(engine)() as session:
        (row,) = list(events.iter_rows(session))
    assert row["details"] == {"i": 0, "note": "ünïcode & <html>", "when": "2026-03-02"}
    assert row_digest(row["prev_hash"], row) == row["hash"]


def test_modified_row_is_named(engine: Engine) -> None:
    _append(engine, 6)
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET to_state = 'resolved' WHERE seq = 4"))
    report = _verify(engine)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (4, "modified")
    assert report.head_seq == 3


def test_modified_timestamp_is_named(engine: Engine) -> None:
    _append(engine, 3)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET at = :at WHERE seq = 2"), {"at": T0 - timedelta(days=30)}
        )
    report = _verify(engine)
    assert report.broken is not None and report.broken.seq == 2


def test_deleted_row_is_named_missing(engine: Engine) -> None:
    _append(engine, 6)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE seq = 3"))
    report = _verify(engine)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (3, "missing")
    assert "3..3" in report.broken.reason


def test_swapped_rows_are_named_reordered(engine: Engine) -> None:
    _append(engine, 6)
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET seq = 1000 WHERE seq = 4"))
        conn.execute(text("UPDATE events SET seq = 4 WHERE seq = 5"))
        conn.execute(text("UPDATE events SET seq = 5 WHERE seq = 1000"))
    report = _verify(engine)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (4, "reordered")


def test_rehashed_forgery_still_breaks_the_link(engine: Engine) -> None:
    """Recomputing a forged row's own hash is not enough: the next row no longer links."""
    _append(engine, 4)
    with make_session_factory(engine)() as session:
        rows = list(events.iter_rows(session))
    forged = dict(rows[1], to_state="resolved")
    new_hash = row_digest(forged["prev_hash"], forged)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET to_state='resolved', hash=:h WHERE seq=2"), {"h": new_hash}
        )
    report = _verify(engine)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (3, "reordered")


def test_external_id_is_recorded_once(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    event = NewEvent(kind="jira.webhook", at=T0, source="jira", external_id="delivery-1")
    with transaction(sessions) as session:
        events.append_event(session, event, now=T0)
    with transaction(sessions) as session:
        assert events.external_event_seen(session, "delivery-1")
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        events.append_event(session, event, now=T0)
    assert _verify(engine).checked == 1


def test_rolled_back_append_leaves_no_trace(engine: Engine) -> None:
    _append(engine, 2)
    sessions = make_session_factory(engine)
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        events.append_event(session, NewEvent(kind="x", at=T0, source="system"), now=T0)
        raise RuntimeError("boom")
    _append(engine, 1, start=2)
    report = _verify(engine)
    assert report.ok and report.head_seq == 3


def test_concurrent_writers_keep_a_valid_chain(engine: Engine) -> None:
    """Eight threads, each with its own connection, append 25 single-event transactions."""
    errors: list[BaseException] = []
    sessions = make_session_factory(engine)

    def writer(worker: int) -> None:
        try:
            for i in range(25):
                with transaction(sessions) as session:
                    events.append_event(
                        session,
                        NewEvent(kind="w", at=T0, source="system", details={"w": worker, "i": i}),
                        now=T0,
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = _verify(engine)
    assert report.ok and report.checked == 200


_texts = st.none() | st.text(max_size=20)
_ids = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.text(max_size=20),
    ids=st.tuples(_ids, _ids),
    states=st.tuples(_texts, _texts, _texts, _texts),
    source=st.text(max_size=8),
    details=st.dictionaries(st.text(max_size=8), _json, max_size=5),
    at=st.datetimes(timezones=st.just(UTC)),
)
def test_hashed_bytes_are_the_canonical_json_of_the_row(
    kind: str,
    ids: tuple[int | None, int | None],
    states: tuple[str | None, str | None, str | None, str | None],
    source: str,
    details: dict[str, object],
    at: datetime,
) -> None:
    """The one encoding that appends and verifications hash is the documented rule: the
    canonical JSON (sorted keys) of every hashed column."""
    (ticket_id, finding_id), (from_state, to_state, actor, external_id) = ids, states
    row = {
        "at": iso_utc(at),
        "recorded_at": iso_utc(at + timedelta(seconds=1)),
        "kind": kind,
        "ticket_id": ticket_id,
        "finding_id": finding_id,
        "from_state": from_state,
        "to_state": to_state,
        "actor": actor,
        "source": source,
        "external_id": external_id,
        "details": details,
    }
    assert set(row) == set(HASHED_FIELDS)
    expected = canonical_json(row)
    got = hashed_bytes(
        row["at"],
        row["recorded_at"],
        kind,
        ticket_id,
        finding_id,
        from_state,
        to_state,
        actor,
        source,
        external_id,
        canonical_json(details),
    )
    assert got == expected
