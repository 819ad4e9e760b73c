"""The web process: health, readiness, metrics, the error shape and the streaming body limit."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from fastapi.testclient import TestClient

from bot.context import AppContext
from bot.database.core import transaction
from bot.jobs import service as jobs
from bot.web.app import create_app


def test_healthz(ctx: AppContext) -> None:
    with TestClient(create_app(ctx)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_evidence(ctx: AppContext) -> None:
    with TestClient(create_app(ctx)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"] == {"database": "ok", "evidence": "ok"}
    assert body["problems"] == []


def test_readyz_is_503_when_the_database_is_unreachable(ctx: AppContext, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.database.core import make_engine

    broken = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    with TestClient(create_app(dataclasses.replace(ctx, engine=broken))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"


def test_metrics_expose_jobs_by_state_events_and_http(ctx: AppContext, now) -> None:  # type: ignore[no-untyped-def]
    with transaction(ctx.sessions) as session:
        jobs.enqueue(session, kind="k", key="a", now=now)
        jobs.enqueue(session, kind="k", key="b", now=now)
    with TestClient(create_app(ctx)) as client:
        client.get("/healthz")
        text = client.get("/metrics").text
    assert 'slabot_jobs{state="queued"} 2.0' in text
    assert 'slabot_jobs{state="dead"} 0.0' in text
    assert 'slabot_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "slabot_events_appended_total" in text or "# HELP slabot_events_appended" in text


def test_unknown_route_uses_the_json_error_shape(ctx: AppContext) -> None:
    with TestClient(create_app(ctx)) as client:
        response = client.get("/nope")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}


def test_body_limit_by_content_length_and_while_streaming(ctx: AppContext) -> None:
    small = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"max_body_bytes": 2048})
    )
    headers = {"Authorization": "Bearer test-ingest-token", "Content-Type": "application/json"}
    with TestClient(create_app(small)) as client:
        declared = client.post(
            "/webhooks/nuclei", content=b"[" + b" " * 4000 + b"]", headers=headers
        )
        assert declared.status_code == 413
        assert declared.json()["error"] == "request body exceeds the limit of 2048 bytes"

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        streamed = client.post("/webhooks/nuclei", content=chunks(), headers=headers)
        assert streamed.status_code == 413
    with ctx.sessions() as session:
        from sqlalchemy import func, select

        from bot.scans.models import Scan

        assert session.scalar(select(func.count()).select_from(Scan)) == 0
