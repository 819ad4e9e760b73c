"""Verifying the event log's hash chain in a process of its own, beside the replay.

A snapshot reads its whole log prefix twice over in CPU: every row is hashed to verify the
chain, and the rows that change ticket state are replayed. With a million events each took
seconds on one core. Here a helper process (``python -m bot.snapshots.verifier``) verifies the
chain over every row up to the head, while the snapshot's own process replays only the rows
it needs (reminders, two thirds of a busy log, change no state). Both read rows up to the
head, which no one can change (the log is append-only; a row changed anyway shows up as a
break, in either reading).

The helper reads through a plain driver connection (:mod:`bot.database.driver`): it imports
no SQLAlchemy and, on SQLite, takes no write lock. It connects with the arguments the engine's
dialect derived (:func:`bot.database.core.driver_params`), so it reads the same database. It
is started as a fresh interpreter, never forked, because a snapshot may be built inside the
multi-threaded web or worker process, and with ``-P``, so no ``bot`` package in the current
directory can stand in for slabot's. The connection arguments (they may hold a password) go
to it on stdin, never on its command line, and the password is blanked out of whatever of
its error output is logged.

The protocol: one JSON request on stdin (``connect``, ``upto_seq``, ``cutoff``: the hashed
spelling of the cutoff), one :class:`~bot.snapshots.chain_check.VerifiedPrefix` as JSON on
stdout, exit status 0. Anything else, or a report that does not reach the expected head,
means the snapshot verifies in its own process instead.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import IO, Any

import orjson

from bot.snapshots.chain_check import (
    SELECT_EVENTS,
    VerifiedPrefix,
    any_iso,
    sqlite_iso,
    verify_prefix,
)

log = logging.getLogger(__name__)

FETCH_ROWS = 10_000
# How long to wait for the report once the snapshot has replayed its rows, before taking the
# helper for hung: it reads more rows than the replay, but does less with each.
WAIT_BASE_S = 60.0
WAIT_PER_REPLAY_SECOND = 2.0


_SQL = f"{SELECT_EVENTS} WHERE seq <= ? ORDER BY seq"


def wait_after(replay_seconds: float) -> float:
    return WAIT_BASE_S + WAIT_PER_REPLAY_SECOND * replay_seconds


class ChainVerification:
    """A running helper process; :meth:`result` waits for its report."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        errors: IO[bytes] | None = None,
        secret: str | None = None,
    ) -> None:
        """``errors``: the file the helper's stderr goes to (else it is a pipe, or nothing)."""
        self._process = process
        self._errors = errors
        self._secret = secret

    @classmethod
    def start(
        cls, connect: Mapping[str, Any], *, upto_seq: int, cutoff_iso: str
    ) -> ChainVerification | None:
        """The helper, started; None (logged) when it cannot be."""
        request = {"connect": connect, "upto_seq": upto_seq, "cutoff": cutoff_iso}
        # A file, not a pipe: a talkative helper never waits for the snapshot to read it.
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        try:
            process = subprocess.Popen(  # this interpreter, running slabot's own module
                [sys.executable, "-P", "-m", "bot.snapshots.verifier"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        except (OSError, ValueError) as exc:
            errors.close()
            log.warning("chain verifier could not start (%s); verifying in process", exc)
            return None
        stdin, process.stdin = process.stdin, None  # sent and closed here, not by communicate()
        assert stdin is not None
        with contextlib.suppress(OSError):  # it died at once: result() reports it
            stdin.write(orjson.dumps(request))
        with contextlib.suppress(OSError):
            stdin.close()
        secret = connect.get("kwargs", {}).get("password")
        return cls(process, errors=errors, secret=str(secret) if secret else None)

    def result(self, *, timeout: float) -> VerifiedPrefix | None:
        """The helper's report, or None (logged) when it failed or took too long."""
        try:
            out, err = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            log.warning("chain verifier took over %.0f s; verifying in process", timeout)
            return None
        if self._process.returncode != 0:
            log.warning(
                "chain verifier exited with %s; verifying in process: %s",
                self._process.returncode,
                self._error_tail(err),
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
        if self._errors is not None:
            self._errors.close()

    def _error_tail(self, piped: bytes | None) -> str:
        """The last lines the helper wrote to stderr, without the database password."""
        data = piped or b""
        if self._errors is not None:
            self._errors.seek(0)
            data = self._errors.read()
        lines = data.decode("utf-8", "replace").strip().splitlines()[-3:]
        tail = " | ".join(lines)
        return tail.replace(self._secret, "[password]") if self._secret else tail


def verify(connect: Mapping[str, Any], *, upto_seq: int, cutoff_iso: str) -> VerifiedPrefix:
    """What the helper does: verify the rows up to ``upto_seq`` on a connection of its own."""
    from bot.database.driver import connect_with, stream_query

    connection, placeholder = connect_with(connect)
    postgresql = placeholder == "%s"
    try:
        rows = stream_query(
            connection,
            _SQL,
            (upto_seq,),
            postgresql=postgresql,
            cursor_name="slabot_chain_verifier",
            batch=FETCH_ROWS,
        )
        return verify_prefix(rows, iso=any_iso if postgresql else sqlite_iso, cutoff_iso=cutoff_iso)
    finally:
        connection.close()


def main() -> None:  # pragma: no cover - runs in the helper process; tested through it
    request = orjson.loads(sys.stdin.buffer.read())
    verified = verify(
        request["connect"], upto_seq=int(request["upto_seq"]), cutoff_iso=str(request["cutoff"])
    )
    sys.stdout.buffer.write(verified.to_json())


if __name__ == "__main__":  # pragma: no cover
    main()
