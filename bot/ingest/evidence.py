"""Display-safe evidence for a finding: redacted and bounded before it leaves slabot."""

from __future__ import annotations

from typing import Any

from integrations.nuclei import NucleiResult, redact_http, redact_meta

REQUEST_EXCERPT = 4000
RESPONSE_EXCERPT = 2000
DESCRIPTION_LIMIT = 4000


def _excerpt(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    # Cut first (bounded work per finding), then redact what is kept.
    clipped = text[:limit]
    return redact_http(clipped) + ("\n[… truncated]" if len(text) > limit else "")


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
        "meta": redact_meta(result.meta),
        "request": _excerpt(result.request, REQUEST_EXCERPT),
        "response": _excerpt(result.response, RESPONSE_EXCERPT),
        "curl_command": _excerpt(result.curl_command, REQUEST_EXCERPT),
    }
