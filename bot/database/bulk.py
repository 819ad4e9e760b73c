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
from sqlalchemy.orm import Session

from bot.database.types import UtcDateTime

Converter = Callable[[Any], Any]


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


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
    connection = session.connection()
    dialect = connection.dialect.name
    names = list(rows[0])
    marks = ", ".join([_placeholder(dialect)] * len(names))
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
    if conflict_do_nothing:
        sql += f" ON CONFLICT ({', '.join(conflict_do_nothing)}) DO NOTHING"
    connection.exec_driver_sql(sql, _params(table, names, rows, dialect))


def update_many(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "id",
    increments: Sequence[str] = (),
) -> None:
    """``UPDATE … SET col = ? … WHERE key = ?`` per row; ``increments`` columns are added to
    (``col = col + ?``) instead of replaced."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    mark = _placeholder(dialect)
    names = [n for n in rows[0] if n != key]
    sets = ", ".join(f"{n} = {n} + {mark}" if n in increments else f"{n} = {mark}" for n in names)
    sql = f"UPDATE {table.name} SET {sets} WHERE {key} = {mark}"  # noqa: S608
    connection.exec_driver_sql(sql, _params(table, [*names, key], rows, dialect))
