"""Hand-written validation of KEV catalog bodies (JSON and CSV) against the shipped schema.

Internal: use :func:`integrations.kev.catalog.parse_catalog`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime

import orjson

from integrations.kev.model import KevCatalog, KevCatalogError, KevEntry

_MAX_PROBLEMS = 20

_CVE_RE = re.compile(r"CVE-[0-9]{4}-[0-9]{4,19}", re.ASCII)
_CWE_RE = re.compile(r"CWE-[0-9]+", re.ASCII)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_FILENAME_DATE_RE = re.compile(r"(?<![0-9])([0-9]{4})[._-]([0-9]{2})[._-]([0-9]{2})(?![0-9])")
_TITLE_RE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)

_REQUIRED_TOP_KEYS = ("catalogVersion", "dateReleased", "count", "vulnerabilities")
_REQUIRED_ENTRY_KEYS = (
    "cveID",
    "vendorProject",
    "product",
    "vulnerabilityName",
    "dateAdded",
    "shortDescription",
    "requiredAction",
    "dueDate",
)
_RANSOMWARE = {"known": True, "unknown": False}


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_date(value: str) -> date | None:
    if len(value) != 10 or _DATE_RE.fullmatch(value) is None:
        return None
    try:
        return date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return None


def _parse_datetime(value: str) -> datetime | None:
    text = value.strip()
    if _DATETIME_RE.fullmatch(text) is None:
        return None
    head, dot, tail = text.partition(".")
    if dot:  # Python accepts at most 6 fractional digits: truncate, keep the offset.
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[:digits][:6].ljust(6, '0')}{tail[digits:]}"
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def html_title(body: bytes) -> str | None:
    """The ``<title>`` of an HTML body (whitespace collapsed, at most 80 characters), if any."""
    match = _TITLE_RE.search(body[:65536])
    if match is None:
        return None
    title = " ".join(match.group(1).decode("utf-8", "replace").split())[:80]
    return title or None


def html_reason(body: bytes, where: str | None = None) -> str:
    """E.g. ``HTML page instead of JSON (HTTP 403 from <url>): "Access Denied"``."""
    title = html_title(body)
    reason = f"HTML page instead of JSON ({where})" if where else "HTML page instead of JSON"
    return reason + (f': "{title}"' if title else "")


def looks_like_html(body: bytes) -> bool:
    """True when the body (after a BOM and whitespace) starts with ``<``."""
    return strip_prefix(body)[:1] == b"<"


def strip_bom(body: bytes) -> bytes:
    return body[3:] if body.startswith(b"\xef\xbb\xbf") else body


def strip_prefix(body: bytes) -> bytes:
    return strip_bom(body).lstrip()


class _Problems:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)
        if len(self.items) >= _MAX_PROBLEMS:
            raise _TooMany

    def raise_if_any(self, source: str) -> None:
        if self.items:
            raise _error(self.items, source, truncated=False)


class _TooMany(Exception):
    pass


def _error(items: list[str], source: str, *, truncated: bool) -> KevCatalogError:
    message = "; ".join(items)
    if truncated:
        message += f" (stopped after {len(items)} problems)"
    elif len(items) > 1:
        message = f"{len(items)} problems: {message}"
    return KevCatalogError(message, source=source, problems=tuple(items))


# --------------------------------------------------------------------------- entries


def _entry(
    item: Mapping[str, object], where: str, problems: _Problems, *, cwes_csv: bool
) -> KevEntry | None:
    before = len(problems.items)
    missing = [key for key in _REQUIRED_ENTRY_KEYS if key not in item]
    if missing:
        problems.add(f"{where}: missing required key(s): {', '.join(missing)}")

    def text(key: str, *, optional: bool = False) -> str:
        if key not in item:
            return ""  # reported above when required
        value = item[key]
        if isinstance(value, str):
            return value
        if optional and value is None:
            return ""
        problems.add(f"{where}.{key}: expected a string, got {_kind(value)}")
        return ""

    raw_cve = text("cveID")
    cve_id = raw_cve.strip().upper()
    if _CVE_RE.fullmatch(cve_id) is None and isinstance(item.get("cveID"), str):
        problems.add(f"{where}.cveID: not a CVE id (CVE-YYYY-NNNN): {_short(raw_cve)}")

    raw_added = text("dateAdded")
    date_added = _parse_date(raw_added.strip())
    if date_added is None and isinstance(item.get("dateAdded"), str):
        problems.add(f"{where}.dateAdded: not a date (YYYY-MM-DD): {_short(raw_added)}")

    due_date: date | None = None
    raw_due = item.get("dueDate")
    if raw_due is not None:
        due_text = text("dueDate").strip()
        if due_text:
            due_date = _parse_date(due_text)
            if due_date is None:
                problems.add(f"{where}.dueDate: not a date (YYYY-MM-DD): {_short(raw_due)}")

    ransomware_text = text("knownRansomwareCampaignUse", optional=True)
    known_ransomware = _RANSOMWARE.get(ransomware_text.strip().lower())

    raw_cwes = item.get("cwes")
    cwes: tuple[str, ...] = ()
    if cwes_csv and isinstance(raw_cwes, str):
        raw_cwes = [part for part in raw_cwes.split(",") if part.strip()]
    if isinstance(raw_cwes, list):
        cwes_list: list[str] = []
        for j, cwe in enumerate(raw_cwes):
            if not isinstance(cwe, str):
                problems.add(f"{where}.cwes[{j}]: expected a string, got {_kind(cwe)}")
            elif _CWE_RE.fullmatch(cwe.strip()) is None:
                problems.add(f"{where}.cwes[{j}]: not a CWE id (CWE-NNN): {_short(cwe)}")
            else:
                cwes_list.append(cwe.strip())
        cwes = tuple(cwes_list)
    elif raw_cwes is not None:
        problems.add(f"{where}.cwes: expected an array, got {_kind(raw_cwes)}")

    entry = KevEntry(
        cve_id=cve_id,
        vendor_project=text("vendorProject"),
        product=text("product"),
        name=text("vulnerabilityName"),
        date_added=date_added or date.min,
        due_date=due_date,
        known_ransomware=known_ransomware,
        short_description=text("shortDescription"),
        required_action=text("requiredAction"),
        notes=text("notes", optional=True),
        cwes=cwes,
    )
    return entry if len(problems.items) == before else None


# --------------------------------------------------------------------------- JSON


def parse_json(body: bytes, *, source: str, sha256: str) -> KevCatalog:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise KevCatalogError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", source=source
        ) from None
    if not isinstance(doc, dict):
        raise KevCatalogError(f"top level: expected an object, got {_kind(doc)}", source=source)

    problems = _Problems()
    try:
        missing = [k for k in _REQUIRED_TOP_KEYS if k not in doc]
        if missing:
            problems.add(f"missing required key(s): {', '.join(missing)}")
        version = doc.get("catalogVersion")
        if "catalogVersion" in doc and (not isinstance(version, str) or not version.strip()):
            problems.add(f"catalogVersion: expected a non-empty string, got {_short(version)}")
        released_raw = doc.get("dateReleased")
        released: datetime | None = None
        if isinstance(released_raw, str):
            released = _parse_datetime(released_raw)
            if released is None:
                problems.add(
                    f"dateReleased: not a date-time with offset (YYYY-MM-DDTHH:MM:SS.sssZ): "
                    f"{_short(released_raw)}"
                )
        elif "dateReleased" in doc:
            problems.add(f"dateReleased: expected a string, got {_kind(released_raw)}")
        count = doc.get("count")
        if "count" in doc and (not isinstance(count, int) or isinstance(count, bool)):
            problems.add(f"count: expected an integer, got {_kind(count)} {_short(count)}")
        vulns = doc.get("vulnerabilities")
        entries: list[KevEntry] = []
        if isinstance(vulns, list):
            for i, item in enumerate(vulns):
                if isinstance(item, dict):
                    entry = _entry(item, f"vulnerabilities[{i}]", problems, cwes_csv=False)
                    if entry is not None:
                        entries.append(entry)
                else:
                    problems.add(f"vulnerabilities[{i}]: expected an object, got {_kind(item)}")
        elif "vulnerabilities" in doc:
            problems.add(f"vulnerabilities: expected an array, got {_kind(vulns)}")
    except _TooMany:
        raise _error(problems.items, source, truncated=True) from None
    problems.raise_if_any(source)
    assert isinstance(version, str) and isinstance(count, int) and isinstance(vulns, list)
    assert released is not None
    if count != len(vulns):
        raise KevCatalogError(f"count {count} disagrees with {len(vulns)} entries", source=source)
    return KevCatalog(
        catalog_version=version.strip(),
        date_released=released,
        count=count,
        sha256=sha256,
        entries=tuple(entries),
        source=source,
        format="json",
    )


# --------------------------------------------------------------------------- CSV


def _version_from_source(source: str) -> date | None:
    name = source.split("?", 1)[0].rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]
    match = _FILENAME_DATE_RE.search(name)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def parse_csv(body: bytes, *, source: str, sha256: str) -> KevCatalog:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KevCatalogError(
            f"CSV is not valid UTF-8 at byte {exc.start}", source=source
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems = _Problems()
    entries: list[KevEntry] = []
    rows = 0
    try:
        header = [column.strip() for column in next(reader, [])]
        missing = [column for column in _REQUIRED_ENTRY_KEYS if column not in header]
        if missing:
            raise KevCatalogError(
                f"CSV header (line 1): missing column(s): {', '.join(missing)}", source=source
            )
        width = len(header)
        start = reader.line_num + 1
        for row in reader:
            where, start = f"line {start}", reader.line_num + 1  # a row may span several lines
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            rows += 1
            if len(row) != width:
                problems.add(f"{where}: expected {width} fields, got {len(row)}")
                continue
            entry = _entry(dict(zip(header, row, strict=True)), where, problems, cwes_csv=True)
            if entry is not None:
                entries.append(entry)
    except csv.Error as exc:
        problems.items.append(f"line {reader.line_num}: malformed CSV: {exc}")
    except _TooMany:
        raise _error(problems.items, source, truncated=True) from None
    problems.raise_if_any(source)

    version_date = _version_from_source(source)
    if version_date is None:
        if not entries:
            raise KevCatalogError(
                "CSV has no rows and its name carries no YYYY.MM.DD version", source=source
            )
        version_date = max(entry.date_added for entry in entries)
    return KevCatalog(
        catalog_version=version_date.strftime("%Y.%m.%d"),
        date_released=datetime(version_date.year, version_date.month, version_date.day, tzinfo=UTC),
        count=rows,
        sha256=sha256,
        entries=tuple(entries),
        source=source,
        format="csv",
    )
