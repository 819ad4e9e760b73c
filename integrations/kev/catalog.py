"""CISA KEV catalog: typed model, parsing and validation (JSON and CSV), and diffing.

Pure functions over bytes; no I/O except :func:`load_catalog_file`.

Validation is hand-written and follows the shipped draft-07 schema
(``known_exploited_vulnerabilities_schema.json``):

* strict where the schema is strict: the four top-level keys and the eight required entry keys
  must be present with the right JSON types, ``cveID`` must match ``CVE-YYYY-NNNN`` (4 to 19
  digits), ``dateAdded``/``dueDate`` must be ``YYYY-MM-DD`` calendar dates, ``dateReleased`` an
  RFC 3339 date-time with an offset, every ``cwes`` item ``CWE-<digits>``, ``count`` an integer;
  on top of the schema, ``count`` must equal the number of entries.
* tolerant where real catalogs vary: unknown keys are ignored (the real feed carries an
  undeclared ``title``), the optional ``knownRansomwareCampaignUse``/``notes``/``cwes`` may be
  missing, surrounding whitespace and lower-case ``cve-`` prefixes are normalised (ids are
  upper-cased), a blank or null ``dueDate`` becomes ``None`` rather than failing the whole
  catalog, an unexpected ransomware value becomes ``None``, a UTF-8 BOM is skipped, duplicate
  CVE ids are kept (``get`` returns the first, i.e. newest, one). Text fields are kept verbatim
  (e.g. the stray leading quote in CVE-2026-31431's ``requiredAction``).

CSV (the ``known_exploited_vulnerabilities.csv`` variant) has no catalog metadata, so:
``catalog_version`` comes from a ``YYYY.MM.DD`` date in the source's file name (e.g.
``known_exploited_vulnerabilities_2025.08.25.csv``) and otherwise from the newest
``dateAdded``; ``date_released`` is midnight UTC of that date; ``count`` is the number of rows;
``cwes`` is one comma-separated string per row.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import MappingProxyType

from integrations.kev._parse import (
    html_reason,
    looks_like_html,
    parse_csv,
    parse_json,
    strip_bom,
    strip_prefix,
)
from integrations.kev.model import CatalogDiff, KevCatalog, KevCatalogError, KevEntry

__all__ = [
    "MAX_CATALOG_BYTES",
    "CatalogDiff",
    "KevCatalog",
    "KevCatalogError",
    "KevEntry",
    "diff_catalogs",
    "html_reason",
    "load_catalog_file",
    "looks_like_html",
    "parse_catalog",
]

MAX_CATALOG_BYTES = 50 * 1024 * 1024
"""Largest catalog accepted from a file or the network (the real one is about 1.6 MB)."""

# KevEntry attribute -> catalog key, in catalog order (used by diff_catalogs).
_FIELD_KEYS = (
    ("vendor_project", "vendorProject"),
    ("product", "product"),
    ("name", "vulnerabilityName"),
    ("date_added", "dateAdded"),
    ("short_description", "shortDescription"),
    ("required_action", "requiredAction"),
    ("due_date", "dueDate"),
    ("known_ransomware", "knownRansomwareCampaignUse"),
    ("notes", "notes"),
    ("cwes", "cwes"),
)


def parse_catalog(body: bytes, *, source: str) -> KevCatalog:
    """Parse and validate a KEV catalog (JSON or CSV, detected from the content).

    Raises :class:`KevCatalogError` naming the problem (and its location) on any violation.
    """
    sha256 = hashlib.sha256(body).hexdigest()
    start = strip_prefix(body)
    if not start:
        raise KevCatalogError("empty body", source=source)
    first = start[:1]
    if first == b"<":
        raise KevCatalogError(html_reason(body), source=source)
    if first in (b"{", b"["):
        return parse_json(strip_bom(body), source=source, sha256=sha256)
    header = start.split(b"\n", 1)[0]
    if b"," in header and b"cveid" in header.lower():
        return parse_csv(body, source=source, sha256=sha256)
    # Neither JSON nor CSV: let the JSON parser name the offending position.
    return parse_json(strip_bom(body), source=source, sha256=sha256)


def load_catalog_file(path: Path) -> KevCatalog:
    """Load a JSON or CSV catalog file. Raises :class:`KevCatalogError` for a missing, unreadable,
    oversized or invalid file."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_CATALOG_BYTES:
            raise KevCatalogError(
                f"KEV catalog file {source} is {size} bytes, "
                f"over the {MAX_CATALOG_BYTES}-byte limit",
                source=source,
            )
        body = path.read_bytes()
    except FileNotFoundError:
        raise KevCatalogError(f"KEV catalog file not found: {source}", source=source) from None
    except IsADirectoryError:
        raise KevCatalogError(f"KEV catalog path is a directory: {source}", source=source) from None
    except OSError as exc:
        raise KevCatalogError(
            f"cannot read KEV catalog file {source}: {exc.strerror or exc}", source=source
        ) from None
    try:
        return parse_catalog(body, source=source)
    except KevCatalogError as exc:
        raise KevCatalogError(f"{source}: {exc}", source=source, problems=exc.problems) from None


def diff_catalogs(old: KevCatalog | None, new: KevCatalog) -> CatalogDiff:
    """Added / removed CVE ids and, for ids in both, which fields changed. ``old=None`` means
    everything in ``new`` is added."""
    new_ids = new.cve_ids()
    if old is None:
        return CatalogDiff(None, new.catalog_version, new_ids, frozenset(), MappingProxyType({}))
    old_ids = old.cve_ids()
    modified: dict[str, tuple[str, ...]] = {}
    for cve_id in sorted(old_ids & new_ids):
        before, after = old.get(cve_id), new.get(cve_id)
        assert before is not None and after is not None
        if before == after:
            continue
        changed = tuple(
            key for attr, key in _FIELD_KEYS if getattr(before, attr) != getattr(after, attr)
        )
        if changed:
            modified[cve_id] = changed
    return CatalogDiff(
        old_version=old.catalog_version,
        new_version=new.catalog_version,
        added=new_ids - old_ids,
        removed=old_ids - new_ids,
        modified=MappingProxyType(modified),
    )
