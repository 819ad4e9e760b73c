"""CISA Known Exploited Vulnerabilities (KEV): catalog parsing/validation and the feed client."""

from integrations.kev.catalog import (
    MAX_CATALOG_BYTES,
    CatalogDiff,
    KevCatalog,
    KevCatalogError,
    KevEntry,
    diff_catalogs,
    load_catalog_file,
    parse_catalog,
)
from integrations.kev.feed import (
    DEFAULT_KEV_MIRROR_URL,
    DEFAULT_KEV_URL,
    MAX_REDIRECTS,
    USER_AGENT,
    FeedResult,
    FeedState,
    KevFeedError,
    fetch_catalog,
)

__all__ = [
    "DEFAULT_KEV_MIRROR_URL",
    "DEFAULT_KEV_URL",
    "MAX_CATALOG_BYTES",
    "MAX_REDIRECTS",
    "USER_AGENT",
    "CatalogDiff",
    "FeedResult",
    "FeedState",
    "KevCatalog",
    "KevCatalogError",
    "KevEntry",
    "KevFeedError",
    "diff_catalogs",
    "fetch_catalog",
    "load_catalog_file",
    "parse_catalog",
]
