"""Processes started the way users start them (`oia dev`, `oia serve`), talked to over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
OIA = str(Path(sys.executable).parent / "oia")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen([OIA, *args], cwd=ROOT, env={**os.environ, **env},
                                     stdout=self._out, stderr=subprocess.STDOUT)

    def wait_healthy(self, url: str, timeout: float = 120.0) -> None:  # generous: CI runs on a loaded machine
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.1)
        raise AssertionError(f"{url} not healthy after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self._out.closed:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture
def start(tmp_path):
    """`start(args, env)` runs `oia <args>`; every process is stopped after the test."""
    started: list[Process] = []

    def _start(args: list[str], env: dict[str, str]) -> Process:
        process = Process(args, env, tmp_path / f"{args[0]}-{len(started)}.log")
        started.append(process)
        return process

    yield _start
    for process in started:
        process.stop()
