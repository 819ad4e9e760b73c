"""Issue 3: the ingest endpoints over HTTP (auth, limits, encodings, atomic rejection)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.context import AppContext
from bot.web.app import create_app
from tests.helpers_ingest import (
    INGEST_TOKEN,
    SUMMARY_KEYS,
    counts,
    evidence_files,
    findings,
    jsonl,
    record,
    scans,
    sign,
    with_settings,
)

BEARER = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"}
URL = "/webhooks/nuclei"


def client_for(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx))


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with client_for(ctx) as c:
        yield c


def two_findings() -> bytes:
    return jsonl(
        [
            record("sqli", severity="critical", matched_at="https://shop.example.com/cart"),
            record("tech", severity="info", matched_at="https://shop.example.com/"),
        ]
    )


def assert_nothing_stored(ctx: AppContext, before: dict[str, int]) -> None:
    assert counts(ctx) == before
    assert evidence_files(ctx) == []


# -- auth -------------------------------------------------------------------------------------


def test_bearer_token_accepted(ctx: AppContext, client: TestClient) -> None:
    response = client.post(URL, content=two_findings(), headers=BEARER)
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == SUMMARY_KEYS
    assert body["findings"] == 2 and body["new"] == 2 and body["tickets_opened"] == 1
    assert counts(ctx)["findings"] == 2


def test_hmac_signature_accepted(ctx: AppContext, client: TestClient) -> None:
    data = two_findings()
    response = client.post(
        URL,
        content=data,
        headers={"X-Slabot-Signature": sign(data), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 202, response.text
    assert set(response.json()) == SUMMARY_KEYS
    assert counts(ctx)["scans"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {INGEST_TOKEN}"},
        {"Authorization": f"Splunk {INGEST_TOKEN}"},
        {"X-Slabot-Signature": "sha256=" + "0" * 64},
        {"X-Slabot-Signature": "not-a-signature"},
    ],
    ids=["missing", "wrong-bearer", "basic", "splunk-scheme", "bad-hmac", "garbage-hmac"],
)
def test_bad_credentials_401_and_nothing_stored(
    ctx: AppContext, client: TestClient, headers: dict[str, str]
) -> None:
    before = counts(ctx)
    response = client.post(URL, content=two_findings(), headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error", "detail"}
    assert_nothing_stored(ctx, before)


def test_hmac_of_another_body_is_refused(ctx: AppContext, client: TestClient) -> None:
    before = counts(ctx)
    data = two_findings()
    response = client.post(URL, content=data, headers={"X-Slabot-Signature": sign(data + b" ")})
    assert response.status_code == 401
    assert_nothing_stored(ctx, before)


def test_no_ingest_token_configured_refuses_everything(ctx: AppContext) -> None:
    closed = with_settings(ctx, ingest_token=None)
    with client_for(closed) as c:
        response = c.post(URL, content=two_findings(), headers=BEARER)
    assert response.status_code == 401
    assert counts(ctx)["scans"] == 0


# -- limits and encodings ---------------------------------------------------------------------


def big_body(size: int) -> bytes:
    rec = record("big", severity="info", description="x" * size)
    return jsonl([rec])


def test_over_limit_with_content_length_413(ctx: AppContext) -> None:
    small = with_settings(ctx, max_body_bytes=2048)
    before = counts(ctx)
    with client_for(small) as c:
        response = c.post(URL, content=big_body(4096), headers=BEARER)
    assert response.status_code == 413
    assert response.json()["error"]
    assert_nothing_stored(ctx, before)


def test_over_limit_streamed_chunked_413(ctx: AppContext) -> None:
    small = with_settings(ctx, max_body_bytes=2048)
    data = big_body(8192)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 500):
            yield data[start : start + 500]

    before = counts(ctx)
    with client_for(small) as c:
        response = c.post(URL, content=chunks(), headers=BEARER)
    assert response.status_code == 413
    assert_nothing_stored(ctx, before)


def test_under_limit_streamed_chunked_accepted(ctx: AppContext) -> None:
    small = with_settings(ctx, max_body_bytes=4096)
    data = two_findings()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    with client_for(small) as c:
        response = c.post(URL, content=chunks(), headers=BEARER)
    assert response.status_code == 202, response.text
    assert response.json()["findings"] == 2


def test_gzip_body_accepted(ctx: AppContext, client: TestClient) -> None:
    response = client.post(
        URL,
        content=gzip.compress(two_findings()),
        headers=BEARER | {"Content-Encoding": "gzip"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["new"] == 2


def test_gzip_bomb_413(ctx: AppContext) -> None:
    tight = with_settings(ctx, max_decompressed_bytes=64 * 1024)
    bomb = gzip.compress(b"[" + b" " * (10 * 1024 * 1024) + b"]")
    assert len(bomb) < 64 * 1024
    before = counts(ctx)
    with client_for(tight) as c:
        response = c.post(URL, content=bomb, headers=BEARER | {"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert_nothing_stored(ctx, before)


def test_corrupt_gzip_422(ctx: AppContext, client: TestClient) -> None:
    before = counts(ctx)
    response = client.post(
        URL, content=b"\x1f\x8b\x08garbage", headers=BEARER | {"Content-Encoding": "gzip"}
    )
    assert response.status_code == 422
    assert_nothing_stored(ctx, before)


@pytest.mark.parametrize("content_type", ["application/xml", "multipart/form-data", "image/png"])
def test_unknown_content_type_415(ctx: AppContext, client: TestClient, content_type: str) -> None:
    before = counts(ctx)
    response = client.post(
        URL, content=two_findings(), headers=BEARER | {"Content-Type": content_type}
    )
    assert response.status_code == 415
    assert_nothing_stored(ctx, before)


def test_unknown_content_encoding_415(ctx: AppContext, client: TestClient) -> None:
    before = counts(ctx)
    response = client.post(URL, content=two_findings(), headers=BEARER | {"Content-Encoding": "br"})
    assert response.status_code == 415
    assert_nothing_stored(ctx, before)


# -- invalid input: 422, nothing stored -------------------------------------------------------


def test_one_invalid_record_rejects_the_whole_body(ctx: AppContext, client: TestClient) -> None:
    # A known finding first, so a rejected body must not touch it either.
    client.post(URL, content=two_findings(), headers=BEARER)
    before = counts(ctx)
    files_before = evidence_files(ctx)
    data = (
        jsonl([record("ok-1", severity="critical", matched_at="https://new.example.com/")])
        + b'{"info": {"severity": "high"}, "matched-at": "https://x.example.com"}\n'
        + b"{not json\n"
        + jsonl([record("sqli", severity="critical", matched_at="https://shop.example.com/cart")])
    )
    response = client.post(URL, content=data, headers=BEARER)
    assert response.status_code == 422
    body = response.json()
    assert "nothing was stored" in body["error"]
    detail = body["detail"]
    assert len(detail) == 2
    assert "record 1 (line 2)" in detail[0] and "template-id" in detail[0]
    assert "line 3" in detail[1] and "invalid JSON" in detail[1]
    assert counts(ctx) == before
    assert evidence_files(ctx) == files_before
    assert findings(ctx)[0].occurrences == 1


def test_invalid_detail_lists_the_first_20_problems(ctx: AppContext, client: TestClient) -> None:
    data = orjson.dumps([{"info": {}} for _ in range(30)])
    before = counts(ctx)
    response = client.post(URL, content=data, headers=BEARER)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(detail) == 20
    assert detail[0].startswith("record 0") and detail[19].startswith("record 19")
    assert_nothing_stored(ctx, before)


@pytest.mark.parametrize("data", [b"", b"[]", b"  \n", b'{"scan_metadata": {}, "findings": []}'])
def test_empty_body_is_an_empty_scan(ctx: AppContext, client: TestClient, data: bytes) -> None:
    response = client.post(URL, content=data, headers=BEARER)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["scan_id"] is not None
    assert {k: v for k, v in body.items() if k != "scan_id"} == dict.fromkeys(
        SUMMARY_KEYS - {"scan_id"}, 0
    )
    [scan] = scans(ctx)
    assert scan.id == body["scan_id"] and scan.findings == 0
    assert len(evidence_files(ctx)) == 1


def test_target_query_names_the_asset_of_locationless_records(
    ctx: AppContext, client: TestClient
) -> None:
    rec = record("dns-thing", severity="medium", matched_at=None, type="dns")
    response = client.post(
        URL, params={"target": "https://Target.Example.com/"}, content=jsonl([rec]), headers=BEARER
    )
    assert response.status_code == 202, response.text
    [finding] = findings(ctx)
    assert finding.asset == "https://target.example.com"
    [scan] = scans(ctx)
    assert scan.target == "https://Target.Example.com/"


# -- Splunk HEC -------------------------------------------------------------------------------


def test_splunk_hec_concatenated_events(ctx: AppContext, client: TestClient) -> None:
    events = [
        record("hec-a", severity="high", matched_at="https://a.example.com/"),
        record("hec-b", severity="low", matched_at="https://b.example.com/"),
        record("hec-a", severity="high", matched_at="https://a.example.com/again"),
    ]
    data = b"".join(
        orjson.dumps({"time": 1767225600, "sourcetype": "nuclei", "event": e}) for e in events
    )
    response = client.post(
        "/services/collector/event",
        content=data,
        headers={"Authorization": f"Splunk {INGEST_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 0 and body["text"] == "Success"
    assert (body["findings"], body["new"], body["duplicate"], body["tickets_opened"]) == (
        3,
        2,
        1,
        1,
    )
    assert counts(ctx)["findings"] == 2
    assert scans(ctx)[0].container == "hec"


def test_splunk_hec_needs_the_splunk_scheme(ctx: AppContext, client: TestClient) -> None:
    before = counts(ctx)
    response = client.post(
        "/services/collector/event",
        content=orjson.dumps({"event": record()}),
        headers={"Authorization": f"Bearer {INGEST_TOKEN}"},
    )
    assert response.status_code == 401
    assert_nothing_stored(ctx, before)


# -- fuzz: never 500, 4xx stores nothing ------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
RECORDISH = st.fixed_dictionaries(
    {"template-id": st.text(max_size=8) | st.none(), "info": JSON_VALUES},
    optional={
        "matched-at": st.text(max_size=20) | st.integers(),
        "host": st.text(max_size=10),
        "matcher-status": st.booleans() | st.text(max_size=5),
        "timestamp": st.text(max_size=30),
        "meta": JSON_VALUES,
    },
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _post_and_check(ctx: AppContext, client: TestClient, data: bytes) -> None:
    before = counts(ctx)
    files_before = len(evidence_files(ctx))
    response = client.post(URL, content=data, headers=BEARER)
    assert response.status_code < 500, response.text
    if response.status_code == 202:
        assert set(response.json()) == SUMMARY_KEYS
        assert counts(ctx)["scans"] == before["scans"] + 1
    else:
        assert 400 <= response.status_code < 500
        assert set(response.json()) == {"error", "detail"}
        assert counts(ctx) == before
        assert len(evidence_files(ctx)) == files_before


@FUZZ
@given(value=JSON_VALUES | st.lists(RECORDISH, max_size=4) | RECORDISH)
def test_fuzz_json_values(ctx: AppContext, client: TestClient, value: object) -> None:
    _post_and_check(ctx, client, json.dumps(value).encode())


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_bytes(ctx: AppContext, client: TestClient, data: bytes) -> None:
    _post_and_check(ctx, client, data)


def test_now_is_the_app_clock(ctx: AppContext) -> None:
    fixed = datetime(2026, 3, 4, 12, 0).astimezone()
    clocked = with_settings(ctx)
    clocked.clock = lambda: fixed
    with client_for(clocked) as c:
        c.post(URL, content=two_findings(), headers=BEARER)
    assert scans(ctx)[0].received_at == fixed
