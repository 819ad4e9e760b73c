"""Read-only sessions (``bot.database.core.read_only``): on SQLite a long read holds up no
writer and keeps one view of the database; on both databases, writing through one is refused."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.core import read_only, transaction
from bot.scans.models import Scan
from tests.helpers_ingest import ingest_bytes, jsonl, record


def _scans(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Scan)).scalar_one())


def test_a_write_proceeds_while_a_read_only_session_is_open(
    ctx: AppContext, is_postgres: bool, now: datetime
) -> None:
    ingest_bytes(ctx, jsonl([record()]), now=now)
    with read_only(ctx.sessions) as reader:
        assert _scans(reader) == 1
        finished = threading.Event()

        def write() -> None:
            ingest_bytes(ctx, jsonl([record("other")]), now=now)
            finished.set()

        writer = threading.Thread(target=write)
        started = time.perf_counter()
        writer.start()
        # A write transaction on SQLite starts with BEGIN IMMEDIATE: it would wait for the
        # reader (up to the 30 s busy timeout) if the reader held the write lock.
        assert finished.wait(timeout=10), "the writer waited for the read-only session"
        writer.join()
        assert time.perf_counter() - started < 10
        if not is_postgres:  # SQLite: one view for the whole session
            assert _scans(reader) == 1
    with read_only(ctx.sessions) as reader:
        assert _scans(reader) == 2


def test_writing_through_a_read_only_session_is_refused(ctx: AppContext, now: datetime) -> None:
    with read_only(ctx.sessions) as reader, pytest.raises(DBAPIError, match=r"read.?only"):
        reader.execute(text("UPDATE scans SET target = 'x'"))
    # The pooled connection it used writes normally again.
    ingest_bytes(ctx, jsonl([record()]), now=now)
    with transaction(ctx.sessions) as session:
        session.execute(text("UPDATE scans SET target = 'y'"))
    with read_only(ctx.sessions) as reader:
        assert reader.execute(select(Scan.target)).scalars().all() == ["y"]


def test_every_transaction_of_a_read_only_session_is_read_only(
    ctx: AppContext, now: datetime
) -> None:
    ingest_bytes(ctx, jsonl([record()]), now=now)
    with read_only(ctx.sessions) as reader:
        assert _scans(reader) == 1
        reader.commit()  # a new transaction begins with the next statement
        assert _scans(reader) == 1
        with pytest.raises(DBAPIError, match=r"read.?only"):
            reader.execute(text("UPDATE scans SET target = 'x'"))
