"""The application context: everything a request, job or command needs, built once per process
from explicit settings and passed down (never imported as a global)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from bot.policy import Policy
    from bot.settings import Settings
    from integrations.evidence import EvidenceStore


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    policy: Policy
    evidence: EvidenceStore
    clock: Callable[[], datetime] = utc_now
    # Integration clients built lazily (tracker, notifier, http clients), keyed by name.
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def close(self) -> None:
        for service in self.services.values():
            closer = getattr(service, "close", None)
            if callable(closer):
                closer()
        self.services.clear()
        self.engine.dispose()
