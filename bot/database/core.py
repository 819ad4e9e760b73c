"""Engine, sessions and the declarative base.

SQLite is the embedded default and PostgreSQL the production database. On SQLite every
transaction starts with ``BEGIN IMMEDIATE``: it takes the single write lock up front, which is
what makes the event-log append and the job claim race-free there (the equivalents of the
advisory lock and ``FOR UPDATE SKIP LOCKED`` used on PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import orjson
from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option of a connection whose transactions only read (see read_only), and the
# mark of a pooled SQLite connection left in query_only mode.
_READ_ONLY = "slabot_read_only"
_QUERY_ONLY = "slabot.query_only"
SQLITE_CACHE_KIB = 8 * 1024
# A large ingest's connection: the fingerprint index takes random keys, so its inserts touch
# pages all over it and a small cache spills them to the WAL mid-transaction.
SQLITE_BULK_CACHE_KIB = 64 * 1024
# The web process runs many short transactions on up to ~40 threads: keep their connections
# pooled (a new SQLite connection re-reads the schema and re-applies the pragmas).
SQLITE_POOL_SIZE = 16
SQLITE_POOL_OVERFLOW = 24


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below own transaction boundaries.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    # Threads of one process queue on a lock for the write lock: SQLite's own busy handler
    # polls with sleeps of up to 100 ms, which turned short waits into long latency tails.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            # A snapshot of the WAL, taken at the first read: no write lock, so a long read
            # holds up no writer; query_only turns an accidental write into an error. It is
            # switched off again when the connection goes back to the pool.
            connection.info[_QUERY_ONLY] = True
            connection.exec_driver_sql("PRAGMA query_only = ON")
            connection.exec_driver_sql("BEGIN")
            return
        acquired = writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        if acquired:
            connection.info["slabot.writer_lock"] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection)
            raise

    def _release(connection: Any) -> None:
        if connection.info.pop("slabot.writer_lock", False):
            writer.release()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        # Also after a read-only BEGIN that failed: no commit or rollback follows one.
        if record.info.pop(_QUERY_ONLY, False):
            dbapi_connection.execute("PRAGMA query_only = OFF")

    @event.listens_for(engine, "commit")
    def _after_commit(connection: Any) -> None:
        _release(connection)

    @event.listens_for(engine, "rollback")
    def _after_rollback(connection: Any) -> None:
        _release(connection)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS).decode()


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    # orjson for JSON columns: several times faster than the stdlib encoder on ingest batches.
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.get_backend_name() == "sqlite":
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if url.database not in (None, "", ":memory:"):
            kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
            kwargs.setdefault("max_overflow", SQLITE_POOL_OVERFLOW)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")

    return engine


def widen_cache_for_bulk(session: Session) -> None:
    """This transaction writes a large batch: give its SQLite connection a bigger cache."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")


class WalCheckpointer:
    """Checkpoints the SQLite WAL from a background thread instead of inside commits.

    By default the commit that grows the WAL past 1,000 pages copies them into the database
    and fsyncs it, so one request in ~50 of a busy web process paid tens of milliseconds.
    Here that commit stays short: connections of ``engine`` stop auto-checkpointing and this
    thread runs a PASSIVE checkpoint (never blocks writers or readers) every ``interval``.
    """

    def __init__(self, engine: Engine, *, interval: float = 0.5) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> WalCheckpointer:
        @event.listens_for(self._engine, "connect")
        def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

        self._engine.dispose()  # pooled connections reconnect with the setting above
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._checkpoint_or_log()

    def checkpoint(self) -> None:
        connection = self._engine.raw_connection()
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._checkpoint_or_log()

    def _checkpoint_or_log(self) -> None:
        # A failed pass (database unreachable, disk full) is /readyz's to report; the next
        # pass, or SQLite itself when the last connection closes, checkpoints again.
        try:
            self.checkpoint()
        except Exception:
            log.warning("WAL checkpoint failed", exc_info=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that only reads. On SQLite it reads one consistent view of the database and
    does not take the write lock every other transaction starts with (``BEGIN IMMEDIATE``): a
    long read, such as a snapshot replaying a million events, would otherwise hold up every
    writer until it ends. Writing through it is an error, on PostgreSQL too, in every
    transaction the session runs."""
    engine: Engine = factory.kw["bind"]
    options: Any = {_READ_ONLY: True}  # slabot's own key, outside SQLAlchemy's typed ones
    with factory(bind=engine.execution_options(**options)) as session:
        yield session


def driver_params(engine: Engine) -> dict[str, Any] | None:
    """What another process needs to open the engine's database with the driver alone
    (:func:`bot.database.driver.connect_with`), as JSON-ready values; None for a database no
    other process can see (SQLite in memory). Taken from the dialect, so a helper connects
    exactly where the engine does (several hosts, query options, a password with spaces)."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    backend = engine.dialect.name
    if backend == "sqlite" and (not args or args[0] in ("", ":memory:")):
        return None
    plain = {
        key: value
        for key, value in kwargs.items()
        if isinstance(value, str | int | float | bool) and key != "check_same_thread"
    }
    return {"backend": backend, "args": list(args), "kwargs": plain}


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, for executemany UPDATEs keyed by a bound id (SQLAlchemy's
    ORM bulk UPDATE insists on primary-key dicts, which our batches do not carry)."""
    return cast(Table, model.__table__)
