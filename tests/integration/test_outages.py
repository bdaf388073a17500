"""Outages are waited out, not failed: the database or the broker goes away (a TCP stand-in in front
of the shared PostgreSQL or RabbitMQ is cut, so nothing else on the server notices) and comes back.

- a booking while the database is away gets a 503 with Retry-After, and the same keep-alive
  connection books once it is back;
- a consumer whose database is away for longer than the whole retry ladder dead-letters nothing and
  handles every event exactly once afterwards;
- a consumer paused longer than its hold bound hands its messages back to the queue and takes none
  until the database is back (RabbitMQ's consumer timeout never finds a delivery held that long);
- the outbox relay publishes within about a second of the broker's return;
- /ready says 503 while the broker is unreachable.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aio_pika
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.metrics import CONSUMER_PAUSED, EVENTS_CONSUMED
from shared.outages import RETRY_AFTER_SECONDS
from shared.runtime import ServiceRuntime
from shared.testing import AMQP_URL, POSTGRES_URL, asyncpg_url, create_database, drop_database, eventually, unique_name
from tests.conftest import delete_amqp_objects
from tests.support import probe
from tests.support.probe import effects, inbox_rows, publish_things
from tests.support.processes import Process, free_port
from tests.support.proxy import TcpProxy

KEY = "outage-coordinator"
POSTGRES = urlsplit(POSTGRES_URL)
RABBITMQ = urlsplit(AMQP_URL)


def through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return parts._replace(netloc=f"{credentials}127.0.0.1:{proxy.port}").geturl()


@dataclass
class Travel:
    process: Process
    port: int
    database: str
    exchange: str
    postgres: TcpProxy
    rabbitmq: TcpProxy

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


@pytest.fixture
async def travel(start) -> AsyncIterator[Travel]:
    """`oia serve travel` on a database of its own, reaching PostgreSQL and RabbitMQ through proxies."""
    database = await create_database("oia_outage_travel")
    exchange, prefix = unique_name("outage.events"), unique_name("outage") + "."
    with TcpProxy(POSTGRES.hostname or "127.0.0.1", POSTGRES.port or 5432) as postgres, \
            TcpProxy(RABBITMQ.hostname or "127.0.0.1", RABBITMQ.port or 5672) as rabbitmq:
        port = free_port()
        process = start(["serve", "travel"], {
            "DATABASE_URL": through(asyncpg_url(database), postgres), "AMQP_URL": through(AMQP_URL, rabbitmq),
            "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix, "OIA_ENV": "test", "PORT": str(port),
            "OIA_SECRET_KEY": "outage-secret-not-a-placeholder", "OIA_LOG_LEVEL": "INFO",
            "OIA_API_KEYS": f"{KEY}:coordinator:OIA", "RELAY_POLL_SECONDS": "0.2",
            "HOME_CITY": "Frankfurt am Main", "HOME_COUNTRY": "DE"})
        try:
            await asyncio.to_thread(process.wait_healthy, f"http://127.0.0.1:{port}/travel/ready", 120)
            yield Travel(process, port, database, exchange, postgres, rabbitmq)
        finally:
            process.stop()
            await delete_amqp_objects(exchange, prefix)
            await drop_database(database)


def book(connection: http.client.HTTPConnection, title: str) -> tuple[http.client.HTTPResponse, dict]:
    body = json.dumps({"title": title, "travellers": [{"name": "Ana Lead", "email": "ana@x.example"}],
                       "legs": [{"city": "Cologne", "country": "DE", "start_date": "2027-06-01",
                                 "end_date": "2027-06-03"}]})
    connection.request("POST", "/travel/trips", body=body, headers={
        "Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    response = connection.getresponse()
    return response, json.loads(response.read() or b"{}")


async def test_booking_while_the_database_is_away_gets_503_and_the_same_connection_books_after(travel):
    connection = travel.connection()
    response, first = await asyncio.to_thread(book, connection, "before the outage")
    assert response.status == 201, first
    socket_before = connection.sock

    travel.postgres.cut()
    response, refused = await asyncio.to_thread(book, connection, "during the outage")

    assert response.status == 503, refused
    assert response.getheader("Retry-After") == str(RETRY_AFTER_SECONDS)
    assert response.getheader("Content-Type") == "application/problem+json"
    assert refused["status"] == 503 and refused["title"] == "Unavailable"
    assert not response.will_close  # the server keeps the connection
    assert "database unreachable; request refused with 503" in travel.process.output()

    travel.postgres.restore()
    response, booked = await asyncio.to_thread(book, connection, "after the outage")

    assert response.status == 201, booked
    assert connection.sock is socket_before  # the same keep-alive connection answered all three
    connection.close()
    engine = create_async_engine(asyncpg_url(travel.database))
    try:
        async with engine.connect() as conn:
            titles = (await conn.execute(text("SELECT title FROM trip ORDER BY title"))).scalars().all()
    finally:
        await engine.dispose()
    assert titles == ["after the outage", "before the outage"]  # the refused booking wrote nothing


async def test_relay_publishes_within_a_second_or_so_of_the_brokers_return_and_ready_says_503_meanwhile(travel):
    heard: asyncio.Queue[tuple[float, dict]] = asyncio.Queue()
    listener = await aio_pika.connect(AMQP_URL)  # straight to the broker, not through the cut proxy
    try:
        channel = await listener.channel()
        exchange = await channel.declare_exchange(travel.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="travel.trip.booked.v1")

        async def hear(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            heard.put_nowait((time.monotonic(), json.loads(message.body)))

        await queue.consume(hear, no_ack=True)
        ready = f"http://127.0.0.1:{travel.port}/travel/ready"

        travel.rabbitmq.cut()
        await eventually(lambda: _status(ready) == 503, timeout=30, message="/ready saying 503")
        assert json.loads(_get(ready)[1])["checks"]["broker"] == "unreachable"
        connection = travel.connection()
        response, booked = await asyncio.to_thread(book, connection, "booked while the broker is away")
        assert response.status == 201, booked  # the outbox holds the event
        connection.close()
        # Long enough for the relay's back-off to have grown past several seconds, had it been blind.
        await asyncio.sleep(8)
        assert heard.empty()

        travel.rabbitmq.restore()
        restored = time.monotonic()
        at, event = await asyncio.wait_for(heard.get(), timeout=30)
        latency = at - restored
        print(f"relay published {latency:.2f} s after the broker's return")
        assert event["data"]["trip_id"] == booked["id"]
        assert latency < 5, f"published {latency:.2f} s after the broker came back"
        await eventually(lambda: _status(ready) == 200, timeout=30, message="/ready back to 200")
    finally:
        await listener.close()


def _get(url: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _status(url: str) -> int:
    return _get(url)[0]


async def test_consumer_waits_out_a_database_outage_longer_than_the_retry_ladder(rabbitmq):
    """beta's database is away (its proxy cut) for longer than every back-off of its retry ladder
    together: nothing is dead-lettered, no retry is counted, and each event is handled once after."""
    probe.behaviour.fail_names.clear()
    probe.behaviour.database_away = False
    with TcpProxy(POSTGRES.hostname or "127.0.0.1", POSTGRES.port or 5432) as proxy:
        alpha = await rabbitmq.runtime(probe.alpha_spec)
        beta = await rabbitmq.runtime(probe.beta_spec, database_url=through(await rabbitmq.database_url("beta"), proxy))
        await probe.create_schema(alpha)
        await probe.create_schema(beta)
        await beta.start_consuming()
        alpha.start_relay()
        names = [f"during-outage-{n}" for n in range(20)]
        retried_before = _consumed(beta.name, "retried")

        proxy.cut()
        await publish_things(alpha, names)
        await eventually(lambda: CONSUMER_PAUSED.labels(beta.name)._value.get() == 1, timeout=30,
                         message="beta's consumption paused")
        ladder = sum(rabbitmq.policy.delays_ms) / 1000
        await asyncio.sleep(3 * ladder + 2)  # the outage: well past the last rung of the ladder
        assert await beta.bus.dead_letter_count(beta.queue) == 0
        proxy.restore()

        await eventually(lambda: _is(effects(beta), len(names)), timeout=60, message="every event handled")
        await eventually(lambda: CONSUMER_PAUSED.labels(beta.name)._value.get() == 0, message="resumed")
        assert await inbox_rows(beta) == len(names)
        async with beta.engine.connect() as conn:
            per_event = (await conn.execute(select(probe.Effect.__table__.c.event_id, func.count())
                                            .group_by(probe.Effect.__table__.c.event_id))).all()
        assert len(per_event) == len(names) and all(count == 1 for _, count in per_event)
        assert await beta.bus.dead_letter_count(beta.queue) == 0
        assert _consumed(beta.name, "retried") == retried_before  # no attempt was counted


async def test_a_long_outage_hands_the_held_messages_back_within_the_hold_bound(rabbitmq):
    """beta's database is away longer than its hold bound (OIA_CONSUMER_HOLD_SECONDS, 2 s here; 5 min by
    default, under RabbitMQ's 30 min consumer timeout): its messages are back in the queue, ready, with no
    consumer on it, while the pause goes on; once the database is back each event is handled exactly once."""
    probe.behaviour.fail_names.clear()
    probe.behaviour.database_away = False
    hold = 2.0
    with TcpProxy(POSTGRES.hostname or "127.0.0.1", POSTGRES.port or 5432) as proxy:
        alpha = await rabbitmq.runtime(probe.alpha_spec)
        # A runtime of its own making its own bus from the settings, as `oia serve` does.
        beta = ServiceRuntime(probe.beta_spec, rabbitmq.settings(
            probe.beta_spec.settings_cls, through(await rabbitmq.database_url("beta"), proxy),
            consumer_hold_seconds=hold))
        try:
            await beta.connect()
            await probe.create_schema(alpha)
            await probe.create_schema(beta)
            await beta.start_consuming()
            alpha.start_relay()
            names = [f"held-{n}" for n in range(20)]
            retried_before = _consumed(beta.name, "retried")

            proxy.cut()
            await publish_things(alpha, names)
            await eventually(lambda: CONSUMER_PAUSED.labels(beta.name)._value.get() == 1, timeout=30,
                             message="beta's consumption paused")
            paused_at = time.monotonic()
            await eventually(lambda: _is(_ready_and_consumers(beta), (len(names), 0)), timeout=60,
                             message="every held message back in the queue, no consumer on it")
            handed_back_after = time.monotonic() - paused_at
            # Within the bound, give or take one pause step and a loaded machine: far from 30 minutes.
            assert handed_back_after < hold + 30, handed_back_after
            assert CONSUMER_PAUSED.labels(beta.name)._value.get() == 1, "still paused: the database is away"
            assert await beta.bus.dead_letter_count(beta.queue) == 0
            proxy.restore()

            await eventually(lambda: _is(effects(beta), len(names)), timeout=60, message="every event handled")
            await eventually(lambda: CONSUMER_PAUSED.labels(beta.name)._value.get() == 0, message="resumed")
            await eventually(lambda: _is(_ready_and_consumers(beta), (0, 1)), timeout=30,
                             message="the queue drained by its consumer, taking deliveries again")
            assert await inbox_rows(beta) == len(names)
            async with beta.engine.connect() as conn:
                per_event = (await conn.execute(select(probe.Effect.__table__.c.event_id, func.count())
                                                .group_by(probe.Effect.__table__.c.event_id))).all()
            assert len(per_event) == len(names) and all(count == 1 for _, count in per_event)
            assert await beta.bus.dead_letter_count(beta.queue) == 0
            assert _consumed(beta.name, "retried") == retried_before  # no attempt was counted
        finally:
            await beta.stop()


async def _ready_and_consumers(runtime: ServiceRuntime) -> tuple[int, int]:
    """What the broker says of the runtime's queue: messages ready, and consumers on it."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        declared = (await channel.declare_queue(runtime.queue, passive=True)).declaration_result
        return declared.message_count or 0, declared.consumer_count or 0
    finally:
        await connection.close()


def _consumed(service: str, outcome: str) -> float:
    return sum(sample.value for metric in EVENTS_CONSUMED.collect() for sample in metric.samples
               if sample.name.endswith("_total") and sample.labels["service"] == service
               and sample.labels["outcome"] == outcome)


async def _is(value, expected) -> bool:
    return (await value) == expected
