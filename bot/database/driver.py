"""Plain driver connections, for helper processes that only read.

A forked ingest parser (:mod:`bot.ingest.known`) and the snapshot's chain verifier
(:mod:`bot.snapshots.verifier`) read the database beside the process that owns the
SQLAlchemy engine. They open the driver alone: importing SQLAlchemy would cost each of them a
tenth of a second or more, and slabot's write discipline (``BEGIN IMMEDIATE`` on SQLite) would
make them wait for that process's write lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bot.settings import database_backend

# How long a helper's connection waits: for PostgreSQL to answer, for SQLite's lock.
CONNECT_TIMEOUT_S = 10


def open_driver_connection(database_url: str) -> tuple[Any, str] | None:
    """(connection, placeholder style: ``?`` or ``%s``) for a SQLAlchemy database URL; None
    for a database no other process can see (SQLite in memory). The settings have checked the
    URL's scheme; the engine checks the rest."""
    rest = database_url.partition("://")[2]
    if database_backend(database_url) == "postgresql":
        import psycopg

        return psycopg.connect(f"postgresql://{rest}"), "%s"
    import sqlite3

    # As SQLAlchemy reads a SQLite URL: the path as written (not percent-decoded), no query.
    path = rest.partition("?")[0].removeprefix("/")
    if path in ("", ":memory:"):
        return None
    return sqlite3.connect(path), "?"


def connect_with(params: Mapping[str, Any]) -> tuple[Any, str]:
    """(connection, placeholder style) from :func:`bot.database.core.driver_params`: the very
    arguments the engine connects with (hosts, port, password, query options), not a URL
    rendered again."""
    kwargs = dict(params["kwargs"])
    if params["backend"] == "postgresql":
        import psycopg

        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        return psycopg.connect(*params["args"], **kwargs), "%s"
    import sqlite3

    kwargs.setdefault("timeout", CONNECT_TIMEOUT_S)
    return sqlite3.connect(*params["args"], **kwargs), "?"


def stream_query(
    connection: Any,
    sql: str,
    params: Sequence[Any],
    *,
    postgresql: bool,
    cursor_name: str,
    batch: int = 10_000,
) -> Iterator[Any]:
    """The rows of ``sql`` (written with ``?`` placeholders) as plain driver tuples, a batch
    at a time, in constant memory: on PostgreSQL through a named (server-side) cursor
    ``cursor_name``; SQLite's cursor steps through the result as it is fetched."""
    if postgresql:
        cursor = connection.cursor(name=cursor_name)
        cursor.execute(sql.replace("?", "%s"), params)
    else:
        cursor = connection.cursor()
        cursor.execute(sql, params)
    try:
        while chunk := cursor.fetchmany(batch):
            yield from chunk
    finally:
        cursor.close()
