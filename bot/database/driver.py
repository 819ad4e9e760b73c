"""Plain driver connections, for helper processes that only read.

A forked ingest parser (:mod:`bot.ingest.known`) and the snapshot's chain verifier
(:mod:`bot.snapshots.verifier`) read the database beside the process that owns the
SQLAlchemy engine. They open the driver alone: importing SQLAlchemy would cost each of them a
tenth of a second or more, and slabot's write discipline (``BEGIN IMMEDIATE`` on SQLite) would
make them wait for that process's write lock.
"""

from __future__ import annotations

from typing import Any

from bot.settings import database_backend


def open_driver_connection(database_url: str) -> tuple[Any, str] | None:
    """(connection, placeholder style: ``?`` or ``%s``) for a SQLAlchemy database URL; None
    for a database no other process can see (SQLite in memory). The settings have checked the
    URL's scheme; the engine checks the rest."""
    rest = database_url.partition("://")[2]
    if database_backend(database_url) == "postgresql":
        import psycopg

        return psycopg.connect(f"postgresql://{rest}"), "%s"
    import sqlite3
    from urllib.parse import unquote

    path = unquote(rest.partition("?")[0].removeprefix("/"))
    if path in ("", ":memory:"):
        return None
    return sqlite3.connect(path), "?"
