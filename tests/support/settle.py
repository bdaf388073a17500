"""Waits that let a test count for absence ("nothing doubled") once the effect could no longer come.

Each names the observed end of one stretch of the path an event takes; a test chains the ones its
claim needs and says why they cover it. None of them sleeps a fixed time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus.memory import MemoryBus
from shared.envelope import Envelope
from shared.runtime import ServiceRuntime
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


async def settled(*runtimes: ServiceRuntime, idle: Callable[[], Awaitable[bool]] | None = None,
                  timeout: float = 15.0) -> None:
    """Until services on the in-process bus are quiescent on two polls running: no outbox row
    unpublished, no message waiting in or being handled from their queues, and `idle` (whatever
    else the test knows may be in progress) true.

    Checked upstream first: work only moves downstream (outbox, queue, what the handler left), so
    what one poll misses has finished, or was written upstream meanwhile by a handler that did,
    and the next poll sees it. Only the memory bus counts a message being handled in its depth;
    RabbitMQ's leaves out what a consumer holds unacked, so there listen for a marker instead.
    """
    for runtime in runtimes:
        if not isinstance(runtime.bus, MemoryBus):
            raise TypeError(f"{runtime.name} is not on the memory bus: its queue depth misses unacked messages")
    quiet_polls = 0

    async def quiet() -> bool:
        nonlocal quiet_polls
        now_quiet = (all([await unpublished(runtime.engine) == 0 for runtime in runtimes])
                     and all([await runtime.bus.queue_depth(runtime.queue) == 0 for runtime in runtimes])
                     and (idle is None or await idle()))
        quiet_polls = quiet_polls + 1 if now_quiet else 0
        return quiet_polls >= 2

    await eventually(quiet, timeout=timeout, message="the services to settle")


def events_heard(heard: list[Envelope]) -> list[Envelope]:
    """What a listener heard, one envelope per event id, in order. The outbox promises each event at
    least once on the broker: a relay whose publish went unconfirmed (a busy broker, a lost
    connection) publishes the same event again, and consumers' inboxes drop the copy by its id. A
    second *event* (another id) is a real double."""
    return list({e.id: e for e in heard}.values())
