"""KEV catalog parsing and diffing (integrations.kev.catalog): the real CISA catalogs, and
valid documents of any shape round-trip."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.kev import (
    KevCatalogError,
    diff_catalogs,
    load_catalog_file,
    parse_catalog,
)
from tests.integrations.helpers_kev import (
    CSV_0825,
    DIFF,
    JSON_0508,
    JSON_0807,
    corpus_file,
    parse_doc,
)

# --------------------------------------------------------------------------- real corpus


@pytest.mark.parametrize(
    ("name", "version", "released", "count", "sha_prefix"),
    [
        (
            JSON_0508,
            "2026.05.08",
            datetime(2026, 5, 8, 17, 31, 7, 687700, tzinfo=UTC),
            1590,
            "8c1c1ae5",
        ),
        (
            JSON_0807,
            "2026.08.07",
            datetime(2026, 8, 7, 16, 45, 47, 64800, tzinfo=UTC),
            1662,
            "2a6c54ce",
        ),
    ],
)
def test_real_json_catalogs_parse(
    name: str, version: str, released: datetime, count: int, sha_prefix: str
) -> None:
    path = corpus_file(name)
    catalog = load_catalog_file(path)
    assert catalog.format == "json"
    assert catalog.catalog_version == version
    assert catalog.date_released == released
    assert catalog.date_released.utcoffset() is not None
    assert catalog.count == count == len(catalog.entries) == len(catalog.cve_ids())
    assert catalog.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert catalog.sha256.startswith(sha_prefix)
    assert catalog.source == str(path)
    # Entries keep the catalog's order: newest dateAdded first.
    added = [entry.date_added for entry in catalog.entries]
    assert added == sorted(added, reverse=True)
    assert all(entry.cve_id == entry.cve_id.upper() for entry in catalog.entries)
    assert any(entry.cwes == () for entry in catalog.entries)
    assert {entry.known_ransomware for entry in catalog.entries} == {True, False}


def test_real_catalog_quirks_survive() -> None:
    catalog = load_catalog_file(corpus_file(JSON_0807))
    stray = catalog.get("cve-2026-31431")
    assert stray is not None
    assert stray.required_action.startswith('"')  # kept verbatim
    newest = catalog.entries[0]
    assert newest.cve_id == "CVE-2026-8037"
    assert newest.due_date == date(2026, 8, 10)
    assert "BOD 26-04: https://www.cisa.gov/" in newest.notes  # `\/` escapes decoded
    assert newest.cwes == ("CWE-77",)


def test_real_csv_parses() -> None:
    catalog = load_catalog_file(corpus_file(CSV_0825))
    assert catalog.format == "csv"
    assert catalog.count == len(catalog.entries) == 1404
    assert catalog.catalog_version == "2025.08.25"  # from the file name
    assert catalog.date_released == datetime(2025, 8, 25, tzinfo=UTC)
    git = catalog.get("CVE-2025-48384")
    assert git is not None
    assert git.cwes == ("CWE-59", "CWE-436")
    assert git.known_ransomware is False
    assert git.due_date == date(2025, 9, 15)


def test_real_csv_version_falls_back_to_newest_date_added() -> None:
    body = corpus_file(CSV_0825).read_bytes()
    catalog = parse_catalog(body, source="https://example.test/known_exploited_vulnerabilities.csv")
    assert catalog.catalog_version == "2025.08.25"  # max dateAdded


def test_real_csv_and_json_agree_on_shared_entries() -> None:
    csv_catalog = load_catalog_file(corpus_file(CSV_0825))
    json_catalog = load_catalog_file(corpus_file(JSON_0508))
    entry = json_catalog.get("CVE-2024-8068")
    assert entry is not None
    assert csv_catalog.get("CVE-2024-8068") == entry


def test_diff_matches_shipped_diff_file() -> None:
    old = load_catalog_file(corpus_file(JSON_0508))
    new = load_catalog_file(corpus_file(JSON_0807))
    expected = orjson.loads(corpus_file(DIFF).read_bytes())
    diff = diff_catalogs(old, new)
    assert diff.old_version == "2026.05.08"
    assert diff.new_version == "2026.08.07"
    assert diff.added == frozenset(expected["added"])
    assert len(diff.added) == 72
    assert diff.removed == frozenset(expected["removed"]) == frozenset()
    assert dict(diff.modified) == {k: tuple(v) for k, v in expected["modified"].items()}
    # The reverse direction swaps added and removed.
    back = diff_catalogs(new, old)
    assert back.removed == diff.added
    assert back.added == frozenset()


# --------------------------------------------------------------------------- properties

_cve = st.builds(
    "CVE-{}-{}".format,
    st.integers(1999, 2030),
    st.integers(1000, 10**9),
)
_text = st.text(max_size=40)
_entry = st.fixed_dictionaries(
    {
        "cveID": _cve,
        "vendorProject": _text,
        "product": _text,
        "vulnerabilityName": _text,
        "dateAdded": st.dates().map(date.isoformat),
        "shortDescription": _text,
        "requiredAction": _text,
        "dueDate": st.dates().map(date.isoformat),
    },
    optional={
        "knownRansomwareCampaignUse": st.sampled_from(["Known", "Unknown"]),
        "notes": _text,
        "cwes": st.lists(st.integers(1, 99999).map("CWE-{}".format), max_size=3),
    },
)


@settings(max_examples=75, deadline=None)
@given(st.lists(_entry, max_size=8))
def test_valid_documents_round_trip(entries: list[dict[str, Any]]) -> None:
    doc = {
        "catalogVersion": "2026.01.01",
        "dateReleased": "2026-01-01T00:00:00.000Z",
        "count": len(entries),
        "vulnerabilities": entries,
    }
    catalog = parse_doc(doc)
    assert len(catalog.entries) == len(entries)
    for parsed, raw in zip(catalog.entries, entries, strict=True):
        assert parsed.cve_id == raw["cveID"]
        assert parsed.name == raw["vulnerabilityName"]
        assert parsed.date_added.isoformat() == raw["dateAdded"]
        assert parsed.cwes == tuple(raw.get("cwes", ()))
        assert parsed.known_ransomware == {"Known": True, "Unknown": False}.get(
            raw.get("knownRansomwareCampaignUse", "")
        )


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_arbitrary_bytes_only_raise_kev_catalog_error(body: bytes) -> None:
    with contextlib.suppress(KevCatalogError):
        parse_catalog(body, source="fuzz")
