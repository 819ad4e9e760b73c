"""``GET /api/tickets`` (paged, authenticated) and ``GET /api/tickets/{id}``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from bot.context import AppContext
from bot.web.app import create_app
from tests.helpers_ingest import (
    API_TOKEN,
    EVENT_KEYS,
    TICKET_KEYS,
    ingest_bytes,
    jsonl,
    record,
    set_ticket_status,
    tickets,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def seed(ctx: AppContext, n: int) -> None:
    ingest_bytes(
        ctx,
        jsonl(
            record(f"tpl-{i}", severity="high", matched_at=f"https://h{i}.example.com/")
            for i in range(n)
        ),
        now=NOW,
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "test-api-token"}],
    ids=["missing", "wrong", "no-scheme"],
)
def test_api_needs_the_token(ctx: AppContext, client: TestClient, headers: dict[str, str]) -> None:
    seed(ctx, 1)
    for path in ("/api/tickets", f"/api/tickets/{tickets(ctx)[0].id}", "/api/findings"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert set(response.json()) == {"error", "detail"}


def test_ingest_token_is_not_an_api_token(ctx: AppContext, client: TestClient) -> None:
    response = client.get("/api/tickets", headers={"Authorization": "Bearer test-ingest-token"})
    assert response.status_code == 401


def test_pagination_walks_every_ticket_once(ctx: AppContext, client: TestClient) -> None:
    seed(ctx, 7)
    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        response = client.get("/api/tickets", params={"after": after, "limit": 3}, headers=AUTH)
        assert response.status_code == 200
        page = response.json()
        assert set(page) == {"items", "next_after"}
        for item in page["items"]:
            assert set(item) == TICKET_KEYS
        seen += [item["id"] for item in page["items"]]
        pages += 1
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == sorted(t.id for t in tickets(ctx))
    assert len(seen) == 7 and pages == 3


def test_status_filter_and_limits(ctx: AppContext, client: TestClient) -> None:
    seed(ctx, 3)
    first = tickets(ctx)[0]
    set_ticket_status(ctx, first.id, "resolved", at=NOW + timedelta(days=1))
    resolved = client.get("/api/tickets", params={"status": "resolved"}, headers=AUTH).json()
    assert [i["id"] for i in resolved["items"]] == [first.id]
    assert resolved["items"][0]["resolved_at"] == "2026-03-03T10:00:00Z"
    assert client.get("/api/tickets", params={"limit": 0}, headers=AUTH).status_code == 422
    assert client.get("/api/tickets", params={"limit": 5000}, headers=AUTH).status_code == 422


def test_ticket_detail_has_findings_and_events_oldest_first(
    ctx: AppContext, client: TestClient
) -> None:
    ingest_bytes(ctx, jsonl([record("xss", severity="medium")]), now=NOW)
    ingest_bytes(ctx, jsonl([record("xss", severity="high")]), now=NOW + timedelta(days=3))
    [ticket] = tickets(ctx)
    response = client.get(f"/api/tickets/{ticket.id}", headers=AUTH)
    assert response.status_code == 200
    detail = response.json()
    assert set(detail) >= TICKET_KEYS
    assert detail["severity"] == "high" and detail["reported_severity"] == "medium"
    assert len(detail["findings"]) == 1 and detail["finding_count"] == 1
    assert detail["findings"][0]["occurrences"] == 2
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds[:2] == ["ticket.opened", "finding.new"]
    assert {"finding.escalated", "ticket.due_changed", "ticket.escalated"} <= set(kinds)
    assert all(set(e) == EVENT_KEYS for e in detail["events"])
    seqs = [e["seq"] for e in detail["events"]]
    assert seqs == sorted(seqs)
    ats = [e["at"] for e in detail["events"]]
    assert all(a.endswith("Z") for a in ats)
    assert client.get("/api/tickets/999999", headers=AUTH).status_code == 404
