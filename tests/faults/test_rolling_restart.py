"""A rolling restart under load: notifications and travel are stopped with SIGTERM (what Kubernetes
sends on a rolling update) and started again, twice each, while a department books trip after trip.
Each process exits 0 within its grace; every booking answered 201 is alerted exactly once by email
and once by Slack (counted per Message-ID and per Idempotency-Key at the stand-ins), and nothing is
alerted that was not booked (tests.support.faults)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.support.faults import FaultRun, fault_run

pytestmark = pytest.mark.e2e

GRACE_SECONDS = 20


async def sigterm_and_start(run: FaultRun, service: str) -> float:
    """Stops `service` with SIGTERM, starts it again and waits for bookings through the new process;
    answers how long it took to exit."""
    process = run.d.processes[service]
    process.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = await asyncio.to_thread(process.proc.wait, GRACE_SECONDS + 20)
    took = time.monotonic() - started
    assert code == 0, f"{service} exited {code} on SIGTERM:\n{process.output()}"
    # Requests get at most 5 s (cli.GRACE_SECONDS), the runtime its grace; the rest is the exit.
    assert took < GRACE_SECONDS + 5 + 5, f"{service} took {took:.1f}s to stop"
    run.d.launch(service)
    await run.d.ready(service)
    await run.bookings_made(5)  # some go through the new process before the next restart
    return took


async def test_a_rolling_restart_under_load_loses_and_doubles_nothing(start, tmp_path):
    async with fault_run("sigterm rolling restart", start, tmp_path,
                         env={"OIA_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}) as run:
        stopped = []
        for _ in range(2):
            for service in ("notifications", "travel"):
                stopped.append(round(await sigterm_and_start(run, service), 1))
        run.more["exits"] = "/".join(map(str, stopped))  # seconds each SIGTERM took
