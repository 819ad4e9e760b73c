"""The CLI's forked parser: same outcome as parsing in-process, and the child never outlives
the ingest, whether the body is accepted, rejected, or either process fails."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import bot.ingest.service as ingest_service
from bot.context import AppContext
from bot.ingest import forked, parallel
from bot.ingest.artifacts import read_retained_body
from bot.ingest.body import FileBody
from bot.ingest.forked import ForkedChildError
from bot.ingest.known import CommittedFingerprints
from bot.ingest.service import (
    EvidenceUnavailableError,
    IngestRejectedError,
    ingest,
)
from bot.scans.models import Scan
from integrations.evidence import EvidenceStoreError
from tests.helpers_ingest import (
    counts,
    events,
    evidence_files,
    evidence_root,
    findings,
    jsonl,
    record,
    scans,
    set_ticket_status,
    tickets,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "BATCH", 7)  # many batches, and a partial last one


@pytest.fixture(autouse=True, params=[1, 2], ids=["one-parser", "two-parsers"])
def parsers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every test runs with one parsing child and with two (a JSONL body cut in halves)."""
    count: int = request.param
    monkeypatch.setattr(parallel, "parsers_for_this_machine", lambda: count)
    return count


def ingest_forked(
    ctx: AppContext, body: FileBody, now: datetime, target: str | None = None, **options: Any
) -> Any:
    """What the CLI does for a large file: the children start first, then the ingest."""
    children = parallel.ForkedIngest(body, settings=ctx.settings, target=target, now=now)
    return ingest(ctx, body, source="cli", target=target, now=now, forked=children, **options)


