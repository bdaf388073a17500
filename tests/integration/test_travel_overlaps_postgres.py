"""Travel on the production shape: `oia serve travel` on PostgreSQL and RabbitMQ, driven over HTTP."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from shared.testing import (
    AMQP_URL,
    asyncpg_url,
    create_database,
    drop_database,
    eventually,
    require_rabbitmq,
    unique_name,
)
from tests.conftest import delete_amqp_objects
from tests.support.processes import free_port
from tests.support.settle import all_published

pytestmark = pytest.mark.integration

LEG = {"city": "Köln", "country": "DE", "start_date": "2027-09-01", "end_date": "2027-09-03"}
KEYS = "it-econ:department:ECON,it-cult:department:CULT,it-mayor:department:MAYOR,it-env:department:ENV"


async def test_concurrent_overlapping_bookings_over_http_put_each_overlap_once_on_the_bus(start):
    await require_rabbitmq()
    database = await create_database("oia_it_travel")
    exchange, prefix = unique_name("it.events"), unique_name("it") + "."
    connection = await aio_pika.connect(AMQP_URL)
    travel = None
    try:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        watch = await channel.declare_queue(exclusive=True)
        await watch.bind(ex, "travel.#")
        seen: list[dict] = []

        async def on(message) -> None:
            seen.append(json.loads(message.body))
            await message.ack()

        await watch.consume(on)
        port = free_port()
        travel = start(["serve", "travel"], {
            "DATABASE_URL": asyncpg_url(database), "AMQP_URL": AMQP_URL, "PORT": str(port), "OIA_ENV": "test",
            "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix, "OIA_SECRET_KEY": "it-secret-not-placeholder",
            "OIA_API_KEYS": KEYS})
        await asyncio.to_thread(travel.wait_healthy, f"http://127.0.0.1:{port}/travel/ready")

        # Four departments book Köln (and Düsseldorf, 34 km) for the same days, all at once.
        bookings = [("it-econ", "Köln"), ("it-cult", "Düsseldorf"), ("it-mayor", "Cologne"), ("it-env", "Koeln")]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            responses = await asyncio.gather(*(
                client.post("/travel/trips", headers={"Authorization": f"Bearer {key}"},
                            json={"title": f"Visit by {key}", "legs": [{**LEG, "city": city}]})
                for key, city in bookings))
        assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]

        def detected() -> list[dict]:
            return [m for m in seen if m["type"] == "travel.overlap.detected.v1"]

        # Travel finds overlaps in the booking's own transaction, so all four answers mean every
        # overlap is in its outbox. Once that is on the broker, a marker published now comes out of
        # the watch queue behind all of it: a doubled overlap would then be in `seen`.
        outbox_of_travel = create_async_engine(asyncpg_url(database))
        try:
            await all_published(outbox_of_travel, timeout=30)
        finally:
            await outbox_of_travel.dispose()
        marker = unique_name("marker")
        await ex.publish(aio_pika.Message(json.dumps({"type": marker}).encode()), routing_key="travel.test.marker")
        await eventually(lambda: any(m["type"] == marker for m in seen), message="the marker")
        pairs = [frozenset(t["trip_id"] for t in m["data"]["trips"]) for m in detected()]
        assert len(pairs) == 6 and len(set(pairs)) == 6, "four departments in one place: every pair exactly once"
        assert {t["id"] for t in (r.json() for r in responses)} == set().union(*pairs)
        assert len([m for m in seen if m["type"] == "travel.trip.booked.v1"]) == 4
    finally:
        if travel is not None:
            travel.stop()
        await connection.close()
        await delete_amqp_objects(exchange, prefix)
        await drop_database(database)
