"""Stopping a consumer on a real broker: the batch in hand is finished and acked, nothing more is taken,
and what had arrived but was not handled goes back to the queue (not lost, not counted as a failure)."""

from __future__ import annotations

import asyncio

import pytest

from shared.envelope import Envelope
from shared.testing import eventually

pytestmark = pytest.mark.integration

EVENT = "drain.thing.v1"


async def test_stop_consuming_finishes_the_batch_in_hand_and_gives_the_rest_back(rabbitmq):
    bus = await rabbitmq.bus()
    queue = rabbitmq.queue_prefix + "alpha"
    handled: list[str] = []
    holding = asyncio.Event()
    release = asyncio.Event()

    async def handler(envelopes: list[Envelope]) -> list[bool]:
        holding.set()
        await release.wait()  # a handler in the middle of its transaction when SIGTERM comes
        handled.extend(e.data["n"] for e in envelopes)
        return [True] * len(envelopes)

    await bus.subscribe(queue, [EVENT], handler)
    await bus.publish([Envelope(type=EVENT, source="/tests", data={"n": "first"})])
    await asyncio.wait_for(holding.wait(), 10)
    # These arrive while the first is in hand: prefetched into the consumer, not yet handled.
    await bus.publish([Envelope(type=EVENT, source="/tests", data={"n": f"later-{i}"}) for i in range(3)])

    stopping = asyncio.create_task(bus.stop_consuming(queue, grace_seconds=10))
    await asyncio.sleep(0)  # the consumer is being cancelled while the handler still works
    release.set()
    await asyncio.wait_for(stopping, 15)

    assert handled == ["first"]  # finished, and nothing started after the stop
    await bus.close()  # the process ends: its channel closes and the unacked messages go back

    # A new process's view of the queue: the three, none lost, none dead-lettered.
    other = await rabbitmq.bus()
    await eventually(lambda: _is(other.queue_depth(queue), 3), timeout=15, message="the rest back in the queue")
    assert await other.dead_letter_count(queue) == 0
    again: list[str] = []

    async def collect(envelopes: list[Envelope]) -> list[bool]:
        again.extend(e.data["n"] for e in envelopes)
        return [True] * len(envelopes)

    await other.subscribe(queue, [EVENT], collect)
    await eventually(lambda: sorted(again) == ["later-0", "later-1", "later-2"], timeout=15,
                     message="the rest, handled by the next consumer")


async def _is(value, expected) -> bool:
    return (await value) == expected
