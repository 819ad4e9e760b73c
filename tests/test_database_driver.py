"""Plain driver connections for helper processes (``bot.database.driver``): they open the
database the engine uses, and nothing else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.database.core import driver_params, make_engine
from bot.database.driver import connect_with, open_driver_connection


def test_a_sqlite_path_is_taken_as_written(tmp_path: Path) -> None:
    """SQLAlchemy does not percent-decode a SQLite path, so neither does the helper: a file
    named ``a%41b.db`` is that file, not ``aAb.db`` (which sqlite3 would create empty)."""
    path = tmp_path / "a%41b.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE marker (x INTEGER)")
    url = f"sqlite:///{path}"
    assert make_engine(url).url.database == str(path)
    opened = open_driver_connection(url)
    assert opened is not None
    connection, placeholder = opened
    try:
        assert placeholder == "?"
        assert connection.execute("SELECT count(*) FROM marker").fetchone() == (0,)
    finally:
        connection.close()
    assert not (tmp_path / "aAb.db").exists()


def test_no_other_process_can_open_a_database_in_memory() -> None:
    assert open_driver_connection("sqlite://") is None
    assert open_driver_connection("sqlite:///:memory:") is None
    assert driver_params(make_engine("sqlite://")) is None


def test_connect_with_the_engine_s_own_arguments(engine: Engine) -> None:
    params = driver_params(engine)
    assert params is not None
    assert params["backend"] == engine.dialect.name
    connection, placeholder = connect_with(params)
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT count(*) FROM events WHERE seq > {placeholder}", (0,))
        assert cursor.fetchone() == (0,)
    finally:
        connection.close()
