"""A large CLI ingest in three processes: one parses, one retains the raw body, the parent
writes to the database.

The children are started before the parent loads its database code, so parsing overlaps
that start-up too. This module is kept light to import for that reason (no ORM, no database
engine); the parent's side of the work is :func:`bot.ingest.service.ingest`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.ingest.artifacts import retain_scan
from bot.ingest.body import Body
from bot.ingest.forked import MAX_REPORTED_PROBLEMS, CommittedFingerprints, ForkedParse
from bot.ingest.retainer import ForkedRetention
from bot.settings import Settings
from bot.stores import open_evidence
from integrations.evidence import StoredObject

# Below this, forking costs more than it saves.
FORKED_MIN = 8 * 1024 * 1024


def worth_forking(body: Body) -> bool:
    return body.size >= FORKED_MIN and hasattr(os, "fork")


class ForkedIngest:
    """The two children of one ingest. ``now`` is the ingest's time (it dates the artifact).

    Use as a context manager: leaving it always ends and reaps both children.
    """

    def __init__(
        self, body: Body, *, settings: Settings, target: str | None, now: datetime
    ) -> None:
        def retain(checked: Body, metadata: Callable[[], Mapping[str, Any]]) -> StoredObject:
            # A store of the child's own: a client inherited across fork may share sockets.
            return retain_scan(open_evidence(settings), checked, now=now, metadata=metadata)

        self.now = now
        self.retention = ForkedRetention(body, retain)
        try:
            self.parse = ForkedParse(
                body.chunks,
                target=target,
                max_problems=MAX_REPORTED_PROBLEMS,
                known=CommittedFingerprints(settings.database_url),
            )
        except BaseException:
            self.retention.close()
            raise

    def close(self) -> None:
        try:
            self.parse.close()
        finally:
            self.retention.close()

    def __enter__(self) -> ForkedIngest:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
