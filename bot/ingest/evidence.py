"""A finding's evidence: bounded at ingest, redacted whenever it is shown.

Ingest only clips (cheap, and the raw scan is retained byte-exact anyway); every path by which
evidence leaves slabot — tracker descriptions, the API, the CLI — goes through
:func:`display_details`, which redacts ``meta`` values and secrets in request/response/curl.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.nuclei import NucleiResult, redact_http, redact_meta, strip_nul

# Enough to show what matched; the whole body stays in the retained raw scan.
REQUEST_EXCERPT = 2048
RESPONSE_EXCERPT = 1024
DESCRIPTION_LIMIT = 4000
HTTP_FIELDS = ("matched_at", "request", "response", "curl_command")


def _excerpt(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return text[:limit] + ("\n[… truncated]" if len(text) > limit else "")


def without_nul(value: Any) -> Any:
    """Arbitrary JSON (``meta``, scan metadata) with NUL characters dropped from every key and
    string: PostgreSQL's text and JSONB cannot hold them (the raw body keeps them)."""
    if isinstance(value, str):
        return strip_nul(value)
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def finding_details(result: NucleiResult) -> dict[str, Any]:
    return {
        "matched_at": result.matched_at,
        "protocol": result.protocol,
        "description": result.description[:DESCRIPTION_LIMIT],
        "remediation": result.remediation[:DESCRIPTION_LIMIT],
        "references": list(result.references[:20]),
        "tags": list(result.tags[:30]),
        "cwe_ids": list(result.cwe_ids),
        "cvss_score": result.cvss_score,
        "cvss_metrics": result.cvss_metrics,
        "epss_score": result.epss_score,
        "extracted_results": [e[:500] for e in result.extracted_results[:10]],
        "meta": without_nul(result.meta),
        "request": _excerpt(result.request, REQUEST_EXCERPT),
        "response": _excerpt(result.response, RESPONSE_EXCERPT),
        "curl_command": _excerpt(result.curl_command, REQUEST_EXCERPT),
    }


def display_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """The stored details with every secret redacted: the only form that leaves slabot."""
    shown = dict(details)
    meta = shown.get("meta")
    if isinstance(meta, Mapping):
        shown["meta"] = redact_meta(meta)
    for name in HTTP_FIELDS:
        value = shown.get(name)
        if isinstance(value, str):
            shown[name] = redact_http(value)
    return shown
