"""The deadline reminders, run periodically by each process; every reminder is said once however
many replicas run them (see service.reminders.run_jobs)."""

from __future__ import annotations

from services.grants.service import reminders
from shared.logging import get_logger
from shared.scheduled import Periodic
from shared.uow import utcnow

log = get_logger("grants.scheduled")


class ReminderScheduler(Periodic):
    name = "reminders"

    async def run(self, runtime) -> int:
        async with runtime.uow() as uow:
            report = await reminders.run_jobs(uow, utcnow())
        log.info("scheduled jobs ran", as_of=report.as_of.isoformat(), applications=report.applications,
                 reminders=report.reminders)
        return report.reminders
