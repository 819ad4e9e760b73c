"""Every feature router, mounted in one place."""

from __future__ import annotations

from fastapi import FastAPI


def install_routes(app: FastAPI) -> None:
    """Feature routers register here as they land (ingest, trackers, Slack, API)."""
