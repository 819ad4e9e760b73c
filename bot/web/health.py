"""Liveness, readiness and metrics."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text

from bot.context import AppContext
from bot.database.core import read_only
from bot.jobs.models import JOB_STATES
from bot.jobs.service import counts_by_state
from bot.metrics import REGISTRY
from bot.web.responses import JsonResponse

log = logging.getLogger(__name__)
router = APIRouter()


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


EVIDENCE_CHECK_TTL = 300.0


def _evidence_problems(ctx: AppContext) -> list[str]:
    """The evidence store's own check (S3: versioning, Object Lock, a write probe), cached for
    a few minutes: readiness probes come every few seconds and S3 calls cost money."""
    cached = ctx.services.get("evidence.check")
    now = time.monotonic()
    if cached is not None and now - cached[0] < EVIDENCE_CHECK_TTL:
        problems: list[str] = cached[1]
        return problems
    problems = ctx.evidence.check()
    ctx.services["evidence.check"] = (now, problems)
    return problems


@router.get("/readyz")
def readyz(request: Request) -> JsonResponse:
    ctx = _ctx(request)
    checks: dict[str, str] = {}
    problems: list[str] = []
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = "unreachable"
        problems.append(f"database unreachable: {type(exc).__name__}")
    evidence_problems = _evidence_problems(ctx)
    checks["evidence"] = "ok" if not evidence_problems else "degraded"
    problems.extend(f"evidence store: {p}" for p in evidence_problems)
    ready = checks["database"] == "ok"
    body = {"status": "ready" if ready else "not ready", "checks": checks, "problems": problems}
    return JsonResponse(body, status_code=200 if ready else 503)


class _JobStateCollector:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> list[GaugeMetricFamily]:
        family = GaugeMetricFamily("slabot_jobs", "Jobs in the queue by state", labels=["state"])
        with read_only(self.ctx.sessions) as session:
            counts = counts_by_state(session)
        for state in JOB_STATES:
            family.add_metric([state], counts.get(state, 0))
        return [family]


@router.get("/metrics")
def metrics(request: Request) -> Response:
    scrape = CollectorRegistry()
    scrape.register(_JobStateCollector(_ctx(request)))
    body = generate_latest(REGISTRY) + generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
