"""Shared benchmark helpers: realistic Nuclei JSONL generation and child-process measurement."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

SEVERITIES = ["info"] * 5 + ["low"] * 2 + ["medium"] * 2 + ["high", "critical"]
CVES = [f"CVE-20{y:02d}-{n}" for y in range(18, 26) for n in range(1000, 1030)]


def machine_speed() -> str:
    """How fast this machine is right now, for reading the figures beside it: a shared VM's
    speed drifts by half or more between runs, so figures from different days compare only
    through a yardstick measured with them."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return f"machine: a 10-million-step Python loop took {time.perf_counter() - started:.2f} s"


def _event(rng: random.Random, template: int, host: int, matcher: int) -> dict[str, object]:
    sev = SEVERITIES[template % len(SEVERITIES)]
    url = f"https://app{host}.example.com"
    body = "x" * 700
    return {
        "template-id": f"bench-template-{template}",
        "template-path": f"/root/nuclei-templates/http/bench-{template}.yaml",
        "info": {
            "name": f"Benchmark finding {template}",
            "author": ["bench"],
            "tags": ["bench", "http"],
            "severity": sev,
            "description": "A synthetic finding for the ingest benchmark.",
            "classification": {"cve-id": [CVES[template % len(CVES)].lower()]}
            if template % 7 == 0
            else None,
        },
        "type": "http",
        "host": f"app{host}.example.com",
        "port": "443",
        "scheme": "https",
        "url": url,
        "matched-at": f"{url}/path/{template}",
        "matcher-name": f"m{matcher}",
        "request": f"GET /path/{template} HTTP/1.1\r\nHost: app{host}.example.com\r\n"
        "User-Agent: Mozilla/5.0\r\nAuthorization: Bearer abc.def.ghi\r\nAccept: */*\r\n\r\n",
        "response": f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>{body}</html>",
        "ip": f"10.0.{host % 250}.{template % 250}",
        "timestamp": "2026-03-02T09:00:00.123456789+02:00",
        "matcher-status": True,
    }


def generate_jsonl(path: Path, events: int, *, repeat_ratio: float = 0.2, seed: int = 7) -> None:
    """~1.6 KB per event; ``repeat_ratio`` of events repeat an earlier fingerprint."""
    rng = random.Random(seed)
    seen: list[tuple[int, int, int]] = []
    with path.open("wb") as out:
        for i in range(events):
            if seen and rng.random() < repeat_ratio:
                key = seen[rng.randrange(len(seen))]
            else:
                key = (i % 400, i // 400, i % 3)
                seen.append(key)
                if len(seen) > 50_000:  # bound the generator's own memory
                    seen.pop(rng.randrange(len(seen)))
            out.write(orjson.dumps(_event(rng, *key)))
            out.write(b"\n")


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    output: str


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run a child process; wall time and its own peak RSS (from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(err.decode())
        raise SystemExit(f"{argv} failed with {proc.returncode}")
    return Run(elapsed, usage.ru_maxrss / 1024, out.decode())
