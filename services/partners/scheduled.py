"""The scheduled jobs (health, anniversaries, renewals), run periodically by each process. Running
them on several replicas at once is harmless: every alert is said once (see service/jobs.py)."""

from __future__ import annotations

from services.partners.service import jobs
from shared.logging import get_logger
from shared.scheduled import Periodic

log = get_logger("partners.scheduled")


class JobScheduler(Periodic):
    name = "partnerships"  # health (dormant), anniversaries, renewals

    async def run(self, runtime) -> int:
        async with runtime.uow() as uow:
            report = await jobs.run_jobs(uow, runtime.context.today())
        log.info("scheduled jobs ran", as_of=report.as_of.isoformat(), partnerships=report.partnerships,
                 anniversaries=report.anniversaries, dormant=report.dormant, renewals=report.renewals)
        return report.anniversaries + report.dormant + report.renewals