def no_children_left() -> bool:
    """Every child this process forked has been reaped (no zombie, none still running)."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def store_is_empty(ctx: AppContext) -> bool:
    """No artifact and no temporary file left behind by a cancelled retention."""
    root = evidence_root(ctx)
    return not root.exists() or not any(p.is_file() for p in root.rglob("*"))


def scan(tmp_path: Path, records: list[dict[str, Any]], *, tail: bytes = b"") -> FileBody:
    path = tmp_path / "scan.jsonl"
    path.write_bytes(jsonl(records) + tail)
    return FileBody(path)


def mixed_records() -> list[dict[str, Any]]:
    severities = ["critical", "high", "medium", "low", "info"]
    out = [
        record(
            f"tpl-{i % 9}",
            severity=severities[i % 5],
            matched_at=f"https://app{i % 13}.example.com/p/{i}",
            cves=[f"CVE-2024-{1000 + i % 4}"] if i % 6 == 0 else (),
            request=f"GET /p/{i} HTTP/1.1\r\nAuthorization: Bearer s3cret{i}\r\n\r\n",
        )
        for i in range(60)
    ]
    return out + out[:15]  # repeats within the body


def snapshot_of(ctx: AppContext) -> dict[str, Any]:
    return {
        "counts": {k: v for k, v in counts(ctx).items() if k != "scans"},
        "findings": sorted(
            (f.fingerprint, f.severity, f.due_date, f.occurrences, f.ticket_id is None, f.details)
            for f in findings(ctx)
        ),
        "tickets": sorted((t.grouping_key, t.severity, t.due_date) for t in tickets(ctx)),
        "events": sorted((e.kind, e.to_state) for e in events(ctx)),
    }


def test_forked_ingest_matches_in_process(ctx: AppContext, now: datetime, tmp_path: Path) -> None:
    body = scan(tmp_path, mixed_records())
    first = ingest_forked(ctx, body, now)
    later = now + timedelta(minutes=5)
    again = ingest_forked(ctx, body, later)
    forked_state = snapshot_of(ctx)
    [first_artifact, _] = evidence_files(ctx)
    assert read_retained_body(first_artifact.read_bytes()) == body.path.read_bytes()
    assert no_children_left()

    # the same bodies, parsed in this process, on an empty database
    with ctx.sessions() as session, session.begin():
        for table in (
            "events",
            "finding_cves",
            "finding_evidence",
            "findings",
            "tickets",
            "scans",
            "jobs",
        ):
            session.connection().exec_driver_sql(f"DELETE FROM {table}")
    assert (
        ingest(ctx, body, source="cli", target=None, now=now).as_dict() | {"scan_id": first.scan_id}
        == first.as_dict()
    )
    assert (
        ingest(ctx, body, source="cli", target=None, now=later).as_dict()
        | {"scan_id": again.scan_id}
        == again.as_dict()
    )
    assert snapshot_of(ctx) == forked_state
    assert (first.new, first.duplicate, again.duplicate) == (60, 15, 75)


def test_progress_reports_every_byte(ctx: AppContext, now: datetime, tmp_path: Path) -> None:
    body = scan(tmp_path, mixed_records())
    seen: list[int] = []
    ingest_forked(ctx, body, now, on_bytes=seen.append)
    assert sum(seen) == body.size
    assert len(seen) > 1


def test_invalid_record_rejects_the_body(ctx: AppContext, now: datetime, tmp_path: Path) -> None:
    before = counts(ctx)
    body = scan(tmp_path, mixed_records(), tail=b'{"template-id": 7}\nnot json\n')
    with pytest.raises(IngestRejectedError) as raised:
        ingest_forked(ctx, body, now)
    assert [p.split(":")[0] for p in raised.value.problems] == ["record 75 (line 76)", "line 77"]
    assert counts(ctx) == before
    assert store_is_empty(ctx)
    assert no_children_left()


def test_problems_of_both_halves_are_reported_in_body_order(
    ctx: AppContext, now: datetime, tmp_path: Path
) -> None:
    lines = jsonl(mixed_records()).splitlines(keepends=True)
    lines.insert(3, b"\n")  # a blank line: no record, but a line
    lines.insert(5, b"oops\n")
    lines.append(b'{"template-id": ""}\n')
    path = tmp_path / "scan.jsonl"
    path.write_bytes(b"".join(lines))
    with pytest.raises(IngestRejectedError) as raised:
        ingest_forked(ctx, FileBody(path), now)
    assert [p.split(":")[0] for p in raised.value.problems] == ["line 6", "record 76 (line 78)"]
    assert store_is_empty(ctx)
    assert no_children_left()


def test_a_body_cut_in_halves_is_one_scan(
    ctx: AppContext, now: datetime, tmp_path: Path, parsers: int
) -> None:
    body = scan(tmp_path, mixed_records())
    cut = parallel.split_point(body)
    assert cut is not None and body.size // 2 <= cut < body.size
    assert body.path.read_bytes()[cut - 1 : cut] == b"\n"
    summary = ingest_forked(ctx, body, now)
    assert (summary.findings, summary.new, summary.duplicate) == (75, 60, 15)
    with ctx.sessions() as session:
        [scan_row] = session.execute(select(Scan)).scalars().all()
    assert (scan_row.container, scan_row.sha256, scan_row.size_bytes) == (
        "jsonl",
        body.sha256,
        body.size,
    )


def test_the_declared_target_reaches_both_halves(
    ctx: AppContext, now: datetime, tmp_path: Path
) -> None:
    """Records without a location take the ``--target`` asset, in either half."""
    located = mixed_records()
    unlocated = [record(f"dns-{i}", matched_at=None) for i in range(4)]
    body = scan(tmp_path, unlocated[:2] + located + unlocated[2:])
    summary = ingest_forked(ctx, body, now, target="https://target.example.com")
    assert summary.new == 64
    on_target = {f.template_id for f in findings(ctx) if f.asset == "https://target.example.com"}
    assert on_target == {"dns-0", "dns-1", "dns-2", "dns-3"}
    [scan_row] = scans(ctx)
    assert scan_row.target == "https://target.example.com"


def test_a_regression_seen_through_the_forked_parser_reopens(
    ctx: AppContext, now: datetime, tmp_path: Path
) -> None:
    body = scan(tmp_path, mixed_records())
    ingest_forked(ctx, body, now)
    ticket = next(t for t in tickets(ctx) if t.severity == "critical")
    set_ticket_status(ctx, ticket.id, "resolved", at=now + timedelta(days=1))
    again = ingest_forked(ctx, body, now + timedelta(days=2))
    assert again.reopened == sum(1 for f in findings(ctx) if f.ticket_id == ticket.id)
    assert again.reopened > 0
    assert (again.new, again.duplicate + again.reopened) == (0, 75)
    [reopened] = [t for t in tickets(ctx) if t.id == ticket.id]
    assert reopened.status == "open"
    assert any(e.kind == "ticket.reopened" and e.ticket_id == ticket.id for e in events(ctx))


def test_evidence_failure_in_the_child_stores_nothing(
    ctx: AppContext, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise EvidenceStoreError("bucket is on fire")

    monkeypatch.setattr(parallel, "retain_scan", refuse)
    before = counts(ctx)
    with pytest.raises(EvidenceUnavailableError, match="bucket is on fire"):
        ingest_forked(ctx, scan(tmp_path, mixed_records()), now)
    assert counts(ctx) == before
    assert no_children_left()


def test_a_crash_in_the_child_is_reported_and_stores_nothing(
    ctx: AppContext, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(_result: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError("parser bug")

    monkeypatch.setattr(forked, "wire_of", explode)
    before = counts(ctx)
    with pytest.raises(ForkedChildError, match="ZeroDivisionError: parser bug"):
        ingest_forked(ctx, scan(tmp_path, mixed_records()), now)
    assert counts(ctx) == before
    assert no_children_left()


def test_a_failure_in_the_parent_ends_the_child(
    ctx: AppContext, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = ingest_service.IngestPipeline.add_parsed

    def fail_later(self: Any, *args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("database went away")
        real(self, *args)

    monkeypatch.setattr(ingest_service.IngestPipeline, "add_parsed", fail_later)
    before = counts(ctx)
    with pytest.raises(RuntimeError, match="database went away"):
        ingest_forked(ctx, scan(tmp_path, mixed_records() * 40), now)
    assert counts(ctx) == before
    assert no_children_left()


def test_a_cancelled_retention_leaves_nothing_in_the_store(
    ctx: AppContext, now: datetime, tmp_path: Path
) -> None:
    from bot.ingest.artifacts import retain_scan
    from bot.ingest.retainer import ForkedRetention

    path = tmp_path / "big.jsonl"
    line = jsonl([record("big", response="x" * 4000)])
    path.write_bytes(line * 3000)  # ~12 MiB: many chunks to stop between
    body = FileBody(path)
    with ForkedRetention(
        body,
        lambda checked, metadata: retain_scan(ctx.evidence, checked, now=now, metadata=metadata),
    ):
        pass  # leaving without provide(): the ingest did not accept the body
    assert store_is_empty(ctx)
    assert no_children_left()


def test_retention_runs_while_the_body_is_parsed(
    ctx: AppContext, now: datetime, tmp_path: Path
) -> None:
    from bot.ingest.artifacts import retain_scan
    from bot.ingest.retainer import ForkedRetention

    body = scan(tmp_path, mixed_records())
    with ForkedRetention(
        body,
        lambda checked, metadata: retain_scan(ctx.evidence, checked, now=now, metadata=metadata),
    ) as retention:
        retention.provide({"target": "https://app.example.com", "container": "jsonl"})
        stored, facts = retention.result()
    assert (facts.sha256, facts.size) == (body.sha256, body.size)
    artifact = Path(stored.uri.removeprefix("file://")).read_bytes()
    assert artifact.startswith(b'{"body":"')
    assert read_retained_body(artifact) == body.path.read_bytes()
    envelope = json.loads(artifact)["envelope"]
    assert envelope["target"] == "https://app.example.com"
    assert envelope["body_sha256"] == body.sha256
    assert no_children_left()


def test_the_parser_reads_which_findings_exist(
    ctx: AppContext, now: datetime, tmp_path: Path
) -> None:
    ingest_forked(ctx, scan(tmp_path, mixed_records()), now)
    stored = {f.fingerprint: f.id for f in findings(ctx)}
    known = CommittedFingerprints(ctx.settings.database_url)
    wanted = [*list(stored)[:5], "0" * 64]
    assert known(wanted) == {fp: stored[fp] for fp in wanted[:5]}
    assert known([]) == {}


def test_a_parser_waits_for_the_writer_instead_of_filling_the_disk(
    ctx: AppContext, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 10_000  # a few batches of the ~160 KB this body spools
    monkeypatch.setattr(forked, "SPOOL_AHEAD_LIMIT", limit)
    ahead: list[int] = []
    sizes: list[int] = []
    real = forked.ForkedParse._receive

    def spooled(parse: forked.ForkedParse) -> int:
        return os.fstat(parse._spool.fileno()).st_size - parse._offset

    def slow_reader(self: forked.ForkedParse) -> Any:
        if not ahead:  # let the child run as far ahead as it is allowed before reading
            deadline = time.monotonic() + 10
            while spooled(self) <= limit and time.monotonic() < deadline:
                time.sleep(0.01)
        ahead.append(spooled(self))
        before = self._offset
        message = real(self)
        sizes.append(self._offset - before)
        return message

    monkeypatch.setattr(forked.ForkedParse, "_receive", slow_reader)
    summary = ingest_forked(ctx, scan(tmp_path, mixed_records() * 4), now)
    assert (summary.findings, summary.new) == (300, 60)
    assert sum(sizes) > 10 * limit  # the bound was reached, and held:
    assert max(ahead) <= limit + max(sizes)  # at most the message that crossed it
    assert no_children_left()


def test_a_child_yields_the_cpu_and_leaves_the_inherited_heap_to_itself() -> None:
    """The writer is what an ingest waits for: children run at a lower priority, and their
    collector neither walks the heap they inherited nor runs every few hundred rows."""
    import gc

    read_fd, write_fd = os.pipe()

    def report() -> None:
        facts = (os.nice(0), gc.get_freeze_count() > 0, gc.get_threshold()[0])
        os.write(write_fd, json.dumps(facts).encode())

    parent_niceness = os.nice(0)
    pid = forked.fork_child(report, close=(read_fd,))
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as source:
        niceness, frozen, threshold = json.loads(source.read())
    os.waitpid(pid, 0)
    assert niceness == min(parent_niceness + forked.CHILD_NICENESS, 19)
    assert frozen
    assert threshold == forked._BULK_GC_THRESHOLD
    assert gc.get_threshold()[0] != forked._BULK_GC_THRESHOLD  # this process is untouched
