"""Feature commands (ingest, tickets, KEV, snapshots, demo)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, *, evidence_app: typer.Typer, kev_app: typer.Typer) -> None:
    pass
