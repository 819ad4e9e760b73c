"""Opening the configured evidence store: shared by the application context and by forked
ingest helpers, which open their own (a client inherited across fork may share sockets)."""

from __future__ import annotations

from bot.settings import ConfigurationError, Settings
from integrations.evidence import EvidenceStore, open_evidence_store


def open_evidence(settings: Settings) -> EvidenceStore:
    try:
        return open_evidence_store(
            settings.evidence_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            retention_days=settings.evidence_retention_days,
        )
    except ValueError as exc:
        raise ConfigurationError([f"SLABOT_EVIDENCE_URL: {exc}"]) from None
