"""Retention: what holds personal data is kept no longer than its period, then deleted or anonymised.

Each service lists its rules (`ServiceSpec.retention`, from its privacy.py) beside the platform's
own (inbox rows, audit entries; the outbox prunes itself, shared/outbox.py). A rule removes, in one
transaction, what is older than its period's cutoff and says how many it removed. A run is what
the periodic job (`Retention`) and an admin's `POST /<svc>/admin/retention` do alike: what it
removes is said once, in one log line and in `oia_retention_removed_total`; run again, it finds
nothing and says nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from shared.logging import get_logger
from shared.metrics import RETENTION_REMOVED
from shared.tables import audit, inbox, subject_answer, subject_request
from shared.uow import UnitOfWork

if TYPE_CHECKING:
    from shared.runtime import ServiceRuntime

log = get_logger("shared.retention")


@dataclass(frozen=True)
class Rule:
    """`data`: what it removes, as the log line and the metric's label name it ("inbox rows");
    `period`: the setting that says how many days it is kept; `apply(uow, cutoff, settings)` removes
    or anonymises what is older than the cutoff and returns how many rows it changed."""

    data: str
    period: str
    apply: Callable[[UnitOfWork, datetime, Any], Awaitable[int]]


async def _inbox_rows(uow: UnitOfWork, cutoff: datetime, _settings: Any) -> int:
    """An inbox row only stops a redelivery from being handled twice: past the window in which the
    broker can still deliver the event again (a dead letter re-driven included), it has no use."""
    return await _delete(uow, delete(inbox).where(inbox.c.handled_at < cutoff))


async def _audit_entries(uow: UnitOfWork, cutoff: datetime, _settings: Any) -> int:
    return await _delete(uow, delete(audit).where(audit.c.at < cutoff))


async def _subject_requests(uow: UnitOfWork, cutoff: datetime, _settings: Any) -> int:
    """A completed request for a person's data: an export's result is the person's data, an
    erasure's only counts (the audit trail keeps that it was done, and by whom)."""
    done = select(subject_request.c.id).where(subject_request.c.status == "complete",
                                              subject_request.c.completed_at < cutoff)
    await _delete(uow, delete(subject_answer).where(subject_answer.c.request_id.in_(done)))
    return await _delete(uow, delete(subject_request).where(subject_request.c.id.in_(done)))


async def _delete(uow: UnitOfWork, statement: Any) -> int:
    result = await (await uow.session.connection()).execute(statement)
    return int(result.rowcount or 0)


PLATFORM_RULES = (
    Rule("inbox rows", "inbox_retention_days", _inbox_rows),
    Rule("audit entries", "audit_retention_days", _audit_entries),
    Rule("requests for a person's data", "subject_request_retention_days", _subject_requests),
)


async def run_retention(runtime: ServiceRuntime, now: datetime) -> dict[str, int]:
    """Every rule of the service, each in its own transaction, as of `now`: how many rows each removed."""
    removed: dict[str, int] = {}
    for rule in (*PLATFORM_RULES, *runtime.spec.retention):
        cutoff = now - timedelta(days=getattr(runtime.settings, rule.period))
        async with runtime.uow() as uow:
            removed[rule.data] = await rule.apply(uow, cutoff, runtime.settings)
            await uow.commit()
    for data, count in removed.items():
        if count:
            RETENTION_REMOVED.labels(runtime.name, data).inc(count)
    if any(removed.values()):
        log.info("retention: data past its period removed", service=runtime.name, as_of=now.isoformat(),
                 removed={data: count for data, count in removed.items() if count})
    return removed
