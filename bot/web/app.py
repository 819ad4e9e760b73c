"""The FastAPI application factory. Settings arrive through the context, never at import."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.context import AppContext
from bot.database.core import WalCheckpointer
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


class RequestMetrics:
    """Pure ASGI (not ``@app.middleware``): Starlette's BaseHTTPMiddleware wraps errors raised
    while the body streams in an ExceptionGroup, which would turn a 413 into a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope.get("method", ""), route, str(status)).inc()
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    checkpointer = (
        WalCheckpointer(ctx.engine).start() if ctx.engine.dialect.name == "sqlite" else None
    )
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk it and pause requests for tens of milliseconds.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if checkpointer is not None:
            checkpointer.stop()


def create_app(ctx: AppContext, *, extra_routers: tuple[RouterInstaller, ...] = ()) -> FastAPI:
    app = FastAPI(
        title="slabot", version="0.1.0", docs_url=None, redoc_url=None, lifespan=_lifespan
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(health.router)
    from bot.web.routes import install_routes

    install_routes(app)
    for install in extra_routers:
        install(app)
    app.add_middleware(RequestMetrics)
    app.add_middleware(BodySizeLimit, max_bytes=ctx.settings.max_body_bytes)
    return app
