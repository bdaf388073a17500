"""Waits that let a test count for absence ("nothing doubled") once the effect could no longer come.

Each names the observed end of one stretch of the path an event takes; a test chains the ones its
claim needs and says why they cover it. None of them sleeps a fixed time.
"""

from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.tables import outbox
from shared.testing import eventually


async def unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))


async def all_published(*engines: AsyncEngine, timeout: float = 15.0) -> None:
    """Until no outbox in these services' databases holds an unpublished row.

    The relay marks rows in the transaction that waits for the broker's confirms, so a committed mark
    means the broker has the event, routed to every bound queue. Call it after the commits in question
    have returned: their rows are then either marked or counted here.
    """

    async def none_left() -> bool:
        return all([await unpublished(engine) == 0 for engine in engines])

    await eventually(none_left, timeout=timeout, message="every outbox row published")


def taken(consumer: str, event_type: str) -> float:
    """Copies of `event_type` the consumer took off its queue and committed: handled or recognised as
    duplicates (the Dispatcher counts them after its commit)."""
    return sum(REGISTRY.get_sample_value("oia_events_consumed_total", {
        "service": consumer, "type": event_type, "outcome": outcome}) or 0.0 for outcome in ("handled", "duplicate"))
