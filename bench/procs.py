"""The benches' own processes (peers, stand-ins, load generators): started with this Python,
waited for over HTTP, stopped by their own id."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def spawn(script: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, str(script), *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def wait_http(proc: subprocess.Popen, url: str, log: Path, timeout: float = 120) -> None:
    """Until `url` answers 200; a process that exits first fails the bench with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise SystemExit(f"{url} not ready in {timeout:.0f} s:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_line(proc: subprocess.Popen, line: str, log: Path, timeout: float = 120) -> None:
    """Until the process has printed `line` (a consumer with no HTTP port saying it is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        if line in log.read_text().splitlines():
            return
        time.sleep(0.1)
    raise SystemExit(f"{proc.args!r} did not say {line!r} in {timeout:.0f} s:\n{log.read_text()[-2000:]}")
