"""Ingest benchmark: the CLI path on SQLite against a floor measured in the same run.

    python bench/ingest.py [--events 100000] [--big 1000000] [--runs 3] [--workdir bench/out]

Prints events/s, peak RSS and the ratio to the floor (orjson parse + a bare sqlite3
``executemany`` upsert of one row per event) for: a first ingest, a re-ingest of the same
file, and a big file for memory (streaming: RSS must not grow with the file).

Each figure is the median of ``--runs`` runs (the best run in brackets), each against a floor
measured right before it: shared machines vary by a third from one run to the next. A large
file is ingested by three processes (see ``bot/ingest/parallel.py``); the peak RSS printed is
the largest of them.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import generate_jsonl, machine_speed, measure


def floor(path: Path, db: Path) -> float:
    """The least any ingest must do: parse every line and upsert one row per event."""
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS f (fp TEXT PRIMARY KEY, n INTEGER, last TEXT)")
    batch: list[tuple[str, str]] = []
    with path.open("rb") as handle:
        for line in handle:
            event = orjson.loads(line)
            key = f"{event['template-id']}|{event['matched-at']}|{event.get('matcher-name', '')}"
            batch.append((hashlib.sha256(key.encode()).hexdigest(), event["timestamp"]))
            if len(batch) >= 2000:
                conn.executemany(
                    "INSERT INTO f VALUES (?, 1, ?) ON CONFLICT(fp) DO UPDATE SET n = n + 1, "
                    "last = excluded.last",
                    batch,
                )
                batch.clear()
    if batch:
        conn.executemany(
            "INSERT INTO f VALUES (?, 1, ?) ON CONFLICT(fp) DO UPDATE SET n = n + 1, "
            "last = excluded.last",
            batch,
        )
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def slabot_ingest(path: Path, workdir: Path) -> tuple[float, float]:
    env = {
        "SLABOT_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "SLABOT_EVIDENCE_URL": f"file://{workdir / 'evidence'}",
    }
    code = "from bot.cli.app import main; main()"
    run = measure(
        [
            sys.executable,
            "-c",
            code,
            "ingest",
            str(path),
            "--json",
            "--now",
            "2026-03-02T10:00:00Z",
        ],
        env,
        workdir,
    )
    return run.seconds, run.max_rss_mb


def prepare(workdir: Path) -> None:
    if workdir.exists():
        shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    code = "from bot.cli.app import main; main()"
    measure(
        [sys.executable, "-c", code, "db", "upgrade"],
        {"SLABOT_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}"},
        workdir,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000, help="0 to skip the memory run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/ingest"))
    args = parser.parse_args()
    work: Path = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)

    print(machine_speed())
    scan = work / f"scan-{args.events}.jsonl"
    if not scan.exists():
        generate_jsonl(scan, args.events)
    size_mb = scan.stat().st_size / 1e6
    print(
        f"file: {args.events} events, {size_mb:.1f} MB "
        f"({scan.stat().st_size / args.events:.0f} B/event)"
    )

    firsts: list[tuple[float, float, float]] = []
    agains: list[tuple[float, float, float]] = []
    floor_db = work / "floor.db"
    run_dir = work / "run"
    for _ in range(args.runs):
        floor_db.unlink(missing_ok=True)
        t_floor = floor(scan, floor_db)
        prepare(run_dir)
        firsts.append((*slabot_ingest(scan, run_dir), t_floor))
        t_floor = floor(scan, floor_db)
        agains.append((*slabot_ingest(scan, run_dir), t_floor))

    def row(label: str, runs: list[tuple[float, float, float]]) -> None:
        rates = sorted(args.events / seconds for seconds, _, _ in runs)
        ratios = sorted(floor_seconds / seconds for seconds, _, floor_seconds in runs)
        floors = sorted(args.events / floor_seconds for _, _, floor_seconds in runs)
        rss = max(r for _, r, _ in runs)
        print(
            f"{label:<22} {statistics.median(rates):>10,.0f} events/s (best {rates[-1]:,.0f})  "
            f"peak RSS {rss:6.0f} MB  ratio to floor {statistics.median(ratios):.2f} "
            f"(floor {statistics.median(floors):,.0f} events/s; {len(runs)} runs)"
        )

    row("first ingest", firsts)
    row("re-ingest", agains)
    rss_first = max(r for _, r, _ in firsts)

    if args.big:
        big = work / f"scan-{args.big}.jsonl"
        if not big.exists():
            generate_jsonl(big, args.big)
        big_dir = work / "run-big"
        prepare(big_dir)
        t_big, rss_big = slabot_ingest(big, big_dir)
        print(
            f"{'big file (memory)':<22} {args.big / t_big:>10,.0f} events/s  {t_big:7.2f} s  "
            f"peak RSS {rss_big:6.0f} MB  "
            f"({rss_big / rss_first:.2f}x the {args.events:,}-event run)"
        )


if __name__ == "__main__":
    main()
