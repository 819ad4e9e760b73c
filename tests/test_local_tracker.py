"""The local tracker (SLABOT_TRACKER=local): status changes from ``slabot ticket ID
--set-status`` and ``POST /api/tickets/{id}/status``, recorded with source ``local``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.cli.app import app
from bot.context import AppContext
from bot.web.app import create_app
from tests.helpers_ingest import API_TOKEN, register_cli_once
from tests.helpers_trackers import (
    T0,
    all_tickets,
    events,
    jobs,
    open_tickets,
    set_clock,
    ticket,
    with_tracker,
)

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)


@pytest.fixture
def cli(
    ctx: AppContext, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    register_cli_once()
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SLABOT_DATABASE_URL", database_url)
    monkeypatch.setenv("SLABOT_EVIDENCE_URL", ctx.settings.evidence_url)
    monkeypatch.setenv("SLABOT_TRACKER", "local")
    yield CliRunner()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def test_cli_moves_a_local_ticket(ctx: AppContext, cli: CliRunner) -> None:
    [t] = open_tickets(ctx, 1)
    assert t.tracker == "local" and t.next_reminder_at is not None
    result = cli.invoke(
        app, ["ticket", str(t.id), "--set-status", "in_progress", "--now", T1.isoformat()]
    )
    assert result.exit_code == 0, result.output
    result = cli.invoke(
        app,
        ["ticket", str(t.id), "--set-status", "resolved", "--now", T2.isoformat(), "--json"],
    )
    assert result.exit_code == 0, result.output
    detail = json.loads(result.stdout)
    assert detail["status"] == "resolved" and detail["resolved_at"] == "2026-03-04T10:00:00Z"
    assert [(e["from"], e["to"], e["source"]) for e in detail["events"][-2:]] == [
        ("open", "in_progress", "local"),
        ("in_progress", "resolved", "local"),
    ]
    got = events(ctx, "ticket.status_changed")
    assert [(e.at, e.source) for e in got] == [(T1, "local"), (T2, "local")]
    assert all((e.actor or "").startswith("cli:") for e in got)
    final = ticket(ctx, t.id)
    assert (final.status, final.resolved_at, final.next_reminder_at) == ("resolved", T2, None)


def test_cli_wont_fix_is_unverified(ctx: AppContext, cli: CliRunner) -> None:
    [t] = open_tickets(ctx, 1)
    result = cli.invoke(
        app,
        ["ticket", str(t.id), "--set-status", "resolved", "--resolution", "Won't Fix",
         "--now", T1.isoformat()],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    final = ticket(ctx, t.id)
    assert (final.status, final.resolved_at, final.next_reminder_at) == (
        "resolved_unverified",
        T1,
        None,
    )
    [job] = jobs(ctx, "notify.unverified")
    assert job.payload == {"ticket_id": t.id, "resolution": "Won't Fix"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set-status", "done"], "unknown status 'done'"),
        (["--set-status", "resolved_unverified"], "use one of open, in_progress, resolved"),
    ],
)
def test_cli_unknown_status_is_a_clear_error(
    ctx: AppContext, cli: CliRunner, args: list[str], message: str
) -> None:
    [t] = open_tickets(ctx, 1)
    before = len(events(ctx))
    result = cli.invoke(app, ["ticket", str(t.id), *args])
    assert result.exit_code == 1
    assert message in result.output
    assert len(events(ctx)) == before


def test_cli_refuses_a_remote_tracker_ticket(ctx: AppContext, cli: CliRunner) -> None:
    jctx = with_tracker(ctx, "jira")
    [t] = open_tickets(jctx, 1)
    before = len(events(ctx))
    result = cli.invoke(app, ["ticket", str(t.id), "--set-status", "resolved"])
    assert result.exit_code == 1
    assert "lives in jira" in result.output
    assert len(events(ctx)) == before and ticket(ctx, t.id).status == "open"
    missing = cli.invoke(app, ["ticket", "4242", "--set-status", "resolved"])
    assert missing.exit_code == 1 and "no ticket 4242" in missing.output


def test_api_moves_a_local_ticket(ctx: AppContext, client: TestClient) -> None:
    [t] = open_tickets(ctx, 1)
    set_clock(ctx, T1)
    reply = client.post(
        f"/api/tickets/{t.id}/status", json={"status": "in_progress", "actor": "alice"},
        headers=AUTH,
    )  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "in_progress"
    set_clock(ctx, T2)
    reply = client.post(f"/api/tickets/{t.id}/status", json={"status": "resolved"}, headers=AUTH)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["status"], body["resolved_at"]) == ("resolved", "2026-03-04T10:00:00Z")
    got = events(ctx, "ticket.status_changed")
    assert [(e.to_state, e.at, e.source, e.actor) for e in got] == [
        ("in_progress", T1, "local", "alice"),
        ("resolved", T2, "local", "api"),
    ]
    assert ticket(ctx, t.id).next_reminder_at is None
    # reopening by hand resumes reminders
    reply = client.post(f"/api/tickets/{t.id}/status", json={"status": "open"}, headers=AUTH)
    assert reply.status_code == 200
    final = ticket(ctx, t.id)
    assert (final.status, final.resolved_at, final.next_reminder_at) == ("open", None, T2)


def test_api_errors(ctx: AppContext, client: TestClient) -> None:
    [local] = open_tickets(ctx, 1)
    jctx = with_tracker(ctx, "linear")
    open_tickets(jctx, 1, prefix="remote")
    remote = max(t.id for t in all_tickets(ctx))
    before = len(events(ctx))
    url = f"/api/tickets/{local.id}/status"
    assert client.post(url, json={"status": "resolved"}).status_code == 401
    reply = client.post(f"/api/tickets/{remote}/status", json={"status": "resolved"},
                        headers=AUTH)  # fmt: skip
    assert reply.status_code == 409 and "lives in linear" in reply.json()["error"]
    reply = client.post(url, json={"status": "closed"}, headers=AUTH)
    assert reply.status_code == 422
    [problem] = reply.json()["detail"]
    assert problem["loc"] == "body.status" and "open" in problem["message"]
    assert client.post("/api/tickets/4242/status", json={"status": "open"},
                       headers=AUTH).status_code == 404  # fmt: skip
    assert len(events(ctx)) == before
    assert ticket(ctx, local.id).status == "open"


def test_cli_change_dated_before_the_last_change_is_refused(
    ctx: AppContext, cli: CliRunner
) -> None:
    [t] = open_tickets(ctx, 1)
    before = len(events(ctx))
    earlier = (T0 - timedelta(hours=1)).isoformat()
    result = cli.invoke(app, ["ticket", str(t.id), "--set-status", "resolved", "--now", earlier])
    assert result.exit_code == 1 and "cannot be dated before" in result.output
    assert len(events(ctx)) == before and ticket(ctx, t.id).status == "open"
