"""A job run periodically by each process (a runtime worker). Running it on several replicas at
once must be harmless: jobs say each thing once (a unique row per alert), not once per process."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from opentelemetry.context import Context

from shared.audit import acting_as
from shared.logging import get_logger
from shared.metrics import JOB_ALERTS, JOB_DURATION, JOB_INTERVAL, JOB_LAST_RUN, JOB_LAST_SUCCESS, JOB_RUNS
from shared.retention import run_retention
from shared.tracing import span
from shared.uow import utcnow

if TYPE_CHECKING:
    from shared.runtime import ServiceRuntime

log = get_logger("shared.scheduled")


class Periodic:
    """Runs `run(runtime)` at start and then every `interval_setting` seconds (a field of the
    service's settings); subclasses say what `run` does, and name it (the `job_name` label of its
    metrics)."""

    name = "jobs"
    interval_setting = "jobs_interval_seconds"

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        interval = getattr(runtime.settings, self.interval_setting, None)
        if not isinstance(interval, int | float):
            raise TypeError(f"{runtime.name}'s settings have no {self.interval_setting} for its job {self.name}")
        self.interval = float(interval)
        JOB_INTERVAL.labels(runtime.name, self.name).set(self.interval)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run(self, runtime: ServiceRuntime) -> int:
        """One run; returns how many alerts (events) it said."""
        raise NotImplementedError

    def start(self) -> None:
        # Counted from the start until a run succeeds: a job that never does is late after two intervals.
        JOB_LAST_SUCCESS.labels(self.runtime.name, self.name).set(time.time())
        self._task = asyncio.create_task(self._loop(), name=f"{self.runtime.spec.name}-{self.name}")

    def wake(self) -> None:
        pass  # jobs follow the calendar, not events

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Let a run under way finish (within the grace; None: the shutdown grace), then cut it off:
        a job says each alert once however often it runs, so the next start runs it again."""
        self._stopping.set()
        if self._task is not None:
            grace = self.runtime.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
            _, late = await asyncio.wait([self._task], timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            await self.run_once()
            await self._pause()

    async def _pause(self) -> None:
        """Until the next run is due (or the job stops)."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
        except TimeoutError:
            pass  # time for the next run

    async def run_once(self) -> bool:
        """One run, measured; returns whether it succeeded. A failure is logged with its traceback
        (the next run tries again) and counted."""
        service = self.runtime.name
        started = time.perf_counter()
        try:
            # Each run its own trace; what it changes is the job's doing (shared/audit.py).
            with span(f"job {self.name}", service, parent=Context()), acting_as(f"job {self.name}"):
                said = await self.run(self.runtime)
        except Exception:
            log.exception("scheduled jobs failed", service=service, job=self.name)
            outcome = "failed"
        else:
            outcome = "ok"
            JOB_ALERTS.labels(service, self.name).inc(said)
            JOB_LAST_SUCCESS.labels(service, self.name).set(time.time())
        JOB_DURATION.labels(service, self.name).observe(time.perf_counter() - started)
        JOB_RUNS.labels(service, self.name, outcome).inc()
        JOB_LAST_RUN.labels(service, self.name).set(time.time())
        return outcome == "ok"


class Retention(Periodic):
    """What holds personal data, removed at the end of its period (shared/retention.py)."""

    name = "retention"
    interval_setting = "retention_interval_seconds"

    async def run(self, runtime: ServiceRuntime) -> int:
        await run_retention(runtime, utcnow())
        return 0  # it says no alerts: what it removes is counted in oia_retention_removed_total
