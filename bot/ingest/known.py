"""Which findings existed before an ingest began, read by a forked parser on a connection of
its own (see :mod:`bot.ingest.forked`)."""

from __future__ import annotations

from typing import Any

from bot.database.driver import open_driver_connection


class CommittedFingerprints:
    """Which fingerprints the database held before this ingest, and their findings' ids, read
    by the child on its own connection: the parent's writes are not committed yet, so this
    is the state the ingest started from. A finding that existed then needs no evidence
    shipped to the parent, and the parent updates it by id (findings are never deleted, so
    the id stays right; the parent still reads the row's state in its own transaction)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._connection: Any = None
        self._mark = "?"

    def __call__(self, fingerprints: list[str]) -> dict[str, int]:
        if not fingerprints:
            return {}
        if self._connection is None:
            reader = open_driver_connection(self._url)
            if reader is None:
                return {}
            self._connection, self._mark = reader
            if self._mark == "?":
                setup = self._connection.cursor()
                setup.execute("PRAGMA mmap_size=1073741824")
                setup.execute("PRAGMA cache_size=-65536")
                setup.close()
        cursor = self._connection.cursor()
        try:
            if self._mark == "%s":
                cursor.execute(_KNOWN_PG, (fingerprints,))
            else:
                marks = ", ".join("?" * len(fingerprints))
                cursor.execute(_KNOWN_SQLITE.format(marks=marks), fingerprints)
            found = {fingerprint: finding_id for fingerprint, finding_id in cursor.fetchall()}
        finally:
            cursor.close()
        self._connection.rollback()  # end the read (PostgreSQL opened a transaction)
        return found


_KNOWN_PG = "SELECT fingerprint, id FROM findings WHERE fingerprint = ANY(%s)"
_KNOWN_SQLITE = "SELECT fingerprint, id FROM findings WHERE fingerprint IN ({marks})"
