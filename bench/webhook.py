"""Webhook latency: single-event POSTs from concurrent clients against `slabot serve` on loopback.

    python bench/webhook.py [--requests 2000] [--clients 16]

Starts `slabot serve` on SQLite in a scratch folder (port 0 is not possible for uvicorn's CLI,
so a free loopback port is picked first), waits for /readyz, then sends the requests and prints
p50/p95/p99 latency, throughput and errors. A bare GET /healthz run gives the floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import _event, machine_speed

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SLABOT_DATABASE_URL": f"sqlite:///{workdir / 'webhook.db'}",
        "SLABOT_EVIDENCE_URL": f"file://{workdir / 'evidence'}",
        "SLABOT_INGEST_TOKEN": TOKEN,
        "SLABOT_KEV_URL": "http://127.0.0.1:9/none.json",
        "SLABOT_KEV_MIRROR_URL": "",
    }
    code = "from bot.cli.app import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("slabot serve did not become ready")


def run(port: int, requests: int, clients: int, *, ingest: bool) -> tuple[list[float], int, float]:
    import random

    rng = random.Random(1)
    bodies = [orjson.dumps(_event(rng, i % 300, i // 300, i % 3)) for i in range(requests)]
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    cursor = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                started = time.perf_counter()
                try:
                    if ingest:
                        response = client.post(
                            "/webhooks/nuclei",
                            content=bodies[i],
                            headers={
                                "Authorization": f"Bearer {TOKEN}",
                                "Content-Type": "application/json",
                            },
                        )
                        ok = response.status_code == 202
                    else:
                        ok = client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors += 0 if ok else 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - started


def report(label: str, latencies: list[float], errors: int, seconds: float) -> None:
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{label:<18} p50 {cuts[49] * 1000:6.1f} ms  p95 {cuts[94] * 1000:6.1f} ms  "
        f"p99 {cuts[98] * 1000:6.1f} ms  {len(latencies) / seconds:7.0f} req/s  errors {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/webhook"))
    args = parser.parse_args()
    workdir: Path = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    print(machine_speed())
    port = free_port()
    server = start_server(workdir, port)
    try:
        report("GET /healthz", *run(port, args.requests, args.clients, ingest=False))
        report("POST 1-event scan", *run(port, args.requests, args.clients, ingest=True))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
