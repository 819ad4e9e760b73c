"""The clock: idempotent scheduling, and worker/clock processes that stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.clock.schedule import run_schedulers
from bot.context import AppContext
from bot.jobs.models import Job
from bot.registry import schedulers


def _job_count(ctx: AppContext) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_two_clock_passes_at_the_same_now_enqueue_nothing_new(ctx: AppContext, now) -> None:  # type: ignore[no-untyped-def]
    first = run_schedulers(ctx, schedulers(), now=now)
    assert first >= 1  # at least the daily KEV refresh
    count = _job_count(ctx)
    second = run_schedulers(ctx, schedulers(), now=now)
    assert second == 0
    assert _job_count(ctx) == count
    later_same_day = run_schedulers(ctx, schedulers(), now=now + timedelta(hours=1))
    assert later_same_day == 0
    next_day = run_schedulers(ctx, schedulers(), now=now + timedelta(days=1))
    assert next_day >= 1


def _start(command: str, ctx: AppContext, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SLABOT_DATABASE_URL": ctx.settings.database_url,
        "SLABOT_EVIDENCE_URL": ctx.settings.evidence_url,
        "SLABOT_KEV_URL": "http://127.0.0.1:9/kev.json",
        "SLABOT_KEV_MIRROR_URL": "",
        "SLABOT_WORKER_POLL_SECONDS": "0.2",
        "SLABOT_CLOCK_INTERVAL_SECONDS": "0.2",
    }
    code = "from bot.cli.app import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, command],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_worker_and_clock_stop_cleanly_on_sigterm(ctx: AppContext, tmp_path: Path) -> None:
    for command in ("worker", "clock"):
        process = _start(command, ctx, tmp_path)
        deadline = time.monotonic() + 30
        output = b""
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output += line
            if b"started" in line:
                break
        process.send_signal(signal.SIGTERM)
        rc = process.wait(timeout=30)
        output += process.stdout.read()
        assert rc == 0, output.decode()
        assert f"{command} ".encode() in output and b"stopped" in output, output.decode()
