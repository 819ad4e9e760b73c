"""Issue 3: ``slabot ingest``, ``slabot tickets`` and ``slabot ticket`` on the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.app import app
from bot.context import AppContext
from tests.helpers_ingest import (
    EVENT_KEYS,
    SUMMARY_KEYS,
    TICKET_KEYS,
    counts,
    evidence_files,
    jsonl,
    record,
    register_cli_once,
    scans,
)


@pytest.fixture
def cli(
    ctx: AppContext, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    register_cli_once()
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SLABOT_DATABASE_URL", database_url)
    monkeypatch.setenv("SLABOT_EVIDENCE_URL", ctx.settings.evidence_url)
    yield CliRunner()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def scan_body() -> bytes:
    return jsonl(
        [
            record("sqli", severity="critical", matched_at="https://shop.example.com/cart"),
            record("sqli", severity="critical", matched_at="https://shop.example.com/other"),
            record("tech", severity="info", matched_at="https://shop.example.com/"),
        ]
    )


def test_ingest_json_summary(ctx: AppContext, cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "scan.jsonl", scan_body())
    result = cli.invoke(app, ["ingest", str(path), "--json", "--now", "2026-03-02T10:00:00Z"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == SUMMARY_KEYS
    assert (summary["findings"], summary["new"], summary["duplicate"]) == (3, 2, 1)
    assert summary["tickets_opened"] == 1
    [scan] = scans(ctx)
    assert scan.id == summary["scan_id"] and scan.source == "cli"
    assert scan.received_at.isoformat() == "2026-03-02T10:00:00+00:00"  # --now respected


def test_ingest_zero_byte_file(ctx: AppContext, cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "empty.jsonl", b"")
    result = cli.invoke(app, ["ingest", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: v for k, v in summary.items() if k != "scan_id"} == dict.fromkeys(
        SUMMARY_KEYS - {"scan_id"}, 0
    )
    assert counts(ctx)["scans"] == 1


def test_ingest_missing_file_exit_2(ctx: AppContext, cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["ingest", str(tmp_path / "nope.jsonl"), "--json"])
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    assert counts(ctx)["scans"] == 0


def test_ingest_invalid_file_exit_1_nothing_stored(
    ctx: AppContext, cli: CliRunner, tmp_path: Path
) -> None:
    data = scan_body() + b'{"info": {"severity": "high"}, "matched-at": "https://x"}\n[1,2\n'
    path = write(tmp_path, "bad.jsonl", data)
    before = counts(ctx)
    result = cli.invoke(app, ["ingest", str(path), "--json"])
    assert result.exit_code == 1
    assert "nothing was stored" in result.stderr
    assert "record 3 (line 4)" in result.stderr and "template-id" in result.stderr
    assert "line 5" in result.stderr
    assert counts(ctx) == before
    assert evidence_files(ctx) == []


def test_ingest_bad_now_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "scan.jsonl", scan_body())
    result = cli.invoke(app, ["ingest", str(path), "--now", "yesterday"])
    assert result.exit_code == 2
    assert "--now" in result.stderr


def test_ingest_human_output(cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "scan.jsonl", scan_body())
    result = cli.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 findings (2 new, 1 duplicate, 0 reopened)" in result.stdout


def test_tickets_and_ticket_json_shapes(cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "scan.jsonl", scan_body())
    cli.invoke(app, ["ingest", str(path), "--now", "2026-03-02T10:00:00Z"])
    result = cli.invoke(app, ["tickets", "--json", "--now", "2026-03-03T00:00:00Z"])
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    assert set(item) == TICKET_KEYS
    assert item["severity"] == "critical" and item["status"] == "open"
    assert item["due_date"] == "2026-04-01"
    assert item["opened_at"] == "2026-03-02T10:00:00Z"
    assert item["resolved_at"] is None
    assert item["sla_outcome"] == "within_sla"
    assert item["finding_count"] == 1
    assert item["tracker"] == "local"

    result = cli.invoke(app, ["ticket", str(item["id"]), "--json"])
    assert result.exit_code == 0, result.output
    detail = json.loads(result.stdout)
    assert set(detail) >= TICKET_KEYS
    assert {"findings", "events"} <= set(detail)
    assert len(detail["findings"]) == 1
    assert detail["findings"][0]["occurrences"] == 2
    seqs = [e["seq"] for e in detail["events"]]
    assert seqs == sorted(seqs)
    assert all(set(e) == EVENT_KEYS for e in detail["events"])
    assert [e["kind"] for e in detail["events"]][:2] == ["ticket.opened", "finding.new"]
    assert all(e["at"].endswith("Z") for e in detail["events"])

    result = cli.invoke(app, ["tickets", "--status", "resolved", "--json"])
    assert json.loads(result.stdout) == []
    result = cli.invoke(app, ["ticket", "999999", "--json"])
    assert result.exit_code == 1


def test_a_large_file_is_ingested_by_forked_children(
    ctx: AppContext, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the fork threshold the CLI starts the parsing and retaining children before it
    loads its database code; the outcome is the same as in one process."""
    import gc
    import os

    from bot.ingest import parallel

    monkeypatch.setattr(parallel, "FORKED_MIN", 0)
    path = write(tmp_path, "scan.jsonl", scan_body())
    threshold = gc.get_threshold()
    result = cli.invoke(app, ["ingest", str(path), "--json", "--now", "2026-03-02T10:00:00Z"])
    assert result.exit_code == 0, result.output
    assert gc.get_threshold() == threshold  # raised for the ingest, then restored
    summary = json.loads(result.stdout)
    assert (summary["findings"], summary["new"], summary["duplicate"]) == (3, 2, 1)
    assert [f.name for f in evidence_files(ctx)] == [scans(ctx)[0].artifact_key.rsplit("/", 1)[1]]
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # both children were reaped

    bad = write(tmp_path, "bad.jsonl", scan_body() + b"{not json}\n")
    before = counts(ctx)
    result = cli.invoke(app, ["ingest", str(bad), "--now", "2026-03-02T11:00:00Z"])
    assert result.exit_code == 1
    assert "line 4" in result.output and "nothing was stored" in result.output
    assert counts(ctx) == before
    assert len(evidence_files(ctx)) == 1
