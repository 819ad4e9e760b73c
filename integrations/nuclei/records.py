"""The typed Nuclei result record (and the items that are not findings), and the readers
of one event's fields that :mod:`integrations.nuclei.normalize` is built from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from integrations.nuclei.identity import (
    strip_nul,
)

__all__ = [
    "Ignored",
    "Invalid",
    "NucleiResult",
    "ParsedItem",
    "Severity",
    "parse_timestamp",
]

Severity = Literal["info", "low", "medium", "high", "critical", "unknown"]

_SEVERITIES: dict[str, Severity] = {
    "info": "info",
    "informational": "info",
    "low": "low",
    "medium": "medium",
    "moderate": "medium",
    "high": "high",
    "critical": "critical",
    "unknown": "unknown",
}
_PROTOCOL_ALIASES = {"network": "tcp"}
_CVE_RE = re.compile(r"CVE-(\d{4})-(\d{4,})", re.IGNORECASE | re.ASCII)
_CWE_NUM_RE = re.compile(r"CWE-(\d+)", re.ASCII)
_MESSAGE_LIMIT = 300


@dataclass(frozen=True, slots=True)
class NucleiResult:
    """One Nuclei finding, normalized. ``meta``/``request``/``response`` are NOT redacted."""

    index: int
    template_id: str
    name: str
    severity: Severity
    matcher_name: str
    extractor_name: str
    protocol: str
    host: str | None
    port: str | None
    scheme: str | None
    url: str | None
    matched_at: str | None
    ip: str | None
    timestamp: datetime | None
    cve_ids: tuple[str, ...]
    cwe_ids: tuple[str, ...]
    cvss_score: float | None
    cvss_metrics: str | None
    epss_score: float | None
    tags: tuple[str, ...]
    authors: tuple[str, ...]
    references: tuple[str, ...]
    description: str
    remediation: str
    meta: dict[str, object]
    request: str | None
    response: str | None
    curl_command: str | None
    extracted_results: tuple[str, ...]
    asset: str
    fingerprint: str
    grouping_key: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event that is not a finding (``matcher-status: false`` or an ``error`` event)."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """Unparseable input or a record missing what a finding needs."""

    index: int
    line: int | None
    message: str


ParsedItem = NucleiResult | Ignored | Invalid


def _where(index: int, line: int | None) -> str:
    return f"record {index} (line {line})" if line is not None else f"record {index}"


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def _text(value: object) -> str | None:
    """A stripped non-empty string, or None. Numbers (not bools) are rendered as text."""
    if type(value) is str:
        return strip_nul(value).strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _body(value: object) -> str | None:
    """Raw text (request/response/curl): kept as is apart from NUL bytes."""
    if type(value) is not str:
        return None
    return strip_nul(value)


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _string_list(value: object, *, split_commas: bool = True) -> tuple[str, ...]:
    """A list, a comma string, a YAML block string (``"- a\\n- b\\n"``) or null."""
    if value is None:
        return ()
    if type(value) is list and all(type(item) is str for item in value):
        items = [item.strip() for item in value]
    elif isinstance(value, str):
        if "\n" in value or value.lstrip().startswith("- "):
            items = []
            for line in value.splitlines():
                line = line.strip()
                if line.startswith("- ") or line == "-":
                    line = line[1:].strip()
                items.append(line)
        elif split_commas:
            items = [item.strip() for item in value.split(",")]
        else:
            items = [value.strip()]
    elif isinstance(value, (list, tuple)):
        items = [text for text in map(_text, value) if text is not None]
    else:
        return ()
    items = [strip_nul(item) for item in items]
    if "" in items:
        items = [item for item in items if item]
    return tuple(dict.fromkeys(items))


def _raw_list(value: object) -> tuple[str, ...]:
    """Extracted results: order, duplicates and whitespace kept; non-strings dropped."""
    if type(value) is list and all(type(item) is str for item in value):
        return tuple(map(strip_nul, value))
    if isinstance(value, str):
        return (strip_nul(value),) if value else ()
    if isinstance(value, (list, tuple)):
        return tuple(
            strip_nul(item) if isinstance(item, str) else str(item)
            for item in value
            if isinstance(item, (str, int, float)) and not isinstance(item, bool)
        )
    return ()


def _cve_key(cve: str) -> tuple[int, int]:
    _, year, number = cve.split("-", 2)
    return int(year), int(number)


def _cve_ids(
    template_id: str, classification_cve: object, tags: tuple[str, ...]
) -> tuple[str, ...]:
    found: set[str] = set()
    for item in _string_list(classification_cve):
        for year, number in _CVE_RE.findall(item):
            found.add(f"CVE-{year}-{number}")
    if template_id[:4].upper() == "CVE-":
        match = _CVE_RE.match(template_id)
        if match:
            found.add(f"CVE-{match.group(1)}-{match.group(2)}")
    for tag in tags:
        if tag[:4].upper() == "CVE-":
            match = _CVE_RE.fullmatch(tag)
            if match:
                found.add(f"CVE-{match.group(1)}-{match.group(2)}")
    return tuple(sorted(found, key=_cve_key)) if len(found) > 1 else tuple(found)


def _cwe_key(cwe: str) -> tuple[int, int, str]:
    match = _CWE_NUM_RE.fullmatch(cwe)
    return (0, int(match.group(1)), cwe) if match else (1, 0, cwe)


def _cwe_ids(value: object) -> tuple[str, ...]:
    found: set[str] = set()
    for item in _string_list(value):
        upper = item.upper()
        found.add(f"CWE-{upper}" if upper.isdigit() else upper)
    return tuple(sorted(found, key=_cwe_key)) if len(found) > 1 else tuple(found)


def parse_timestamp(value: object) -> datetime | None:
    """RFC 3339 with up to 9 fractional digits and any offset (``Z`` too) -> aware UTC.

    Digits beyond microseconds are truncated. A value without an offset is taken as UTC.
    Anything unparseable gives None.
    """
    if type(value) is not str or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    tz = parsed.tzinfo
    if tz is UTC:
        return parsed
    if tz is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _ignored_reason(record: dict[str, object]) -> str | None:
    status = record.get("matcher-status")
    if status is True:
        return None
    if status is None:
        status = record.get("matcher_status")
    if status is False or (isinstance(status, str) and status.strip().lower() == "false"):
        return "matcher-status false"
    error = record.get("error")
    if error and status is not True:
        return _clip(f"error: {error}")
    return None


@dataclass(frozen=True, slots=True)
class _InfoFields:
    """Everything derived from ``info`` (and the template id): identical for every event of
    a template, so it is computed once per template and reused while ``info`` is equal."""

    name: str
    severity: Severity
    cve_ids: tuple[str, ...]
    cwe_ids: tuple[str, ...]
    cvss_score: float | None
    cvss_metrics: str | None
    epss_score: float | None
    tags: tuple[str, ...]
    authors: tuple[str, ...]
    references: tuple[str, ...]
    description: str
    remediation: str


_INFO_CACHE: dict[str, tuple[dict[str, object], _InfoFields]] = {}
_INFO_CACHE_LIMIT = 4096


def _info_fields(template_id: str, info: dict[str, object]) -> _InfoFields:
    cached = _INFO_CACHE.get(template_id)
    if cached is not None and cached[0] == info:
        return cached[1]
    raw_class = info.get("classification")
    classification: dict[str, object] = raw_class if isinstance(raw_class, dict) else {}
    raw_severity = info.get("severity")
    tags = _string_list(info.get("tags"))
    fields = _InfoFields(
        name=_text(info.get("name")) or template_id,
        severity=_SEVERITIES.get(raw_severity.strip().lower(), "unknown")
        if isinstance(raw_severity, str)
        else "unknown",
        cve_ids=_cve_ids(template_id, classification.get("cve-id"), tags),
        cwe_ids=_cwe_ids(classification.get("cwe-id")),
        cvss_score=_number(classification.get("cvss-score")),
        cvss_metrics=_text(classification.get("cvss-metrics")),
        epss_score=_number(classification.get("epss-score")),
        tags=tags,
        authors=_string_list(info.get("author")),
        references=_string_list(info.get("reference"), split_commas=False),
        description=_body(info.get("description")) or "",
        remediation=_body(info.get("remediation")) or "",
    )
    if len(_INFO_CACHE) >= _INFO_CACHE_LIMIT:
        _INFO_CACHE.clear()
    _INFO_CACHE[template_id] = (info, fields)
    return fields
