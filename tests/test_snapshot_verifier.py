"""The chain verified by a helper process beside the replay (``bot.snapshots.verifier``): the
same result as one pass in process, on intact and tampered logs, and a fallback to that pass
when the helper fails, hangs or cannot see the database."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.context import AppContext
from bot.database.core import (
    driver_params,
    make_engine,
    make_session_factory,
    read_only,
    transaction,
)
from bot.events.chain import Break, ChainReport, iso_utc
from bot.events.service import verify as reference_verify
from bot.snapshots import reader
from bot.snapshots.chain_check import ChainChecker, VerifiedPrefix, sqlite_iso
from bot.snapshots.reader import CutoffRead, read_until, stream_raw
from bot.snapshots.verifier import ChainVerification, verify, wait_after
from bot.snapshots.weeks import IsoWeek
from tests.test_snapshot_support import D0, History

W02 = IsoWeek(2026, 2)


def _history(ctx: AppContext) -> None:
    """Tickets opened and worked over W02, then more recorded after its cutoff."""
    h = History(ctx)
    for i in range(12):
        tid = h.open_ticket(D0 + timedelta(hours=i))
        h.status(D0 + timedelta(hours=i, minutes=30), tid, "in_progress")
        if i % 3 == 0:
            h.approve(D0 + timedelta(hours=i, minutes=40), tid)
        if i % 4 == 0:
            h.status(D0 + timedelta(hours=i, minutes=50), tid, "resolved")
    late = h.open_ticket(W02.end + timedelta(hours=1))
    h.status(W02.end + timedelta(hours=2), late, "in_progress")


def _one_pass(ctx: AppContext) -> CutoffRead:
    with read_only(ctx.sessions) as session:
        head, _ = reader.head_before(session, W02.end)
        iso = sqlite_iso if session.get_bind().dialect.name == "sqlite" else reader.any_iso
        return reader._read_in_one_pass(
            session, cutoff=W02.end, period_start=W02.start, head_seq=head, iso=iso
        )


def _read(ctx: AppContext) -> CutoffRead:
    with read_only(ctx.sessions) as session:
        return read_until(session, cutoff=W02.end, period_start=W02.start)


@pytest.fixture
def helper_always(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Use the helper for any log, and record each start (the head it was asked for)."""
    monkeypatch.setattr(reader, "SEPARATE_VERIFICATION_MIN_EVENTS", 1)
    started: list[int] = []
    start = ChainVerification.start.__func__  # type: ignore[attr-defined]

    def recording(
        cls: type, connect: dict[str, object], *, upto_seq: int, cutoff_iso: str
    ) -> ChainVerification | None:
        started.append(upto_seq)
        return start(cls, connect, upto_seq=upto_seq, cutoff_iso=cutoff_iso)  # type: ignore[no-any-return]

    monkeypatch.setattr(ChainVerification, "start", classmethod(recording))
    return started


