"""A publish the broker refuses (nacks) costs the publishing channel: the bus opens a new one, so the
next publish does not go into a channel that may refuse everything from then on. Measured on a RabbitMQ
3.10 cluster (tests/faults/test_rabbitmq_cluster.py): a channel whose first publish to a quorum queue came
while the queue's node had just been lost nacked every later publish for good, and the outbox relay
retried into it for minutes. Here the refusal is made on purpose: a queue that holds one message and
refuses more (reject-publish)."""

from __future__ import annotations

import aio_pika
import pytest
from aiormq.exceptions import DeliveryError

from shared.bus.amqp import AmqpBus
from shared.envelope import Envelope
from shared.testing import AMQP_URL, require_rabbitmq, unique_name

pytestmark = pytest.mark.integration


def _event(n: int) -> Envelope:
    return Envelope(type="test.refused.v1", source="/tests", data={"n": n})


async def test_a_refused_publish_renews_the_publishing_channel_and_the_next_goes_through():
    await require_rabbitmq()
    exchange, queue = unique_name("refused.events"), unique_name("refused")
    bus = AmqpBus(AMQP_URL, exchange)
    await bus.connect()
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        # Holds one message and refuses the next: the broker nacks it (a classic queue does so at once).
        full = await channel.declare_queue(queue, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        await full.bind(exchange, "test.#")
        refused_on = bus._publish_channel

        await bus.publish([_event(1)])
        with pytest.raises(DeliveryError):
            await bus.publish([_event(2)])
        assert refused_on is not None and refused_on.is_closed
        assert bus._publish_channel is not refused_on and await bus.is_ready()

        await full.purge()
        await bus.publish([_event(3)])  # through the new channel, confirmed
        message = await full.get(timeout=5)
        assert Envelope.from_rabbitmq(dict(message.headers), message.content_type, message.body).data == {"n": 3}
    finally:
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
        await connection.close()
        await bus.close()
