"""Every feature router, mounted in one place."""

from __future__ import annotations

from fastapi import FastAPI

from bot.ingest.views import router as ingest_router
from bot.slack.views import install_slack
from bot.tickets.views import router as tickets_router
from bot.trackers.views import router as trackers_router


def install_routes(app: FastAPI) -> None:
    app.include_router(ingest_router)
    app.include_router(tickets_router)
    app.include_router(trackers_router)
    install_slack(app)
