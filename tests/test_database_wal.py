"""The web process's WAL checkpoints run in the background, not inside request commits."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.database.core import WalCheckpointer, make_engine


def _wal_frames(engine_url: str) -> tuple[int, int]:
    """(frames in the WAL, frames already copied into the database) — without copying."""
    import sqlite3

    path = engine_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as probe:
        # a checkpoint that may not wait for anyone only reports (busy, log, checkpointed)
        busy, log, done = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0
    return log, done


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'wal.db'}"


def test_commits_stop_checkpointing_and_the_thread_does_it(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    checkpointer = WalCheckpointer(engine, interval=3600)  # only explicit passes below
    checkpointer.start()
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        # ~2,500 pages: past the 1,000-page point where a commit would have checkpointed
        for _ in range(5):
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO t (body) VALUES (?)", [("x" * 3000,) for _ in range(500)]
                )
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2500
        checkpointer.checkpoint()
        log, done = _wal_frames(url)
        assert log > 2000 and done == log  # every frame copied by the checkpointer's pass
    finally:
        checkpointer.stop()
        engine.dispose()


def test_stop_ends_the_thread_with_a_last_checkpoint(url: str) -> None:
    engine = make_engine(url)
    checkpointer = WalCheckpointer(engine, interval=0.01).start()
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        connection.exec_driver_sql("INSERT INTO t DEFAULT VALUES")
    checkpointer.stop()
    assert not checkpointer._thread.is_alive()
    log, done = _wal_frames(url)
    assert done == log
    engine.dispose()
