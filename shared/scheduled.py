"""A job run periodically by each process (a runtime worker). Running it on several replicas at
once must be harmless: jobs say each thing once (a unique row per alert), not once per process."""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from opentelemetry.context import Context

from shared.logging import get_logger
from shared.runtime import ServiceRuntime
from shared.tracing import span

log = get_logger("shared.scheduled")


@runtime_checkable
class JobSettings(Protocol):
    """What the settings of a service with periodic jobs have beside `ServiceSettings`."""

    jobs_interval_seconds: float


class Periodic:
    """Runs `run(runtime)` at start and then every `runtime.settings.jobs_interval_seconds`;
    subclasses say what `run` does."""

    name = "jobs"

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        if not isinstance(settings, JobSettings):
            raise TypeError(f"{runtime.name}'s settings have no jobs_interval_seconds for its periodic jobs")
        self.interval = settings.jobs_interval_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run(self, runtime: ServiceRuntime) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"{self.runtime.spec.name}-{self.name}")

    def wake(self) -> None:
        pass  # jobs follow the calendar, not events

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                with span(f"job {self.name}", self.runtime.spec.name, parent=Context()):  # each run its own trace
                    await self.run(self.runtime)
            except Exception:  # logged with its traceback; the next run tries again
                log.exception("scheduled jobs failed", service=self.runtime.spec.name)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass  # time for the next run
