"""The scheduled jobs (health, anniversaries, renewals), run periodically by each process. Running
them on several replicas at once is harmless: every alert is said once (see service.run_jobs)."""

from __future__ import annotations

import asyncio

from services.partners import service
from shared.logging import get_logger
from shared.uow import utcnow

log = get_logger("partners.scheduled")


class JobScheduler:
    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.interval = runtime.settings.jobs_interval_seconds
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="partners-jobs")

    def wake(self) -> None:
        pass  # the jobs follow the calendar, not events

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                async with self.runtime.uow() as uow:
                    report = await service.run_jobs(uow, utcnow().date())
                log.info("scheduled jobs ran", as_of=report.as_of.isoformat(), partnerships=report.partnerships,
                         anniversaries=report.anniversaries, dormant=report.dormant, renewals=report.renewals)
            except Exception:  # logged with its traceback; the next run tries again
                log.exception("scheduled jobs failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            except asyncio.TimeoutError:
                pass  # time for the next run
