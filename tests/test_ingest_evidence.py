"""Issue 3: raw scan retention (byte-exact, read-only) and redaction of what leaves slabot."""

from __future__ import annotations

import hashlib
import json
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.cli.app import app
from bot.context import AppContext
from bot.ingest.artifacts import read_retained_body
from bot.web.app import create_app
from tests.helpers_ingest import (
    API_TOKEN,
    events,
    evidence_files,
    evidence_root,
    findings,
    ingest_bytes,
    jsonl,
    record,
    register_cli_once,
    scans,
    tickets,
)

NOW = datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)
KEY_RE = re.compile(r"vulnerability-scans/2026/03/02/nuclei-[0-9TZ]+-([0-9a-f]{12})\.json")


def retained(ctx: AppContext) -> tuple[Path, bytes]:
    [path] = evidence_files(ctx)
    return path, path.read_bytes()


@pytest.mark.parametrize(
    "data",
    [
        jsonl([record("sqli", severity="high")]),
        b"",
        # invalid UTF-8 and NUL bytes inside a JSON string: still a valid record
        b'{"template-id": "t\xff\xfe", "info": {"severity": "low", "name": "a\x00b"}, '
        b'"matched-at": "https://bin.example.com/\xc3\x28"}\n',
    ],
    ids=["utf8", "empty", "binary"],
)
def test_raw_body_is_retained_byte_exact_and_read_only(ctx: AppContext, data: bytes) -> None:
    summary = ingest_bytes(ctx, data, now=NOW, target="https://scan.example.com")
    path, artifact = retained(ctx)
    rel = path.relative_to(evidence_root(ctx)).as_posix()
    match = KEY_RE.fullmatch(rel)
    assert match, rel
    sha = hashlib.sha256(data).hexdigest()
    assert match.group(1) == sha[:12]
    assert read_retained_body(artifact) == data
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    envelope = json.loads(artifact)["envelope"]
    assert envelope["body_sha256"] == sha
    assert envelope["control"] == "CC7.2"
    assert envelope["scanner"] == "nuclei"
    assert envelope["target"] == "https://scan.example.com"
    assert envelope["policy"] == ctx.policy.name
    assert envelope["received_at"].startswith("2026-03-02T10:00:00")
    [scan] = scans(ctx)
    assert scan.id == summary.scan_id
    assert scan.sha256 == sha and scan.size_bytes == len(data)
    assert scan.artifact_key == rel


SECRET_TOKEN = "sk_live_abcdef0123456789SECRET"
SECRET_COOKIE = "sessionid=c00k1e-S3CRET-value"
SECRET_PASSWORD = "hunter2-Pa55word-SECRET"


def secret_record() -> dict[str, object]:
    curl: dict[str, Any] = {
        "curl-command": f"curl -H 'Authorization: Bearer {SECRET_TOKEN}' "
        f"-b '{SECRET_COOKIE}' https://admin.example.com/login"
    }
    return record(
        "default-login",
        severity="critical",
        matched_at="https://admin.example.com/login",
        meta={"username": "admin", "password": SECRET_PASSWORD},
        request=(
            "POST /login HTTP/1.1\r\nHost: admin.example.com\r\n"
            f"Authorization: Bearer {SECRET_TOKEN}\r\nCookie: {SECRET_COOKIE}\r\n\r\n"
            f"user=admin&password={SECRET_PASSWORD}"
        ),
        response=f"HTTP/1.1 200 OK\r\nSet-Cookie: {SECRET_COOKIE}\r\n\r\nwelcome",
        **curl,
    )


def assert_redacted(text: str) -> None:
    for secret in (SECRET_TOKEN, "c00k1e-S3CRET-value", SECRET_PASSWORD):
        assert secret not in text
    assert "[REDACTED]" in text


