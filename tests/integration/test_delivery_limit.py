"""A message that keeps killing its consumer is dead-lettered by the quorum queue's delivery limit,
not redelivered for ever: the queue flows again and the letter says why."""

from __future__ import annotations

import aio_pika
import pytest

from shared.bus.amqp import DELIVERY_LIMIT
from shared.envelope import Envelope
from shared.testing import AMQP_URL, eventually
from tests.support import probe
from tests.support.probe import beta_spec

pytestmark = pytest.mark.integration


async def _is(value, expected) -> bool:
    return (await value) == expected


async def test_a_message_that_keeps_killing_its_consumer_is_dead_lettered_by_the_delivery_limit(rabbitmq):
    bus = await rabbitmq.bus()
    queue = rabbitmq.queue_prefix + "beta"
    await bus.declare(queue, beta_spec.subscriptions.binding_keys)  # the service's queue, as `serve` declares it
    killer = Envelope(type=probe.EVENT, source="/alpha", data=probe.thing("kills-its-consumer").model_dump(mode="json"))
    await bus.publish([killer])

    # Each time, a consumer takes the message and dies before acking: to the broker, its connection
    # is gone with the message unacknowledged (what a kill -9 or an out-of-memory kill leaves).
    deliveries = 0
    while deliveries <= DELIVERY_LIMIT:
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        main = await channel.get_queue(queue, ensure=False)
        message = await main.get(no_ack=False, fail=False)
        await connection.close()  # no ack
        if message is None:
            break  # dead-lettered: nothing left to take
        assert message.message_id == killer.id
        deliveries += 1

    # Taken once, then redelivered up to the limit; after that it goes to the dead-letter queue.
    assert deliveries == DELIVERY_LIMIT + 1
    await eventually(lambda: _is(bus.dead_letter_count(queue), 1), timeout=15, message="the dead letter")
    assert await bus.queue_depth(queue) == 0
    [letter] = await bus.dead_letters(queue)
    assert letter.event_id == killer.id and "delivery limit" in letter.reason
    assert letter.data["name"] == "kills-its-consumer"

    # The queue flows: the next event is handled at once.
    effects: list[str] = []

    async def consume(envelopes):
        effects.extend(e.data["name"] for e in envelopes)
        return [True] * len(envelopes)

    await bus.subscribe(queue, beta_spec.subscriptions.binding_keys, consume)
    await bus.publish([Envelope(type=probe.EVENT, source="/alpha", data=probe.thing("next").model_dump(mode="json"))])
    await eventually(lambda: effects == ["next"], timeout=15, message="the next event handled")
