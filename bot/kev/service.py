"""Stored KEV catalogs: load a parsed catalog, find the current one, build lookups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.database.core import table_of
from bot.findings.rules import KevFacts
from bot.kev.models import KevCatalogVersion, KevEntry

if TYPE_CHECKING:
    # Type only: importing integrations.kev loads the feed client and httpx (ingest imports this).
    from integrations.kev import KevCatalog


@dataclass(frozen=True, slots=True)
class StoredCatalog:
    id: int
    catalog_version: str
    created: bool
    became_current: bool
    previous_current_id: int | None


def current_catalog(session: Session) -> KevCatalogVersion | None:
    return session.scalar(select(KevCatalogVersion).where(KevCatalogVersion.is_current))


def store_catalog(
    session: Session,
    catalog: KevCatalog,
    *,
    now: datetime,
    etag: str | None = None,
    last_modified: str | None = None,
) -> StoredCatalog:
    """Store a catalog version once (keyed by its sha256) with all entries in one batch.

    The newest catalog by ``dateReleased`` is the current one: loading an older file later
    (an old export, a lagging mirror) stores it for the record but changes nothing.
    """
    previous = current_catalog(session)
    existing = session.scalar(
        select(KevCatalogVersion).where(KevCatalogVersion.sha256 == catalog.sha256)
    )
    if existing is not None:
        return StoredCatalog(
            existing.id, existing.catalog_version, False, False, previous.id if previous else None
        )
    row = KevCatalogVersion(
        catalog_version=catalog.catalog_version,
        date_released=catalog.date_released,
        sha256=catalog.sha256,
        count=catalog.count,
        fetched_at=now,
        source=catalog.source[:2048],
        etag=etag,
        last_modified=last_modified,
        is_current=False,
    )
    session.add(row)
    session.flush()
    seen: set[str] = set()
    entries = []
    for entry in catalog.entries:
        if entry.cve_id in seen:  # duplicates exist in the wild; the first (newest) wins
            continue
        seen.add(entry.cve_id)
        entries.append(
            {
                "catalog_id": row.id,
                "cve_id": entry.cve_id,
                "date_added": entry.date_added,
                "due_date": entry.due_date,
                "known_ransomware": entry.known_ransomware,
                "vendor_project": entry.vendor_project[:256],
                "product": entry.product[:256],
                "name": entry.name,
            }
        )
    if entries:
        session.execute(insert(table_of(KevEntry)), entries)
    newer = previous is None or catalog.date_released >= previous.date_released
    if newer:
        session.execute(update(KevCatalogVersion).values(is_current=False))
        session.execute(
            update(KevCatalogVersion).where(KevCatalogVersion.id == row.id).values(is_current=True)
        )
    return StoredCatalog(
        row.id, row.catalog_version, True, newer, previous.id if previous else None
    )


def kev_lookup(session: Session, catalog_id: int | None = None) -> dict[str, KevFacts]:
    """CVE → KEV facts for one catalog (the current one by default): one query per ingest."""
    if catalog_id is None:
        current = current_catalog(session)
        if current is None:
            return {}
        catalog_id, version = current.id, current.catalog_version
    else:
        version = (
            session.scalar(
                select(KevCatalogVersion.catalog_version).where(KevCatalogVersion.id == catalog_id)
            )
            or ""
        )
    rows = session.execute(
        select(
            KevEntry.cve_id, KevEntry.date_added, KevEntry.due_date, KevEntry.known_ransomware
        ).where(KevEntry.catalog_id == catalog_id)
    )
    return {
        cve: KevFacts(cve, added, due, ransomware, version) for cve, added, due, ransomware in rows
    }
