"""The fault suite's short scenarios (issue 17; the long ones are in tests/faults, `make test-faults`):
four `oia serve` processes on the machine's RabbitMQ and PostgreSQL (an exchange and databases of their
own: none of these restarts either), bookings flowing, every alert counted at an SMTP server and a
Slack stand-in. Each reports its line (tests.support.faults) and asserts nothing lost or doubled.
Kept short (tens of seconds each): `make test` has little time to spare."""

from __future__ import annotations

import aio_pika
import pytest

from shared.bus.amqp import AmqpBus
from shared.envelope import Envelope
from shared.testing import AMQP_URL, eventually
from tests.support.faults import fault_run, kill_9

pytestmark = pytest.mark.e2e


async def test_kill_9_of_notifications(start, tmp_path):
    async with fault_run("kill-9 notifications", start, tmp_path, after=5) as run:
        await run.bookings_made(5)  # some deliveries in flight when it dies
        await kill_9(run, "notifications")


# Published straight to the exchange as bookings: no JSON, no CloudEvent, a booking with no payload.
POISON = [
    aio_pika.Message(b"\x00\xffnot json", message_id="poison-bytes", type="travel.trip.booked.v1"),
    aio_pika.Message(b'{"hello": "world"}', content_type="application/json", message_id="poison-json",
                     type="travel.trip.booked.v1"),
]
HOLLOW = Envelope(type="travel.trip.booked.v1", source="/poison", data={"trip": "none"})


async def test_poison_messages_are_dead_lettered_and_the_alerts_go_on(start, tmp_path):
    async with fault_run("poison messages", start, tmp_path, after=5) as run:
        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            exchange = await channel.get_exchange(run.d.exchange)
            for message in POISON:
                await exchange.publish(message, routing_key="travel.trip.booked.v1")
        finally:
            await connection.close()
        bus = AmqpBus(AMQP_URL, run.d.exchange)
        await bus.connect()
        try:
            await bus.publish([HOLLOW])
            # Each consumer of bookings has every poison message dead-lettered, with its reason.
            for service in ("notifications", "partners"):
                queue = run.d.queue_prefix + service

                async def all_dead(queue: str = queue) -> bool:
                    return await bus.dead_letter_count(queue) == len(POISON) + 1
                await eventually(all_dead, timeout=60, message=f"the poison dead-lettered by {service}")
                dead = await bus.dead_letters(queue)
                assert {d.event_id for d in dead} >= {"poison-bytes", "poison-json", HOLLOW.id}, dead
                assert all(d.reason.startswith("PoisonMessage: ") for d in dead), [d.reason for d in dead]
                run.dead_letters_expected += len(dead)
        finally:
            await bus.close()


async def test_two_replicas_of_each_service(start, tmp_path):
    async with fault_run("two replicas", start, tmp_path, replicas=2, after=5) as run:
        await run.bookings_made(10)  # booked in turn on both travel processes
