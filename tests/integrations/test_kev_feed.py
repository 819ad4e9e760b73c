"""KEV feed client (integrations.kev.feed) against respx-mocked HTTP."""

from __future__ import annotations

import gzip
import hashlib
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from integrations.kev import (
    DEFAULT_KEV_MIRROR_URL,
    DEFAULT_KEV_URL,
    USER_AGENT,
    FeedResult,
    FeedState,
    KevFeedError,
    fetch_catalog,
    load_catalog_file,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "kev"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "kev"
PRIMARY = DEFAULT_KEV_URL
MIRROR = DEFAULT_KEV_MIRROR_URL

SMALL = (DATA / "small_catalog.json").read_bytes()
SMALL_SHA = hashlib.sha256(SMALL).hexdigest()
AKAMAI = (DATA / "akamai_access_denied.html").read_bytes()
JSON_HEADERS = {"Content-Type": "application/json", "ETag": '"abc123"'}


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def fetch(client: httpx.Client, state: FeedState | None = None, **kwargs: Any) -> FeedResult:
    kwargs.setdefault("mirror_url", MIRROR)
    return fetch_catalog(client, url=PRIMARY, state=state, **kwargs)


def small_variant(**changes: Any) -> bytes:
    doc = orjson.loads(SMALL)
    doc.update(changes)
    return orjson.dumps(doc)


# --------------------------------------------------------------------------- happy paths


def test_updated_sends_user_agent_and_no_conditionals_without_state(
    router: respx.MockRouter, client: httpx.Client
) -> None:
    headers = {**JSON_HEADERS, "Last-Modified": "Thu, 15 Jan 2026 14:02:11 GMT"}
    route = router.get(PRIMARY).respond(200, content=SMALL, headers=headers)
    mirror = router.get(MIRROR).respond(500)
    result = fetch(client)
    assert result.status == "updated"
    assert result.catalog is not None
    assert result.catalog.count == 3
    assert result.catalog.sha256 == SMALL_SHA == result.sha256
    assert result.catalog.source == PRIMARY
    assert (result.etag, result.last_modified) == ('"abc123"', "Thu, 15 Jan 2026 14:02:11 GMT")
    assert result.url_used == PRIMARY
    assert result.errors == ()
    assert not mirror.called
    request = route.calls.last.request
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("slabot/")
    assert USER_AGENT.endswith("(+remediation SLA bot; KEV feed client)")
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers

    state = result.next_state(None)
    assert state == FeedState(
        etag='"abc123"',
        last_modified="Thu, 15 Jan 2026 14:02:11 GMT",
        sha256=SMALL_SHA,
        catalog_version="2026.01.15",
        date_released=result.catalog.date_released,
    )


def test_conditional_headers_and_304(router: respx.MockRouter, client: httpx.Client) -> None:
    route = router.get(PRIMARY).respond(304, headers={"ETag": '"abc124"'})
    state = FeedState(etag='"abc123"', last_modified="Thu, 15 Jan 2026 14:02:11 GMT", sha256="x")
    result = fetch(client, state)
    assert result.status == "not_modified"
    assert result.catalog is None
    assert result.etag == '"abc124"'
    assert result.last_modified == "Thu, 15 Jan 2026 14:02:11 GMT"  # kept from the state
    request = route.calls.last.request
    assert request.headers["If-None-Match"] == '"abc123"'
    assert request.headers["If-Modified-Since"] == "Thu, 15 Jan 2026 14:02:11 GMT"
    assert request.headers["User-Agent"] == USER_AGENT
    assert result.next_state(state) == FeedState('"abc124"', state.last_modified, "x")


def test_304_to_an_unconditional_request_is_a_failure(
    router: respx.MockRouter, client: httpx.Client
) -> None:
    router.get(PRIMARY).respond(304)
    router.get(MIRROR).respond(200, content=SMALL)
    result = fetch(client, FeedState(etag=None, last_modified=None, sha256="x"))
    assert result.status == "updated"
    assert result.url_used == MIRROR
    assert result.errors == (
        f"primary {PRIMARY}: HTTP 304 Not Modified to a request that was not conditional",
    )


def test_same_sha_is_unchanged(router: respx.MockRouter, client: httpx.Client) -> None:
    router.get(PRIMARY).respond(200, content=SMALL, headers=JSON_HEADERS)
    result = fetch(client, FeedState(etag='"old"', last_modified=None, sha256=SMALL_SHA))
    assert result.status == "unchanged"
    assert result.catalog is None
    assert result.sha256 == SMALL_SHA
    assert result.etag == '"abc123"'


def test_same_version_with_different_bytes_is_unchanged(
    router: respx.MockRouter, client: httpx.Client
) -> None:
    catalog = load_catalog_file(DATA / "small_catalog.json")
    reserialised = orjson.dumps(orjson.loads(SMALL))  # same content, other bytes
    router.get(PRIMARY).respond(200, content=reserialised)
    state = FeedState(None, None, SMALL_SHA, catalog.catalog_version, catalog.date_released)
    result = fetch(client, state)
    assert result.status == "unchanged"
    assert result.catalog is not None
    assert result.catalog.entries == catalog.entries
    assert result.next_state(state).sha256 == hashlib.sha256(reserialised).hexdigest()


def test_csv_feed_is_accepted(router: respx.MockRouter, client: httpx.Client) -> None:
    body = (DATA / "small_catalog_2024.01.05.csv").read_bytes()
    csv_url = "https://www.cisa.gov/sites/default/files/csv/known_exploited_vulnerabilities.csv"
    router.get(csv_url).respond(200, content=body, headers={"Content-Type": "text/csv"})
    result = fetch_catalog(client, url=csv_url, mirror_url=None, state=None)
    assert result.catalog is not None
    assert result.catalog.format == "csv"
    assert result.catalog.catalog_version == "2024.01.02"


def test_gzip_body_is_decoded(router: respx.MockRouter, client: httpx.Client) -> None:
    router.get(PRIMARY).respond(
        200, content=gzip.compress(SMALL), headers={"Content-Encoding": "gzip"}
    )
    result = fetch(client)
    assert result.catalog is not None
    assert result.catalog.sha256 == SMALL_SHA  # of the decoded body


# --------------------------------------------------------------------------- failures -> mirror


def test_html_403_falls_back_to_mirror(router: respx.MockRouter, client: httpx.Client) -> None:
    router.get(PRIMARY).respond(403, content=AKAMAI, headers={"Content-Type": "text/html"})
    mirror = router.get(MIRROR).respond(
        200, content=SMALL, headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    result = fetch(client)
    assert result.status == "updated"
    assert result.url_used == MIRROR
    assert result.catalog is not None
    assert result.catalog.source == MIRROR
    assert result.errors == (
        f'primary {PRIMARY}: HTML page instead of JSON (HTTP 403 from {PRIMARY}): "Access Denied"',
    )
    assert mirror.calls.last.request.headers["User-Agent"] == USER_AGENT


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_html_with_200_is_rejected(
    router: respx.MockRouter, client: httpx.Client, content_type: str
) -> None:
    router.get(PRIMARY).respond(200, content=AKAMAI, headers={"Content-Type": content_type})
    router.get(MIRROR).respond(200, content=SMALL)
    result = fetch(client)
    assert result.url_used == MIRROR
    assert result.errors[0].startswith(
        f"primary {PRIMARY}: HTML page instead of JSON (HTTP 200 from {PRIMARY})"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (SMALL[:300], "invalid JSON at line "),
        ((DATA / "schema_violation.json").read_bytes(), "vulnerabilities[1].dateAdded: not a date"),
        (small_variant(count=4), "count 4 disagrees with 3 entries"),
        (b"", "empty body"),
    ],
    ids=["truncated", "schema", "count", "empty"],
)
def test_bad_body_falls_back_to_mirror(
    router: respx.MockRouter, client: httpx.Client, body: bytes, reason: str
) -> None:
    router.get(PRIMARY).respond(200, content=body, headers=JSON_HEADERS)
    router.get(MIRROR).respond(200, content=SMALL)
    result = fetch(client)
    assert result.status == "updated"
    assert result.url_used == MIRROR
    assert len(result.errors) == 1
    assert result.errors[0].startswith(f"primary {PRIMARY}: ")
    assert reason in result.errors[0]


def test_timeout_falls_back_to_mirror(router: respx.MockRouter, client: httpx.Client) -> None:
    router.get(PRIMARY).mock(side_effect=httpx.ConnectTimeout("timed out"))
    router.get(MIRROR).respond(200, content=SMALL)
    result = fetch(client, timeout=7.5)
    assert result.url_used == MIRROR
    assert result.errors == (f"primary {PRIMARY}: timed out after 7.5 s (ConnectTimeout)",)


def test_both_sources_fail(router: respx.MockRouter, client: httpx.Client) -> None:
    router.get(PRIMARY).respond(403, content=AKAMAI, headers={"Content-Type": "text/html"})
    router.get(MIRROR).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(KevFeedError) as info:
        fetch(client)
    assert info.value.errors == (
        f'primary {PRIMARY}: HTML page instead of JSON (HTTP 403 from {PRIMARY}): "Access Denied"',
        f"mirror {MIRROR}: timed out after 30 s (ReadTimeout)",
    )
    message = str(info.value)
    assert message.startswith("KEV feed unavailable, all sources failed: primary ")
    assert PRIMARY in message
    assert MIRROR in message


def test_plain_http_errors_and_transport_errors(
    router: respx.MockRouter, client: httpx.Client
) -> None:
    router.get(PRIMARY).respond(503, content=b"upstream unavailable")
    router.get(MIRROR).mock(side_effect=httpx.ConnectError("Name or service not known"))
    with pytest.raises(KevFeedError) as info:
        fetch(client)
    assert info.value.errors == (
        f"primary {PRIMARY}: HTTP 503 Service Unavailable from {PRIMARY}",
        f"mirror {MIRROR}: ConnectError: Name or service not known",
    )


def test_no_mirror_means_one_source(router: respx.MockRouter, client: httpx.Client) -> None:
    route = router.get(PRIMARY).respond(500)
    with pytest.raises(KevFeedError) as info:
        fetch(client, mirror_url=None)
    assert info.value.errors == (
        f"primary {PRIMARY}: HTTP 500 Internal Server Error from {PRIMARY}",
    )
    assert route.call_count == 1  # no retries


def test_older_catalog_from_lagging_mirror_is_refused(
    router: respx.MockRouter, client: httpx.Client
) -> None:
    router.get(PRIMARY).respond(403, content=AKAMAI, headers={"Content-Type": "text/html"})
    router.get(MIRROR).respond(200, content=SMALL)
    newer = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    state = FeedState(None, None, "stale-sha", "2026.02.01", newer)
    with pytest.raises(KevFeedError) as info:
        fetch(client, state)
    assert info.value.errors[1] == (
        f"mirror {MIRROR}: catalog 2026.01.15 (released 2026-01-15T14:02:11.123400Z) "
        "is older than the stored 2026.02.01 (released 2026-02-01T12:00:00Z)"
    )


# --------------------------------------------------------------------------- bounds


def test_declared_oversize_body_is_rejected(router: respx.MockRouter, client: httpx.Client) -> None:
    router.get(PRIMARY).respond(200, content=SMALL)
    router.get(MIRROR).respond(200, content=SMALL)
    with pytest.raises(KevFeedError) as info:
        fetch(client, max_bytes=1000)
    assert info.value.errors[0] == (
        f"primary {PRIMARY}: body of {len(SMALL)} bytes exceeds the 1000-byte limit"
    )


def test_streamed_oversize_body_is_cut_off(router: respx.MockRouter, client: httpx.Client) -> None:
    produced = 0

    def endless() -> Iterator[bytes]:
        nonlocal produced
        while produced < 10_000_000:
            produced += 4096
            yield b" " * 4096

    router.get(PRIMARY).mock(return_value=httpx.Response(200, content=endless()))
    router.get(MIRROR).respond(200, content=SMALL)
    result = fetch(client, max_bytes=64 * 1024)
    assert result.url_used == MIRROR
    assert result.errors == (f"primary {PRIMARY}: body exceeds the 65536-byte limit",)
    assert produced <= 64 * 1024 + 4096  # stopped reading right after the limit


def test_redirects_are_followed_up_to_five(router: respx.MockRouter, client: httpx.Client) -> None:
    hops = [f"https://www.cisa.gov/hop{i}" for i in range(5)]
    router.get(PRIMARY).respond(302, headers={"Location": hops[0]})
    for here, there in itertools.pairwise(hops):
        router.get(here).respond(301, headers={"Location": there})
    final = router.get(hops[-1]).respond(200, content=SMALL)
    result = fetch(client)
    assert result.status == "updated"
    assert result.url_used == PRIMARY
    assert final.calls.last.request.headers["User-Agent"] == USER_AGENT


def test_too_many_redirects_fail(router: respx.MockRouter, client: httpx.Client) -> None:
    hops = [f"https://www.cisa.gov/hop{i}" for i in range(7)]
    router.get(PRIMARY).respond(302, headers={"Location": hops[0]})
    for here, there in itertools.pairwise(hops):
        router.get(here).respond(302, headers={"Location": there})
    router.get(MIRROR).respond(200, content=SMALL)
    result = fetch(client)
    assert result.url_used == MIRROR
    assert result.errors == (
        f"primary {PRIMARY}: more than 5 redirects (last to https://www.cisa.gov/hop5)",
    )


def test_https_downgrade_redirect_is_refused(
    router: respx.MockRouter, client: httpx.Client
) -> None:
    router.get(PRIMARY).respond(301, headers={"Location": "http://www.cisa.gov/kev.json"})
    with pytest.raises(
        KevFeedError, match=r"redirect downgrades to http://www\.cisa\.gov/kev\.json"
    ):
        fetch(client, mirror_url=None)


# --------------------------------------------------------------------------- real corpus


def test_real_catalog_through_the_feed(router: respx.MockRouter, client: httpx.Client) -> None:
    path = CORPUS / "known_exploited_vulnerabilities_2026.08.07.json"
    if not path.is_file():
        pytest.skip(f"KEV corpus file absent: {path}")
    body = path.read_bytes()
    router.get(PRIMARY).respond(200, content=body, headers={"Content-Type": "application/json"})
    result = fetch(client)
    assert result.catalog is not None
    assert result.catalog.count == 1662
    again = fetch(client, result.next_state(None))
    assert again.status == "unchanged"
    assert again.catalog is None
