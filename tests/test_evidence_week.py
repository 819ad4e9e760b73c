"""``slabot evidence week`` and ``slabot snapshot`` on the command line, and the comparison."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from bot.cli import evidence
from bot.context import AppContext
from bot.database.core import transaction
from bot.snapshots.service import write_snapshot
from bot.snapshots.weeks import IsoWeek
from tests.test_snapshot_support import D0, History, without_volatile

W02 = IsoWeek(2026, 2)
NOW = "2026-01-20T09:00:00Z"

app = typer.Typer()
evidence_app = typer.Typer()
evidence_app.command("week")(evidence.evidence_week_command)
evidence_app.command("verify")(evidence.verify_anchored)
app.command("snapshot")(evidence.snapshot_command)
app.add_typer(evidence_app, name="evidence")


@pytest.fixture
def cli(
    ctx: AppContext, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLABOT_DATABASE_URL", database_url)
    monkeypatch.setenv("SLABOT_EVIDENCE_URL", ctx.settings.evidence_url)
    yield CliRunner()


def _history(ctx: AppContext) -> History:
    h = History(ctx)
    t1 = h.open_ticket(D0 - timedelta(days=20), due=D0.date(), severity="critical", kev=True)
    t2 = h.open_ticket(D0 + timedelta(hours=3))
    h.approve(D0 + timedelta(days=1), t1, days=20)
    h.status(D0 + timedelta(days=2), t2, "in_progress")
    h.scan(D0 + timedelta(hours=1))
    h.scan(D0 + timedelta(days=3), "https://other.example.com")
    h.open_ticket(W02.end + timedelta(hours=1))  # next week: not in W02
    return h


def test_evidence_week_files_and_match(ctx: AppContext, cli: CliRunner, tmp_path: Path) -> None:
    _history(ctx)
    stored = write_snapshot(ctx, week=W02, now=W02.end + timedelta(hours=2))
    result = cli.invoke(app, ["evidence", "week", "2026-W02", "--now", NOW])
    assert result.exit_code == 0, result.output
    out = tmp_path / "evidence-2026-W02"
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    raw = [f for f in files if f.startswith("raw-scans/") and f != "raw-scans/index.json"]
    assert len(raw) == 2
    assert set(files) - set(raw) == {
        "comparison.json",
        "events-2026-W02.csv",
        "events-2026-W02.json",
        "raw-scans/index.json",
        "sla-snapshot-2026-W02.csv",
        "sla-snapshot-2026-W02.json",
    }
    assert "matches the stored snapshot" in result.output
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["matches"] is True and comparison["differences"] == []
    assert comparison["stored"]["uri"] == stored.uri
    rebuilt = json.loads((out / "sla-snapshot-2026-W02.json").read_text())
    original = json.loads(ctx.evidence.get(stored.key))
    assert without_volatile(rebuilt) == without_volatile(original)
    assert rebuilt["metadata"]["generated_at"] == "2026-01-20T09:00:00.000000Z"
    events = json.loads((out / "events-2026-W02.json").read_text())
    assert [e["kind"] for e in events] == [
        "ticket.opened",
        "risk_acceptance.approved",
        "ticket.status_changed",
        "scan.ingested",
        "scan.ingested",
    ]  # seq order (the order they were recorded in)
    assert set(events[0]) == {
        "seq", "at", "recorded_at", "kind", "ticket", "finding", "from", "to", "actor",
        "source", "details", "hash",
    }  # fmt: skip
    with (out / "events-2026-W02.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["seq"] for r in rows] == [str(e["seq"]) for e in events]
    assert json.loads(rows[1]["details"])["approver_name"] == "Sec Lead"
    index = json.loads((out / "raw-scans" / "index.json").read_text())
    assert all("file" in entry for entry in index)
    assert (out / index[0]["file"]).read_bytes() == ctx.evidence.get(index[0]["key"])


def test_evidence_week_reports_differences(ctx: AppContext, cli: CliRunner, tmp_path: Path) -> None:
    _history(ctx)
    write_snapshot(ctx, week=W02, now=W02.end + timedelta(hours=2))
    with transaction(ctx.sessions) as session:  # history quietly changed after the fact
        session.execute(
            text("UPDATE events SET to_state = 'resolved' WHERE kind = 'ticket.status_changed'")
        )
    result = cli.invoke(app, ["evidence", "week", "2026-W02", "--out", "ev", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["matches_stored"] is False
    comparison = json.loads((tmp_path / "ev" / "comparison.json").read_text())
    paths = {d["path"] for d in comparison["differences"]}
    assert "metadata.event_log.chain_verified" in paths
    assert "figures.counts.by_status.resolved" in paths or any(
        p.startswith("figures.counts.by_status") for p in paths
    )
    assert comparison["csv_differences"]


def test_evidence_week_without_stored_snapshot(
    ctx: AppContext, cli: CliRunner, tmp_path: Path
) -> None:
    _history(ctx)
    result = cli.invoke(app, ["evidence", "week", "2026-W02", "--out", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert "no snapshot was stored for 2026-W02" in result.output
    comparison = json.loads((tmp_path / "x" / "comparison.json").read_text())
    assert comparison["matches"] is None and comparison["stored"] is None


@pytest.mark.parametrize("week", ["2026-13", "2026-W60", "W02", "2026-w02x"])
def test_malformed_week_is_refused(cli: CliRunner, week: str, tmp_path: Path) -> None:
    result = cli.invoke(app, ["evidence", "week", week])
    assert result.exit_code == 2
    assert "error: WEEK:" in result.output
    assert not list(tmp_path.glob("evidence-*"))
    bad = cli.invoke(app, ["snapshot", "--week", week])
    assert bad.exit_code == 2 and "error: --week:" in bad.output


def test_snapshot_command_local_and_upload(ctx: AppContext, cli: CliRunner, tmp_path: Path) -> None:
    _history(ctx)
    local = cli.invoke(app, ["snapshot", "--now", NOW, "--week", "2026-W02", "--out", "snap"])
    assert local.exit_code == 0, local.output
    assert "2026-W02: 2 tickets" in local.output
    doc = json.loads((tmp_path / "snap" / "sla-snapshot-2026-W02.json").read_text())
    assert doc["metadata"]["week"] == "2026-W02"
    assert not list(ctx.evidence.list("sla-snapshots/"))  # nothing uploaded
    printed = cli.invoke(app, ["snapshot", "--now", NOW, "--week", "2026-W02", "--json"])
    assert json.loads(printed.stdout)["figures"]["headline"]["tickets"] == 2

    # default week: the one before --now (2026-01-20 is in W04 → W03)
    up = cli.invoke(app, ["snapshot", "--now", "2026-01-13T03:00:00Z", "--upload", "--json"])
    assert up.exit_code == 0, up.output
    result = json.loads(up.stdout)
    assert (result["week"], result["created"]) == ("2026-W02", True)
    assert result["key"] == "sla-snapshots/2026/01/13/sla-snapshot-2026-W02.json"
    again = cli.invoke(app, ["snapshot", "--now", NOW, "--week", "2026-W02", "--upload"])
    assert again.exit_code == 0 and "already written" in again.output
    early = cli.invoke(app, ["snapshot", "--now", NOW, "--week", "2026-W04", "--upload"])
    assert early.exit_code == 1 and "not over" in early.output

    verify = cli.invoke(app, ["evidence", "verify", "--json"])
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.stdout)["anchors_checked"] == 1