def test_secrets_are_redacted_in_api_and_cli_but_not_in_the_artifact(
    ctx: AppContext, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = jsonl([secret_record()])
    ingest_bytes(ctx, data, now=NOW)
    [ticket] = tickets(ctx)

    with TestClient(create_app(ctx)) as client:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        detail = client.get(f"/api/tickets/{ticket.id}", headers=headers)
        listing = client.get("/api/findings", headers=headers)
    assert detail.status_code == 200 and listing.status_code == 200
    assert_redacted(detail.text)
    assert_redacted(listing.text)
    details = detail.json()["findings"][0]["details"]
    assert details["meta"] == {"username": "[REDACTED]", "password": "[REDACTED]"}
    assert "Authorization: [REDACTED]" in details["request"]

    register_cli_once()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLABOT_DATABASE_URL", database_url)
    monkeypatch.setenv("SLABOT_EVIDENCE_URL", ctx.settings.evidence_url)
    result = CliRunner().invoke(app, ["ticket", str(ticket.id), "--json"])
    assert result.exit_code == 0, result.output
    assert_redacted(result.stdout)

    # the event log is exported as evidence: it must not carry the secrets either
    for event in events(ctx):
        assert SECRET_PASSWORD not in json.dumps(event.details)
        assert SECRET_TOKEN not in json.dumps(event.details)

    _, artifact = retained(ctx)
    assert read_retained_body(artifact) == data


@pytest.mark.parametrize("tail", [b"", b"\xff\xfe not utf-8 \x00"])
def test_large_body_is_streamed_to_the_store_byte_exact(ctx: AppContext, tail: bytes) -> None:
    """Bodies over 1 MiB take the streaming path (the store takes the envelope in pieces)."""
    from bot.ingest.artifacts import IN_MEMORY_LIMIT
    from bot.ingest.body import Body
    from bot.ingest.service import ingest

    event = {
        "template-id": "big-response",
        "info": {"name": "Big", "severity": "medium"},
        "matched-at": "https://big.example.com/",
        "response": "é" * (IN_MEMORY_LIMIT // 2 + 10),
    }
    body = json.dumps(event, ensure_ascii=False).encode() + b"\n"
    if tail:
        body = body.replace(b'"Big"', b'"Big' + tail.replace(b'"', b"") + b'"')
    assert len(body) > IN_MEMORY_LIMIT
    # Invalid UTF-8 inside a JSON string is repaired by the parser, so the record is valid.
    summary = ingest(ctx, Body.from_chunks([body]), source="cli", target=None, now=T0_BIG)
    assert summary.findings == 1
    (artifact,) = [p for p in Path(ctx.settings.evidence_url[7:]).rglob("*.json")]
    assert read_retained_body(artifact.read_bytes()) == body


T0_BIG = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_nul_characters_never_reach_the_database(ctx: AppContext) -> None:
    """PostgreSQL's text and JSONB cannot hold NUL: it is dropped from everything stored (ids,
    names, assets, evidence, scan metadata), and the raw body keeps it byte-exact."""
    rec = record(
        "nul\u0000-template",
        severity="high",
        matched_at="https://nul\u0000.example.com/x",
        name="Name\u0000",
        meta={"user\u0000": "ad\u0000min", "nested": [{"k\u0000": "v\u0000"}]},
        **{"extracted-results": ["tok\u0000en"], "matcher-name": "m\u0000"},
    )
    rec["info"]["tags"] = ["a\u0000b"]
    envelope = {"scan_metadata": {"target": "https://t\u0000.example.com"}, "findings": [rec]}
    data = json.dumps(envelope).encode()
    summary = ingest_bytes(ctx, data, now=NOW)
    assert (summary.new, summary.tickets_opened) == (1, 1)
    [finding] = findings(ctx)
    assert finding.template_id == "nul-template"
    assert finding.asset == "https://nul.example.com"
    assert finding.matcher_name == "m"
    details = finding.details
    assert details["meta"] == {"user": "admin", "nested": [{"k": "v"}]}
    assert details["extracted_results"] == ["token"] and details["tags"] == ["ab"]
    [scan] = scans(ctx)
    assert scan.target == "https://t.example.com"
    _, artifact = retained(ctx)
    assert read_retained_body(artifact) == data  # the NULs are kept in the evidence file