def _helper_running(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Use, for any log, a "helper" that runs ``code`` instead of the verifier."""
    monkeypatch.setattr(reader, "SEPARATE_VERIFICATION_MIN_EVENTS", 1)
    command = [sys.executable, "-c", code]
    monkeypatch.setattr(
        ChainVerification, "start", classmethod(lambda cls, *_a, **_k: cls(_popen(command)))
    )


def test_the_helper_gives_what_one_pass_gives(
    ctx: AppContext, helper_always: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    _history(ctx)
    expected = _one_pass(ctx)
    assert expected.chain.ok and expected.state.replayed == expected.chain.head_seq
    with caplog.at_level(logging.WARNING):
        got = _read(ctx)
    assert helper_always == [expected.chain.head_seq]
    assert not caplog.records  # the helper's report was used, not the fallback
    assert got == expected


@pytest.mark.parametrize(
    ("tamper", "seq", "problem"),
    [
        ("UPDATE events SET actor = 'mallory' WHERE seq = 17", 17, "modified"),
        ("DELETE FROM events WHERE seq = 9", 9, "missing"),
        ("UPDATE events SET prev_hash = hash WHERE seq = 12", 12, "modified"),
    ],
)
def test_the_helper_names_the_same_break(
    ctx: AppContext, helper_always: list[int], tamper: str, seq: int, problem: str
) -> None:
    _history(ctx)
    with transaction(ctx.sessions) as session:
        session.execute(text(tamper))
    expected = _one_pass(ctx)
    with ctx.sessions() as session:
        reference = reference_verify(session)
    assert expected.chain == reference
    assert reference.broken is not None
    assert (reference.broken.seq, reference.broken.problem) == (seq, problem)
    assert _read(ctx) == expected  # the replay still reads the whole prefix
    assert helper_always


@pytest.mark.parametrize(
    ("helper", "logged"),
    [
        (
            "import sys; sys.stderr.write('no luck'); sys.exit(3)",
            ["chain verifier exited with 3", "no luck"],
        ),
        ("print('{\"chain\": 1}')", ["unreadable report"]),
    ],
    ids=["exits-with-an-error", "unreadable-report"],
)
def test_a_failing_helper_falls_back_to_one_pass(
    ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    helper: str,
    logged: list[str],
) -> None:
    _history(ctx)
    expected = _one_pass(ctx)
    _helper_running(monkeypatch, helper)
    with caplog.at_level(logging.WARNING):
        assert _read(ctx) == expected
    for text_ in logged:
        assert text_ in caplog.text


def test_a_report_short_of_the_head_falls_back_to_one_pass(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A helper that read a database lagging behind (a standby) reports an intact chain that
    stops short: it is not believed."""
    _history(ctx)
    expected = _one_pass(ctx)
    short = VerifiedPrefix(ChainReport(5, 5, "a" * 64, None), 5, 5, "a" * 64)
    _helper_running(monkeypatch, f"import sys; sys.stdout.buffer.write({short.to_json()!r})")
    with caplog.at_level(logging.WARNING):
        assert _read(ctx) == expected
    assert f"reached seq 5 (chain 5), not the head {expected.chain.head_seq}" in caplog.text


def test_a_helper_that_cannot_start_falls_back_to_one_pass(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _history(ctx)
    expected = _one_pass(ctx)
    monkeypatch.setattr(reader, "SEPARATE_VERIFICATION_MIN_EVENTS", 1)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with caplog.at_level(logging.WARNING):
        assert _read(ctx) == expected
    assert "chain verifier could not start" in caplog.text


def test_the_password_is_blanked_out_of_the_logged_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = "import sys; sys.stderr.write('bad password \"correct horse\"'); sys.exit(2)"
    helper = ChainVerification(_popen([sys.executable, "-c", code]), secret="correct horse")
    with caplog.at_level(logging.WARNING):
        assert helper.result(timeout=30) is None
    assert "bad password" in caplog.text and "[password]" in caplog.text
    assert "correct horse" not in caplog.text


def test_a_hanging_helper_is_killed() -> None:
    hanging = ChainVerification(_popen([sys.executable, "-c", "import time; time.sleep(60)"]))
    assert hanging.result(timeout=0.5) is None
    hanging.close()  # already reaped: a second close is harmless
    assert hanging._process.returncode is not None


def test_verify_reads_on_a_connection_of_its_own(ctx: AppContext) -> None:
    _history(ctx)
    expected = _one_pass(ctx)
    connect = driver_params(ctx.engine)
    assert connect is not None
    # The writer's lock (SQLite) does not hold the verifier up: it reads committed rows.
    with transaction(ctx.sessions) as session:
        session.execute(text("SELECT 1"))
        verified = verify(connect, upto_seq=expected.chain.head_seq, cutoff_iso=iso_utc(W02.end))
    assert verified.chain == expected.chain
    assert (verified.replayed, verified.head_seq) == (
        expected.state.replayed,
        expected.state.head_seq,
    )


def test_no_helper_for_a_database_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "SEPARATE_VERIFICATION_MIN_EVENTS", 0)
    engine = make_engine("sqlite://")
    with make_session_factory(engine)() as session:
        assert reader._start_verification(session, head_seq=10, cutoff=W02.end) is None


def test_the_report_survives_its_json() -> None:
    broken = VerifiedPrefix(
        ChainReport(16, 16, "a" * 64, Break(17, "modified", "content does not match")),
        replayed=30,
        head_seq=40,
        head_hash="b" * 64,
    )
    intact = VerifiedPrefix(ChainReport(3, 3, "c" * 64, None), 3, 3, "c" * 64)
    for report in (broken, intact):
        assert VerifiedPrefix.from_json(report.to_json()) == report


def test_slabot_rows_take_the_fast_path_on_sqlite(ctx: AppContext, is_postgres: bool) -> None:
    """Every row slabot writes hashes to its stored bytes without decoding ``details``."""
    if is_postgres:
        pytest.skip("the stored-text shortcut is SQLite's")
    _history(ctx)
    checker = ChainChecker()
    with read_only(ctx.sessions) as session:
        rows = list(stream_raw(session, upto_seq=10**9))
    assert rows
    for raw in rows:
        assert checker.check_raw(raw, sqlite_iso(raw[1]), sqlite_iso(raw[2])) is None
    assert checker.report().ok and checker.checked == len(rows)


def _popen(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_the_wait_for_the_report_grows_with_the_replay() -> None:
    assert wait_after(0) == 60
    assert wait_after(5) == 70


def test_the_real_helper_failing_is_logged_and_survived(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The verifier itself fails (it cannot open the database): its error output, kept in a
    file, is logged, and the snapshot verifies in process."""
    _history(ctx)
    expected = _one_pass(ctx)
    monkeypatch.setattr(reader, "SEPARATE_VERIFICATION_MIN_EVENTS", 1)
    nowhere = {"backend": "sqlite", "args": ["/nonexistent/slabot/x.db"], "kwargs": {}}
    monkeypatch.setattr(reader, "driver_params", lambda _engine: nowhere)
    with caplog.at_level(logging.WARNING):
        assert _read(ctx) == expected
    assert "chain verifier exited with 1" in caplog.text
    assert "unable to open database file" in caplog.text
