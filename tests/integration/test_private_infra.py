"""The fault suite's private servers (tests.support.private_infra) do what the scenarios rely on: a
PostgreSQL of its own keeps its data across a stop and a crash, a RabbitMQ node of its own takes and
gives a persistent message, also across a restart, and the multi-backend TCP front connects each new
client to the first backend up. The three-node cluster is checked in tests/faults (it takes longer)."""

from __future__ import annotations

import asyncio

import aio_pika
import asyncpg
import pytest

from tests.support.private_infra import PrivatePostgres, PrivateRabbit
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.integration


async def test_a_private_postgres_keeps_its_data_across_a_stop_and_a_crash():
    async with PrivatePostgres() as pg:
        url = (await pg.create_database("oia_private")).replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
        await conn.close()

        await pg.restart()
        conn = await asyncpg.connect(url)
        await conn.execute("INSERT INTO kept VALUES (2)")
        await conn.close()

        await pg.stop(mode="immediate")  # no shutdown checkpoint: recovery replays the WAL
        with pytest.raises(OSError):
            await asyncpg.connect(url, timeout=5)
        await pg.start()
        conn = await asyncpg.connect(url)
        assert [r["n"] for r in await conn.fetch("SELECT n FROM kept ORDER BY n")] == [1, 2]
        await conn.close()
    assert not pg.base.exists()


async def test_a_private_rabbitmq_node_takes_a_message_and_keeps_it_across_a_restart():
    async with PrivateRabbit() as rabbit:
        assert rabbit.port != 5672
        connection = await aio_pika.connect(rabbit.amqp_url)
        channel = await connection.channel()
        queue = await channel.declare_queue("kept", durable=True, arguments={"x-queue-type": "quorum"})
        await channel.default_exchange.publish(
            aio_pika.Message(b"hello", delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key="kept")
        await connection.close()

        await rabbit.restart()
        connection = await aio_pika.connect(rabbit.amqp_url)
        channel = await connection.channel()
        queue = await channel.declare_queue("kept", durable=True, arguments={"x-queue-type": "quorum"})
        message = await queue.get(timeout=10)
        assert message.body == b"hello"
        await message.ack()
        await connection.close()
    assert not rabbit.running and not rabbit.base.exists()


async def test_the_front_connects_each_new_client_to_the_first_backend_that_accepts():
    async def answer(name: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name)
        await writer.drain()
        writer.close()

    first = await asyncio.start_server(lambda r, w: answer(b"first", r, w), "127.0.0.1", 0)
    second = await asyncio.start_server(lambda r, w: answer(b"second", r, w), "127.0.0.1", 0)
    ports = [s.sockets[0].getsockname()[1] for s in (first, second)]

    async def ask(front: TcpProxy) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", front.port)
        try:
            return await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()

    async with second:
        with TcpProxy("127.0.0.1", ports[0], ("127.0.0.1", ports[1])) as front:
            assert await ask(front) == b"first"
            first.close()
            await first.wait_closed()
            assert await ask(front) == b"second"  # the first is down: the next one
            assert front.connected_to == [("127.0.0.1", ports[0]), ("127.0.0.1", ports[1])]
