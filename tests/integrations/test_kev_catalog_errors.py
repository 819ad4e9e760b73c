"""KEV catalog validation: the project's small fixtures, and every way a catalog can be wrong
named clearly (structure, types, dates, CSV quirks, bounded problem lists)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from integrations.kev import (
    KevCatalogError,
    diff_catalogs,
    load_catalog_file,
    parse_catalog,
)
from tests.integrations.helpers_kev import (
    DATA,
    error_of,
    parse_doc,
    small_doc,
)

# --------------------------------------------------------------------------- small fixtures


def test_small_fixture_normalises_and_is_tolerant() -> None:
    catalog = load_catalog_file(DATA / "small_catalog.json")
    assert catalog.catalog_version == "2026.01.15"
    assert catalog.date_released == datetime(2026, 1, 15, 14, 2, 11, 123400, tzinfo=UTC)
    assert catalog.cve_ids() == {"CVE-2026-10001", "CVE-2025-1234", "CVE-2019-123456"}
    first, second, third = catalog.entries
    assert first.known_ransomware is True
    assert first.cwes == ("CWE-77", "CWE-78")
    assert first.notes == "https://example.com/advisory ; BOD 26-04: https://www.cisa.gov/bod-26-04"
    assert second.cve_id == "CVE-2025-1234"  # " cve-2025-1234 " stripped and upper-cased
    assert second.known_ransomware is False
    assert second.required_action.startswith('"')
    # Optional keys missing entirely.
    assert third.known_ransomware is None
    assert third.notes == ""
    assert third.cwes == ()
    assert "cve-2025-1234" in catalog
    assert catalog.get(" CVE-2019-123456") is third
    assert catalog.get("CVE-1999-0001") is None


def test_csv_fixture_with_quotes_and_multiline_fields() -> None:
    catalog = load_catalog_file(DATA / "small_catalog_2024.01.05.csv")
    assert catalog.catalog_version == "2024.01.05"
    assert catalog.count == 2
    first, second = catalog.entries
    assert first.product == "Gateway, Pro"
    assert first.short_description == 'Contains a "quoted" flaw.'
    assert first.cwes == ("CWE-59", "CWE-436")
    assert first.known_ransomware is True
    assert second.short_description == "Multi-line\ndescription."
    assert second.cwes == ()
    assert second.notes == ""


def test_csv_version_from_max_date_added_without_dated_name() -> None:
    body = (DATA / "small_catalog_2024.01.05.csv").read_bytes()
    catalog = parse_catalog(body, source="kev.csv")
    assert catalog.catalog_version == "2024.01.02"
    assert catalog.date_released == datetime(2024, 1, 2, tzinfo=UTC)


def test_schema_violation_fixture_names_every_problem() -> None:
    with pytest.raises(KevCatalogError) as info:
        load_catalog_file(DATA / "schema_violation.json")
    message = str(info.value)
    assert "vulnerabilities[1].dateAdded: not a date (YYYY-MM-DD): 'x'" in message
    assert "vulnerabilities[1].cveID: not a CVE id (CVE-YYYY-NNNN): 'CVE-26-1'" in message
    assert "vulnerabilities[1].dueDate: not a date (YYYY-MM-DD): '2026-02-30'" in message
    assert "vulnerabilities[1].cwes[1]: not a CWE id (CWE-NNN): 'NVD-CWE-noinfo'" in message
    assert "vulnerabilities[2]: missing required key(s): vulnerabilityName" in message
    assert "vulnerabilities[2].product: expected a string, got integer" in message
    assert len(info.value.problems) == 6
    assert message.startswith(f"{DATA / 'schema_violation.json'}: 6 problems: ")


def test_count_mismatch() -> None:
    doc = small_doc()
    doc["count"] = 4
    with pytest.raises(KevCatalogError, match=r"^count 4 disagrees with 3 entries$"):
        parse_doc(doc)


def test_truncated_json() -> None:
    body = (DATA / "small_catalog.json").read_bytes()[:300]
    message = error_of(body)
    assert message.startswith("invalid JSON at line ")
    assert "unexpected end of data" in message


def test_invalid_json_position() -> None:
    assert error_of(b'{"catalogVersion": "1",, }') == (
        "invalid JSON at line 1 column 24: unexpected character, expected a string key"
    )


def test_html_body_is_named() -> None:
    body = (DATA / "akamai_access_denied.html").read_bytes()
    assert error_of(body) == 'HTML page instead of JSON: "Access Denied"'
    assert error_of(b"  \n<!doctype html><p>hi") == "HTML page instead of JSON"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b" \n\t", "empty body"),
        (b"[1, 2]", "top level: expected an object, got array"),
        (b"null", "top level: expected an object, got null"),
        (b"garbage", "invalid JSON at line 1 column 1: unexpected character"),
        (b'{"count": 0}', "missing required key(s): catalogVersion, dateReleased, vulnerabilities"),
    ],
)
def test_structural_errors(body: bytes, message: str) -> None:
    assert error_of(body).startswith(message)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("count", "3", "count: expected an integer, got string '3'"),
        ("count", True, "count: expected an integer, got boolean True"),
        ("count", 3.0, "count: expected an integer, got number 3.0"),
        ("catalogVersion", "", "catalogVersion: expected a non-empty string, got ''"),
        ("catalogVersion", 2026, "catalogVersion: expected a non-empty string, got 2026"),
        ("dateReleased", "2026-01-15T14:02:11", "dateReleased: not a date-time with offset"),
        ("dateReleased", "2026-01-15", "dateReleased: not a date-time with offset"),
        ("dateReleased", 1700000000, "dateReleased: expected a string, got integer"),
        ("vulnerabilities", {}, "vulnerabilities: expected an array, got object"),
    ],
)
def test_top_level_type_errors(key: str, value: object, message: str) -> None:
    doc = small_doc()
    doc[key] = value
    assert error_of(orjson.dumps(doc)).startswith(message)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-15T14:02:11Z", datetime(2026, 1, 15, 14, 2, 11, tzinfo=UTC)),
        ("2026-01-15T14:02:11.1234567Z", datetime(2026, 1, 15, 14, 2, 11, 123456, tzinfo=UTC)),
        ("2026-01-15T16:02:11.5+02:00", datetime(2026, 1, 15, 14, 2, 11, 500000, tzinfo=UTC)),
    ],
)
def test_date_released_variants(raw: str, expected: datetime) -> None:
    doc = small_doc()
    doc["dateReleased"] = raw
    released = parse_doc(doc).date_released
    assert released == expected
    assert released.tzinfo is UTC


def test_entry_level_type_errors() -> None:
    doc = small_doc()
    doc["vulnerabilities"][0]["cwes"] = "CWE-79"
    doc["vulnerabilities"][1]["cwes"] = [79]
    doc["vulnerabilities"][2] = "CVE-2020-0001"
    message = error_of(orjson.dumps(doc))
    assert "vulnerabilities[0].cwes: expected an array, got string" in message
    assert "vulnerabilities[1].cwes[0]: expected a string, got integer" in message
    assert "vulnerabilities[2]: expected an object, got string" in message


@pytest.mark.parametrize("value", [None, "", "  "])
def test_blank_due_date_becomes_none(value: str | None) -> None:
    doc = small_doc()
    doc["vulnerabilities"][0]["dueDate"] = value
    assert parse_doc(doc).entries[0].due_date is None


def test_missing_due_date_key_is_an_error() -> None:
    doc = small_doc()
    del doc["vulnerabilities"][0]["dueDate"]
    assert error_of(orjson.dumps(doc)) == ("vulnerabilities[0]: missing required key(s): dueDate")


def test_unrecognised_ransomware_value_and_extra_keys_are_tolerated() -> None:
    doc = small_doc()
    doc["vulnerabilities"][0]["knownRansomwareCampaignUse"] = "Suspected"
    doc["vulnerabilities"][0]["epss"] = 0.9
    doc["generator"] = "someone else"
    assert parse_doc(doc).entries[0].known_ransomware is None


def test_bom_and_duplicates_are_tolerated() -> None:
    doc = small_doc()
    dup = dict(doc["vulnerabilities"][0], vendorProject="Older copy")
    doc["vulnerabilities"].append(dup)
    doc["count"] = 4
    catalog = parse_catalog(b"\xef\xbb\xbf" + orjson.dumps(doc), source="bom.json")
    assert catalog.count == len(catalog.entries) == 4
    assert len(catalog.cve_ids()) == 3
    first = catalog.get("CVE-2026-10001")
    assert first is not None
    assert first.vendor_project == "Example"  # the first (newest) entry wins


def test_problem_list_is_bounded() -> None:
    doc = small_doc()
    bad = dict(doc["vulnerabilities"][0], dateAdded="soon")
    doc["vulnerabilities"] = [bad] * 50
    doc["count"] = 50
    with pytest.raises(KevCatalogError) as info:
        parse_doc(doc)
    assert len(info.value.problems) == 20
    assert str(info.value).endswith("(stopped after 20 problems)")


def test_csv_errors() -> None:
    header = (
        b"cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,"
        b"requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes\n"
    )
    good = b"CVE-2024-0001,V,P,N,2024-01-02,S,R,2024-01-23,Known,,CWE-1\n"
    assert error_of(header + good + b"CVE-2024-0002,V,P\n", "k.csv") == (
        "line 3: expected 11 fields, got 3"
    )
    assert error_of(header + good.replace(b"2024-01-02", b"01/02/2024"), "k.csv") == (
        "line 2.dateAdded: not a date (YYYY-MM-DD): '01/02/2024'"
    )
    assert error_of(b"cveID,product\nCVE-2024-0001,P\n", "k.csv").startswith(
        "CSV header (line 1): missing column(s): vendorProject, vulnerabilityName"
    )
    assert (
        error_of(header + b"\xff\xfe\n", "k.csv") == f"CSV is not valid UTF-8 at byte {len(header)}"
    )
    assert error_of(header, "k.csv") == "CSV has no rows and its name carries no YYYY.MM.DD version"
    empty = parse_catalog(header, source="known_exploited_vulnerabilities_2024.02.03.csv")
    assert (empty.count, empty.catalog_version) == (0, "2024.02.03")


def test_load_catalog_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(KevCatalogError, match=r"^KEV catalog file not found: .*nope\.json$"):
        load_catalog_file(missing)
    with pytest.raises(KevCatalogError, match=r"^KEV catalog path is a directory: "):
        load_catalog_file(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{"catalogVersion": ')
    with pytest.raises(KevCatalogError, match=r"broken\.json: invalid JSON at line 1 column 20"):
        load_catalog_file(broken)


def test_diff_against_nothing_and_removals() -> None:
    catalog = load_catalog_file(DATA / "small_catalog.json")
    first = diff_catalogs(None, catalog)
    assert first.added == catalog.cve_ids()
    assert first.removed == frozenset()
    assert first.old_version is None
    assert diff_catalogs(catalog, catalog).is_empty

    doc = small_doc()
    removed = doc["vulnerabilities"].pop(2)
    doc["vulnerabilities"][0]["knownRansomwareCampaignUse"] = "Unknown"
    doc["vulnerabilities"][0]["dueDate"] = "2026-01-20"
    doc["count"] = 2
    doc["catalogVersion"] = "2026.01.16"
    diff = diff_catalogs(catalog, parse_doc(doc))
    assert diff.removed == {removed["cveID"]}
    assert diff.added == frozenset()
    assert dict(diff.modified) == {"CVE-2026-10001": ("dueDate", "knownRansomwareCampaignUse")}
