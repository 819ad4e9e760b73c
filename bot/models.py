"""Every model, imported once so ``Base.metadata`` is complete (alembic, drift test)."""

from bot.acceptances.models import RiskAcceptance
from bot.database.core import Base
from bot.database.state import StateValue
from bot.events.models import Event
from bot.findings.models import Finding, FindingCve, FindingEvidence
from bot.jobs.models import Job
from bot.kev.models import KevCatalogVersion, KevEntry
from bot.scans.models import Scan
from bot.snapshots.models import Snapshot
from bot.tickets.models import Ticket

__all__ = [
    "Base",
    "Event",
    "Finding",
    "FindingCve",
    "FindingEvidence",
    "Job",
    "KevCatalogVersion",
    "KevEntry",
    "RiskAcceptance",
    "Scan",
    "Snapshot",
    "StateValue",
    "Ticket",
]
