"""Batched INSERT/UPDATE straight through the DB driver's ``executemany``.

SQLAlchemy's Core executemany processes every bound value in Python (type decorators, JSON
encoding, dates), which dominated ingest time. These helpers convert each column once per
value with a converter chosen per column type and dialect, and hand tuples to the driver.
Values are stored exactly as SQLAlchemy would store them (SQLite datetimes in its
``YYYY-MM-DD HH:MM:SS.ffffff`` format, naive UTC), so the ORM reads them back unchanged and
string comparisons in SQL stay correct.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Date, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.database.types import UtcDateTime

Converter = Callable[[Any], Any]


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_json(value: Any) -> str | None:
    return None if value is None else _json_text(value)


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _pg_datetime(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: slabot stores aware UTC times only")
    return value


def _identity(value: Any) -> Any:
    return value


def _converter(column_type: Any, dialect: str) -> Converter:
    if dialect == "postgresql":
        if isinstance(column_type, UtcDateTime):
            return _pg_datetime
        if isinstance(column_type, JSON) or "JSON" in type(column_type).__name__.upper():
            from psycopg.types.json import Jsonb

            return lambda v: None if v is None else Jsonb(v, dumps=_json_text)
        return _identity
    if isinstance(column_type, UtcDateTime):
        return _sqlite_datetime
    if isinstance(column_type, Date):
        return _sqlite_date
    if isinstance(column_type, JSON):
        return _sqlite_json
    if isinstance(column_type, Boolean):
        return _sqlite_bool
    return _identity


def _column_type(table: Table, name: str, dialect: str) -> Any:
    column_type = table.c[name].type
    variant = getattr(column_type, "_variant_mapping", {}).get(dialect)
    return variant if variant is not None else column_type


def _memo(convert: Converter) -> Converter:
    """Batches repeat the same value object (``now``) in many rows: convert it once."""
    last_in: list[Any] = [object()]
    last_out: list[Any] = [None]

    def converted(value: Any) -> Any:
        if value is not last_in[0]:
            last_in[0], last_out[0] = value, convert(value)
        return last_out[0]

    return converted


def _params(
    table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]], dialect: str
) -> list[tuple[Any, ...]]:
    """Convert column by column (``map`` runs in C), then zip the columns into row tuples."""
    columns: list[Any] = []
    for name in names:
        convert = _converter(_column_type(table, name, dialect), dialect)
        values = [row[name] for row in rows]
        if convert is _sqlite_datetime:
            convert = _memo(convert)
        columns.append(values if convert is _identity else list(map(convert, values)))
    return list(zip(*columns, strict=True))


def _placeholder(dialect: str) -> str:
    return "%s" if dialect == "postgresql" else "?"


def converter(session: Session, table: Table, column: str) -> Converter:
    """The function that turns a value into what the driver takes for ``table.column``."""
    dialect = session.get_bind().dialect.name
    return _converter(_column_type(table, column, dialect), dialect)


def to_db(session: Session, table: Table, column: str, value: Any) -> Any:
    """One value as the driver takes it for ``table.column`` (what :func:`insert_many` does
    per row), for statements that bind the same value for a whole batch."""
    return converter(session, table, column)(value)


def driver_rows(
    session: Session, sql: str, params: Sequence[Any] = (), *, many: bool = False
) -> list[Any]:
    """Run ``sql`` (placeholders already in the driver's style) on the driver's own cursor in
    the session's transaction: plain tuples back, and none of SQLAlchemy's per-statement
    bookkeeping, which cost more than the statement for the small queries of a one-event
    webhook ingest."""
    connection = session.connection()
    driver_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
            return []
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []
    except driver_error as exc:
        # The same exception classes as SQLAlchemy's own execution (IntegrityError, …).
        raise DBAPIError.instance(sql, None, exc, driver_error) from exc
    finally:
        cursor.close()


def advisory_xact_lock(session: Session, key: int) -> None:
    """PostgreSQL: hold the transaction-scoped advisory lock ``key`` until commit or rollback.
    (On SQLite the transaction's ``BEGIN IMMEDIATE`` already serializes every writer.)"""
    if session.get_bind().dialect.name == "postgresql":
        driver_rows(session, "SELECT pg_advisory_xact_lock(%s)", (key,))


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys for rows about to be inserted, so dependent rows need not
    read them back. PostgreSQL draws them from the table's sequence; on SQLite the caller's
    transaction holds the write lock (``BEGIN IMMEDIATE``), so ``max(id)`` cannot move
    underneath until these rows are in."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = driver_rows(
            session,
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table.name, count),
        )
        return [int(row[0]) for row in rows]
    [(top,)] = driver_rows(session, f"SELECT max(id) FROM {table.name}")  # noqa: S608
    start = int(top or 0) + 1
    return list(range(start, start + count))


def insert_sql(table: Table, columns: Sequence[str]) -> str:
    """``INSERT INTO table (columns) VALUES (?, …)`` for :func:`execute_many`."""
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


def json_text_converter(session: Session) -> Converter:
    """For JSON that is already serialized text: as the driver takes it for a JSON column."""
    if session.get_bind().dialect.name != "postgresql":
        return _identity
    from psycopg.types.json import Jsonb

    return lambda text: Jsonb(text, dumps=_identity)


def _with_in(
    session: Session, sql: str, params: Sequence[Any], values: Sequence[Any]
) -> tuple[str, tuple[Any, ...]]:
    """``sql`` with ``?`` placeholders for ``params`` and ``{in}`` for membership in
    ``values``, in the driver's style: ``= ANY(%s)`` with one array parameter on PostgreSQL,
    ``IN (?, …)`` on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return sql.replace("?", "%s").replace("{in}", "= ANY(%s)"), (*params, list(values))
    return sql.replace("{in}", f"IN ({', '.join('?' * len(values))})"), (*params, *values)


def fetch_in(
    session: Session, sql: str, values: Sequence[Any], *, params: Sequence[Any] = ()
) -> list[Any]:
    """Rows of ``sql`` where ``{in}`` stands for membership in ``values`` and ``?`` for
    ``params`` (see :func:`_with_in`); also an ``UPDATE … WHERE id {in}`` (with or without
    ``RETURNING``), one statement for a whole batch, several times faster than a row-by-row
    ``executemany``. Values come back as the driver returns them (no SQLAlchemy type
    processing): callers read plain columns only."""
    if not values:
        return []
    return driver_rows(session, *_with_in(session, sql, params, values))


def execute_many(session: Session, sql: str, params: Sequence[Sequence[Any]]) -> None:
    """``sql`` written with ``?`` placeholders, run by the driver's executemany with tuples
    already in driver form (see :func:`to_db`)."""
    if not params:
        return
    if session.get_bind().dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    driver_rows(session, sql, list(params), many=True)


def insert_many(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_do_nothing: Sequence[str] | None = None,
) -> None:
    """INSERT every row (all rows have the same keys) in one driver executemany."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    names = list(rows[0])
    marks = ", ".join([_placeholder(dialect)] * len(names))
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
    if conflict_do_nothing:
        sql += f" ON CONFLICT ({', '.join(conflict_do_nothing)}) DO NOTHING"
    driver_rows(session, sql, _params(table, names, rows, dialect), many=True)
