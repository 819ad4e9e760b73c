"""The FastAPI application factory. Settings arrive through the context, never at import."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter, Histogram

from bot.context import AppContext
from bot.metrics import REGISTRY
from bot.web import health
from bot.web.errors import install_error_handlers
from bot.web.limits import BodySizeLimit

HTTP_REQUESTS = Counter(
    "slabot_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "slabot_http_request_seconds", "HTTP request latency", ["route"], registry=REGISTRY
)

RouterInstaller = Callable[[FastAPI], None]


def create_app(ctx: AppContext, *, extra_routers: tuple[RouterInstaller, ...] = ()) -> FastAPI:
    app = FastAPI(title="slabot", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(health.router)
    from bot.web.routes import install_routes

    install_routes(app)
    for install in extra_routers:
        install(app)

    @app.middleware("http")
    async def _count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, name, str(response.status_code)).inc()
        HTTP_LATENCY.labels(name).observe(time.perf_counter() - started)
        return response

    app.add_middleware(BodySizeLimit, max_bytes=ctx.settings.max_body_bytes)
    return app
