"""Typed KEV catalog model: entries, catalogs, diffs and the validation error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Literal

__all__ = ["CatalogDiff", "KevCatalog", "KevCatalogError", "KevEntry"]


class KevCatalogError(ValueError):
    """The bytes are not a valid KEV catalog. The message says exactly what is wrong.

    ``problems`` holds every problem found (at most 20), ``source`` where the bytes came from.
    """

    def __init__(self, message: str, *, source: str = "", problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.source = source
        self.problems = problems or (message,)


@dataclass(frozen=True, slots=True)
class KevEntry:
    """One catalog entry (``vulnerabilities[i]`` / one CSV row)."""

    cve_id: str
    vendor_project: str
    product: str
    name: str
    date_added: date
    due_date: date | None
    known_ransomware: bool | None
    """``True`` for "Known", ``False`` for "Unknown", ``None`` when absent or unrecognised."""
    short_description: str
    required_action: str
    notes: str
    cwes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KevCatalog:
    """A validated catalog. ``sha256`` is over the exact body bytes it was parsed from."""

    catalog_version: str
    date_released: datetime
    count: int
    sha256: str
    entries: tuple[KevEntry, ...]
    source: str
    format: Literal["json", "csv"] = "json"
    _by_cve: Mapping[str, KevEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, KevEntry] = {}
        for entry in self.entries:
            index.setdefault(entry.cve_id, entry)
        object.__setattr__(self, "_by_cve", MappingProxyType(index))

    def cve_ids(self) -> frozenset[str]:
        return frozenset(self._by_cve)

    def get(self, cve_id: str) -> KevEntry | None:
        """The entry for ``cve_id`` (any case), or ``None``."""
        return self._by_cve.get(cve_id.strip().upper())

    def __contains__(self, cve_id: object) -> bool:
        return isinstance(cve_id, str) and cve_id.strip().upper() in self._by_cve

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True, slots=True)
class CatalogDiff:
    """What changed between two catalogs. ``modified`` maps a CVE id present in both to the
    catalog keys (e.g. ``knownRansomwareCampaignUse``) whose values differ."""

    old_version: str | None
    new_version: str
    added: frozenset[str]
    removed: frozenset[str]
    modified: Mapping[str, tuple[str, ...]]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.modified)
