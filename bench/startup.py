"""Start-up time and memory of the two runtime shapes.

- `oia dev`: seconds until all four services answer /health (target < 5 s), resident memory.
- `oia serve <service>` for each service on PostgreSQL + RabbitMQ: seconds until /ready, resident
  memory after start (target < 150 MB each).

    python bench/startup.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, unique_name  # noqa: E402
from tests.conftest import delete_amqp_objects  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from procs import stop  # noqa: E402
from report import Row, Target, write_rows  # noqa: E402

OIA = str(Path(sys.executable).parent / "oia")
SERVICES = ("partners", "travel", "grants", "notifications")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def wait_until_ok(proc: subprocess.Popen, urls: list[str], timeout: float = 60) -> float:
    started = time.monotonic()
    pending = list(urls)
    while pending:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode}")
        if time.monotonic() - started > timeout:
            raise SystemExit(f"not ready after {timeout}s: {pending}")
        try:
            if httpx.get(pending[0], timeout=1).status_code == 200:
                pending.pop(0)
                continue
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.02)
    return time.monotonic() - started


def bench_dev(rows: list[Row]) -> None:
    with tempfile.TemporaryDirectory() as data:
        for run in ("first start (migrates, creates keys)", "restart"):
            port = free_port()
            proc = subprocess.Popen([OIA, "dev"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={**os.environ, "OIA_PORT": str(port), "OIA_DATA_DIR": data})
            try:
                seconds = wait_until_ok(proc, [f"http://127.0.0.1:{port}/{s}/health" for s in SERVICES])
                print(f"startup: oia dev, {run}: all four services answer in {seconds:.2f} s (target < 5 s), "
                      f"{rss_mb(proc.pid):.0f} MB resident")
                rows.append(Row("startup", f"oia dev ready, {run.split(' (')[0]}", "s", seconds,
                                target=Target("ours", "<=", 5)))
            finally:
                stop(proc)


async def bench_serve(rows: list[Row]) -> None:
    exchange, prefix = unique_name("bench.startup"), unique_name("startup") + "."
    databases = {s: await create_database(f"oia_startup_{s}") for s in SERVICES}
    procs: list[subprocess.Popen] = []
    try:
        for service in SERVICES:
            port = free_port()
            proc = subprocess.Popen(
                [OIA, "serve", service], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "DATABASE_URL": asyncpg_url(databases[service]), "AMQP_URL": AMQP_URL,
                     "PORT": str(port), "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix,
                     "OIA_ENV": "test", "OIA_SECRET_KEY": "bench-secret-not-a-placeholder"})
            procs.append(proc)
            seconds = await asyncio.to_thread(wait_until_ok, proc, [f"http://127.0.0.1:{port}/{service}/ready"])
            print(f"startup: oia serve {service:<13} ready in {seconds:.2f} s (migrations included), "
                  f"{rss_mb(proc.pid):.0f} MB resident (target < 150 MB)")
            rows.append(Row("startup", f"oia serve {service} resident", "MB", rss_mb(proc.pid),
                            target=Target("ours", "<=", 150)))
    finally:
        for proc in procs:
            stop(proc)
        for name in databases.values():
            await drop_database(name)
        await delete_amqp_objects(exchange, prefix)


if __name__ == "__main__":
    rows: list[Row] = []
    bench_dev(rows)
    asyncio.run(bench_serve(rows))
    write_rows("startup", rows)
