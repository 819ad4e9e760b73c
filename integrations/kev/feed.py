"""KEV feed client: fetch the catalog over HTTP with conditional requests and a mirror fallback.

One attempt per source, no retries (the job queue owns retry/backoff). Every source is bounded:
per-request httpx timeout plus an overall deadline of ``timeout`` seconds per source, at most
:data:`MAX_REDIRECTS` redirects (followed here, so the caller's client settings do not matter;
an https -> http downgrade is refused), and at most ``max_bytes`` of (decoded) body, streamed.

A source *fails* — and the next one (the mirror) is tried — on a transport error or timeout, a
non-2xx status, an HTML body (Akamai "Access Denied" pages, also when served with 200), invalid or
truncated JSON, a schema violation, a count mismatch, an oversize body, or a catalog older than
the one described by the caller's :class:`FeedState` (the GitHub mirror may lag).

Results:

* ``not_modified`` — the server answered 304 to our ``If-None-Match``/``If-Modified-Since``;
  ``catalog`` is ``None``.
* ``unchanged`` — a 200 whose body has the stored ``sha256`` (``catalog`` is ``None``: it was not
  parsed), or whose ``catalogVersion`` and ``dateReleased`` equal the stored ones (bytes differ,
  e.g. a re-serialised mirror copy; ``catalog`` is the parsed catalog).
* ``updated`` — a new, validated catalog.

Use :meth:`FeedResult.next_state` to get the :class:`FeedState` to store.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

import httpx

from integrations.kev.catalog import (
    MAX_CATALOG_BYTES,
    KevCatalog,
    KevCatalogError,
    html_reason,
    looks_like_html,
    parse_catalog,
)

__all__ = [
    "DEFAULT_KEV_MIRROR_URL",
    "DEFAULT_KEV_URL",
    "MAX_REDIRECTS",
    "USER_AGENT",
    "FeedResult",
    "FeedState",
    "KevFeedError",
    "fetch_catalog",
]

DEFAULT_KEV_URL = (
    "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
)
DEFAULT_KEV_MIRROR_URL = "https://raw.githubusercontent.com/cisagov/kev-data/develop/known_exploited_vulnerabilities.json"
MAX_REDIRECTS = 5
_ERROR_BODY_BYTES = 64 * 1024


def _package_version() -> str:
    try:
        return version("slabot")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


USER_AGENT = f"slabot/{_package_version()} (+remediation SLA bot; KEV feed client)"

FeedStatus = Literal["updated", "not_modified", "unchanged"]


@dataclass(frozen=True)
class FeedState:
    """What the last good fetch left behind (the caller stores it). ``catalog_version`` and
    ``date_released`` are optional; with them a same-version body is ``unchanged`` and an older
    catalog (a lagging mirror) is refused instead of replacing a newer one."""

    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    catalog_version: str | None = None
    date_released: datetime | None = None


@dataclass(frozen=True)
class FeedResult:
    status: FeedStatus
    catalog: KevCatalog | None
    etag: str | None
    last_modified: str | None
    url_used: str
    errors: tuple[str, ...] = ()
    """Why earlier sources failed before ``url_used`` succeeded (empty when the primary worked)."""
    sha256: str | None = None
    """sha256 of the body received (``None`` for 304)."""

    def next_state(self, previous: FeedState | None) -> FeedState:
        """The state to store after this result."""
        prev = previous or FeedState()
        catalog = self.catalog
        return FeedState(
            etag=self.etag if self.etag is not None else prev.etag,
            last_modified=self.last_modified
            if self.last_modified is not None
            else prev.last_modified,
            sha256=self.sha256 or prev.sha256,
            catalog_version=catalog.catalog_version if catalog else prev.catalog_version,
            date_released=catalog.date_released if catalog else prev.date_released,
        )


class KevFeedError(Exception):
    """Every source failed. ``errors`` has one ``"<label> <url>: <reason>"`` line per source."""

    def __init__(self, errors: tuple[str, ...]) -> None:
        super().__init__("KEV feed unavailable, all sources failed: " + "; ".join(errors))
        self.errors = errors


class _SourceFailed(Exception):
    pass


def fetch_catalog(
    client: httpx.Client,
    *,
    url: str,
    mirror_url: str | None,
    state: FeedState | None,
    timeout: float = 30.0,
    max_bytes: int = MAX_CATALOG_BYTES,
) -> FeedResult:
    """Fetch the catalog from ``url``, falling back to ``mirror_url``. See the module docstring.

    The caller owns ``client``. Raises :class:`KevFeedError` when every source fails.
    """
    sources = [("primary", url)]
    if mirror_url and mirror_url != url:
        sources.append(("mirror", mirror_url))
    errors: list[str] = []
    for label, source_url in sources:
        try:
            result = _fetch_one(client, source_url, state, timeout, max_bytes)
        except _SourceFailed as exc:
            errors.append(f"{label} {source_url}: {exc}")
            continue
        if errors:
            return FeedResult(
                status=result.status,
                catalog=result.catalog,
                etag=result.etag,
                last_modified=result.last_modified,
                url_used=result.url_used,
                errors=tuple(errors),
                sha256=result.sha256,
            )
        return result
    raise KevFeedError(tuple(errors))


def _request_headers(state: FeedState | None) -> dict[str, str]:
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/json, text/csv;q=0.5, */*;q=0.1",
    }
    if state is not None:
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
    return headers


def _fetch_one(
    client: httpx.Client, url: str, state: FeedState | None, timeout: float, max_bytes: int
) -> FeedResult:
    headers = _request_headers(state)
    deadline = time.monotonic() + timeout
    try:
        current = httpx.URL(url)
        for _hop in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _SourceFailed(f"timed out after {timeout:g} s (redirects)")
            request = client.build_request("GET", current, headers=headers, timeout=remaining)
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                if response.has_redirect_location:
                    current = _redirect_target(response)
                    continue
                return _handle_response(response, url, state, deadline, timeout, max_bytes)
            finally:
                response.close()
        raise _SourceFailed(f"more than {MAX_REDIRECTS} redirects (last to {current})")
    except httpx.TimeoutException as exc:
        raise _SourceFailed(f"timed out after {timeout:g} s ({type(exc).__name__})") from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise _SourceFailed(f"{type(exc).__name__}: {exc}") from None


def _redirect_target(response: httpx.Response) -> httpx.URL:
    target = response.url.join(response.headers["Location"])
    if target.scheme not in ("http", "https"):
        raise _SourceFailed(f"HTTP {response.status_code} redirect to unsupported URL {target}")
    if response.url.scheme == "https" and target.scheme == "http":
        raise _SourceFailed(f"HTTP {response.status_code} redirect downgrades to {target}")
    return target


def _read_body(response: httpx.Response, limit: int, deadline: float, timeout: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _SourceFailed(f"body of {int(declared)} bytes exceeds the {limit}-byte limit")
    buffer = bytearray()
    for chunk in response.iter_bytes():
        buffer += chunk
        if len(buffer) > limit:
            raise _SourceFailed(f"body exceeds the {limit}-byte limit")
        if time.monotonic() > deadline:
            raise _SourceFailed(f"timed out after {timeout:g} s reading the body")
    return bytes(buffer)


def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    buffer = bytearray()
    for chunk in response.iter_bytes():
        buffer += chunk
        if len(buffer) >= limit:
            break
    return bytes(buffer[:limit])


def _is_html(response: httpx.Response, body: bytes) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    return "html" in content_type or looks_like_html(body)


def _handle_response(
    response: httpx.Response,
    url: str,
    state: FeedState | None,
    deadline: float,
    timeout: float,
    max_bytes: int,
) -> FeedResult:
    status = response.status_code
    etag = response.headers.get("ETag")
    last_modified = response.headers.get("Last-Modified")
    where = f"HTTP {status} from {response.url}"

    if status == 304:
        if state is None or not (state.etag or state.last_modified):
            raise _SourceFailed("HTTP 304 Not Modified to a request that was not conditional")
        return FeedResult(
            status="not_modified",
            catalog=None,
            etag=etag or state.etag,
            last_modified=last_modified or state.last_modified,
            url_used=url,
        )
    if not 200 <= status < 300:
        prefix = _read_prefix(response, _ERROR_BODY_BYTES)
        if _is_html(response, prefix):
            raise _SourceFailed(html_reason(prefix, where))
        raise _SourceFailed(f"HTTP {status} {response.reason_phrase} from {response.url}".strip())

    body = _read_body(response, max_bytes, deadline, timeout)
    if _is_html(response, body):
        raise _SourceFailed(html_reason(body, where))
    sha256 = hashlib.sha256(body).hexdigest()
    if state is not None and state.sha256 == sha256:
        return FeedResult("unchanged", None, etag, last_modified, url, sha256=sha256)
    try:
        catalog = parse_catalog(body, source=url)
    except KevCatalogError as exc:
        raise _SourceFailed(str(exc)) from None

    if state is not None and state.date_released is not None:
        if catalog.date_released < state.date_released:
            raise _SourceFailed(
                f"catalog {catalog.catalog_version} (released {_iso(catalog.date_released)}) "
                f"is older than the stored {state.catalog_version or 'catalog'} "
                f"(released {_iso(state.date_released)})"
            )
        if (
            catalog.date_released == state.date_released
            and catalog.catalog_version == state.catalog_version
        ):
            return FeedResult("unchanged", catalog, etag, last_modified, url, sha256=sha256)
    return FeedResult("updated", catalog, etag, last_modified, url, sha256=sha256)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
