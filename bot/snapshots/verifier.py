"""Verifying the event log's hash chain in a process of its own, beside the replay.

A snapshot reads its whole log prefix twice over in CPU: every row is hashed to verify the
chain, and the rows that change ticket state are replayed. With a million events each took
seconds on one core. Here a helper process (``python -m bot.snapshots.verifier``) verifies the
chain over every row up to the head, while the snapshot's own process replays only the rows
it needs (reminders, two thirds of a busy log, change no state). Both read rows up to the
head, which no one can change (the log is append-only; a row changed anyway shows up as a
break, in either reading).

The helper reads through a plain driver connection (:mod:`bot.database.driver`): it imports
no SQLAlchemy and, on SQLite, takes no write lock. It is started as a fresh interpreter, never
forked, because a snapshot may be built inside the multi-threaded web or worker process. The
database URL (it may hold a password) goes to it on stdin, never on its command line.

The protocol: one JSON request on stdin (``url``, ``upto_seq``, ``cutoff``: the hashed
spelling of the cutoff), one :class:`~bot.snapshots.chain_check.VerifiedPrefix` as JSON on
stdout, exit status 0. Anything else means the snapshot verifies in its own process instead.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson

from bot.snapshots.chain_check import (
    EVENT_COLUMNS,
    VerifiedPrefix,
    any_iso,
    sqlite_iso,
    verify_prefix,
)

log = logging.getLogger(__name__)

FETCH_ROWS = 10_000
# How long to wait for the report before taking the helper for hung: ten minutes, plus a
# millisecond per row (it verifies a row in about ten microseconds).
RESULT_TIMEOUT_S = 600.0
RESULT_TIMEOUT_PER_ROW_S = 0.001
_SQL = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE seq <= ? ORDER BY seq"  # noqa: S608


class ChainVerification:
    """A running helper process; :meth:`result` waits for its report."""

    def __init__(self, process: subprocess.Popen[bytes], *, rows: int = 0) -> None:
        self._process = process
        self.timeout = RESULT_TIMEOUT_S + rows * RESULT_TIMEOUT_PER_ROW_S

    @classmethod
    def start(cls, database_url: str, *, upto_seq: int, cutoff_iso: str) -> ChainVerification:
        # This interpreter, running slabot's own module.
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.snapshots.verifier"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        request = {"url": database_url, "upto_seq": upto_seq, "cutoff": cutoff_iso}
        stdin, process.stdin = process.stdin, None  # sent and closed here, not by communicate()
        assert stdin is not None
        with contextlib.suppress(OSError):  # it died at once: result() reports it
            stdin.write(orjson.dumps(request))
        with contextlib.suppress(OSError):
            stdin.close()
        return cls(process, rows=upto_seq)

    def result(self, timeout: float | None = None) -> VerifiedPrefix | None:
        """The helper's report, or None (logged) when it failed or took too long (by default
        :attr:`timeout`)."""
        timeout = self.timeout if timeout is None else timeout
        try:
            out, err = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            log.warning("chain verifier took over %.0f s; verifying in process", timeout)
            return None
        if self._process.returncode != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
            log.warning(
                "chain verifier exited with %s; verifying in process: %s",
                self._process.returncode,
                " | ".join(tail),
            )
            return None
        try:
            return VerifiedPrefix.from_json(out)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("chain verifier sent an unreadable report (%s); verifying in process", exc)
            return None

    def close(self) -> None:
        """Stop and reap the helper if it still runs (always safe to call)."""
        if self._process.returncode is None:
            self._process.kill()
            self._process.communicate()


def _rows(connection: Any, placeholder: str, upto_seq: int) -> Iterator[Any]:
    if placeholder == "%s":  # PostgreSQL: a server-side cursor streams the rows
        cursor = connection.cursor(name="slabot_chain_verifier")
        cursor.execute(_SQL.replace("?", "%s"), (upto_seq,))
    else:
        cursor = connection.cursor()
        cursor.execute(_SQL, (upto_seq,))
    try:
        while chunk := cursor.fetchmany(FETCH_ROWS):
            yield from chunk
    finally:
        cursor.close()


def verify(database_url: str, *, upto_seq: int, cutoff_iso: str) -> VerifiedPrefix:
    """What the helper does: verify the rows up to ``upto_seq`` on a connection of its own."""
    from bot.database.driver import open_driver_connection

    opened = open_driver_connection(database_url)
    if opened is None:
        raise ValueError("this database cannot be read by another process")
    connection, placeholder = opened
    try:
        iso = any_iso if placeholder == "%s" else sqlite_iso
        return verify_prefix(
            _rows(connection, placeholder, upto_seq), iso=iso, cutoff_iso=cutoff_iso
        )
    finally:
        connection.close()


def main() -> None:  # pragma: no cover - runs in the helper process; tested through it
    request = orjson.loads(sys.stdin.buffer.read())
    verified = verify(
        str(request["url"]), upto_seq=int(request["upto_seq"]), cutoff_iso=str(request["cutoff"])
    )
    sys.stdout.buffer.write(verified.to_json())


if __name__ == "__main__":  # pragma: no cover
    main()
