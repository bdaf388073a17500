"""A cheap request's latency while a large import runs in the same process.

`oia dev` (all four services, one process) as a subprocess; a ~10 MB partnership register (real
GeoNames cities, most rows new partnerships, some duplicates and rejected rows) and a ~10 MB SEDIA
answer generated here. `wrk` (one connection, one request at a time) measures GET /partners/health
for `--seconds` with nothing else running, then while `curl` posts the import (which must outlast the
measurement, or the line says so), then once more after it, while the events it caused are handled.
Target: p99 during the import at most twice the p99 without. Loopback only; every step has a time limit.

    python bench/import_latency.py [--seconds 10] [--megabytes 10] [--only csv|sedia]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from grants import portal_answer  # noqa: E402

from tests.support.processes import Process, free_port  # noqa: E402
from tests.support.registers import register  # noqa: E402

PROBE = "/partners/health"
# wrk's own percentiles, in microseconds, on one line this script reads.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-result requests=%d p50=%d p99=%d max=%d errors=%d\\n", summary.requests,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def sedia(size: int) -> bytes:
    """A portal answer of about `size` bytes, built like bench/grants.py's."""
    per_call = len(portal_answer(100)) / 100
    return portal_answer(int(size / per_call))


def wrk(url: str, seconds: int, timeout: float) -> dict[str, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        done = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "--timeout", "10s", "-s", script.name, url],
                              capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(script.name)
    found = re.search(r"wrk-result (.*)", done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    return {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def measure(base: str, key: str, kind: str, path: str, body: Path, content_type: str, seconds: int,
            work: Path) -> None:
    probe = base + PROBE
    wrk(probe, 2, timeout=30)  # warm-up
    before = wrk(probe, seconds, timeout=seconds + 30)
    out, timing = work / f"{kind}-report.json", work / f"{kind}-timing.txt"
    started = time.monotonic()
    curl = subprocess.Popen(
        ["curl", "-sS", "--max-time", "600", "-o", str(out), "-w", "%{http_code} %{time_total}",
         "-H", f"Authorization: Bearer {key}", "-H", f"Content-Type: {content_type}",
         "--data-binary", f"@{body}", base + path],
        stdout=open(timing, "w"), stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)  # the upload is on its way; the measurement is of the work after it
        during = wrk(probe, seconds, timeout=seconds + 30)
        outlasted = curl.poll() is None
        curl.wait(timeout=600)
    finally:
        if curl.poll() is None:
            curl.kill()
    took = time.monotonic() - started
    after = wrk(probe, seconds, timeout=seconds + 30)
    # Not quiet: the events the import caused are being handled (a portal answer's announcements).
    without = before
    status, _, total = timing.read_text().partition(" ")
    if status != "200":
        raise SystemExit(f"the {kind} import answered {status}: {out.read_text()[:500] if out.exists() else ''}")
    summary = json.loads(out.read_bytes())
    counts = ", ".join(f"{v} {k}" for k, v in summary.items() if isinstance(v, int))
    size = body.stat().st_size / 1e6
    if during["requests"] == 0:  # the one request in flight never came back: the loop was blocked throughout
        print(f"import: p99 of GET {PROBE} during a {size:.0f} MB {kind} import: no answer in {seconds} s, "
              f"without {without['p99'] / 1000:6.1f} ms (target ≤ 2×)")
    else:
        ratio = during["p99"] / max(without["p99"], 1)
        print(f"import: p99 of GET {PROBE} during a {size:.0f} MB {kind} import {during['p99'] / 1000:7.1f} ms, "
              f"without {without['p99'] / 1000:6.1f} ms; ratio {ratio:.1f} (target ≤ 2)"
              + ("" if outlasted else "  [the import ended before the measurement did]"))
    print(f"import:   p50 {during['p50'] / 1000:.1f} vs {without['p50'] / 1000:.1f} ms, max {during['max'] / 1000:.0f} "
          f"vs {without['max'] / 1000:.0f} ms, {during['requests']} vs {without['requests']} requests, "
          f"{during['errors'] + before['errors'] + after['errors']} errors; p99 {after['p99'] / 1000:.1f} ms in the "
          f"{seconds} s after the import (its events handled); the import took {float(total or 0):.1f} s "
          f"({counts}), {took:.0f} s from posting to report")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--megabytes", type=float, default=10)
    parser.add_argument("--only", choices=["csv", "sedia"])
    args = parser.parse_args()
    for tool in ("wrk", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"import: needs {tool} (Debian: apt-get install -y {tool})")
    size = int(args.megabytes * 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        dev = Process(["dev"], {"OIA_PORT": str(port), "OIA_DATA_DIR": str(work / "data"),
                                "OIA_LOG_LEVEL": "WARNING"}, work / "oia-dev.log")
        try:
            base = f"http://127.0.0.1:{port}"
            dev.wait_healthy(base + PROBE)
            keys = json.loads((work / "data" / "demo-keys.json").read_text())
            key = next(k["key"] for k in keys if k["role"] == "coordinator")
            if args.only in (None, "csv"):
                (work / "register.csv").write_bytes(register(size))
                measure(base, key, "CSV", "/partners/partnerships/import", work / "register.csv", "text/csv",
                        args.seconds, work)
            if args.only in (None, "sedia"):
                (work / "sedia.json").write_bytes(sedia(size))
                measure(base, key, "SEDIA JSON", "/grants/calls/import", work / "sedia.json", "application/json",
                        args.seconds, work)
        finally:
            dev.stop()


if __name__ == "__main__":
    main()
