"""`wrk` (the Debian package) run from the benches: requests/s and latency from a C load generator,
so the figures are the server's, not a Python client's."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "wrk" / "load.lua"


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    status_errors: int  # answers other than 2xx/3xx
    socket_errors: int
    rejected: str  # the first answer ≥ 400 with its body, if any

    def failures(self) -> str:
        """What went wrong, for a bench that needs every request answered well ('' if nothing)."""
        if not (self.status_errors or self.socket_errors):
            return ""
        return f"{self.status_errors} answers ≥ 400 (first: {self.rejected}), {self.socket_errors} socket errors"

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk(url: str, seconds: float, *, connections: int = 8, threads: int = 1, bodies: Path | None = None,
        headers: dict[str, str] | None = None) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(SCRIPT)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    if bodies is not None:
        command += ["--", str(bodies)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    found = re.search(r"wrk-result (.*)", done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    f = {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    rejected = re.search(r"wrk-rejected (.*)", done.stdout)
    return WrkResult(f["requests"], f["duration_us"] / 1e6, f["p50_us"] / 1000, f["p99_us"] / 1000,
                     f["max_us"] / 1000, f["status_errors"], f["socket_errors"], rejected.group(1) if rejected else "")
