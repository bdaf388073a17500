"""The fault suite's three-node RabbitMQ cluster (tests.support.private_infra.RabbitCluster) forms, puts
a quorum queue's replicas on all three nodes, and survives losing the node leading it — stopped, then
killed — with the messages kept and reachable through the cluster's TCP front."""

from __future__ import annotations

import aio_pika
import pytest

from tests.support.private_infra import RabbitCluster

pytestmark = pytest.mark.integration
QUEUE = "alerts"


async def _publish(url: str, body: bytes) -> None:
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        await channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=QUEUE)
    finally:
        await connection.close()


async def _take(url: str) -> bytes:
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        message = await queue.get(timeout=10)
        await message.ack()
        return message.body
    finally:
        await connection.close()


async def test_a_three_node_cluster_keeps_a_quorum_queue_through_the_loss_of_its_leader():
    async with RabbitCluster(3) as cluster:
        with cluster.front() as front:
            url = f"amqp://guest:guest@127.0.0.1:{front.port}/"
            await _publish(url, b"before")
            assert await cluster.members_of(QUEUE) == sorted(cluster.nodes)

            stopped = await cluster.leader_of(QUEUE)
            await cluster.stop_node(stopped)
            assert await cluster.leader_of(QUEUE) != stopped  # one of the two others, once elected
            await _publish(url, b"while one is stopped")

            await cluster.start_node(stopped)
            killed = await cluster.leader_of(QUEUE)
            await cluster.kill_node(killed)  # two of three still up: the queue keeps its quorum
            assert await cluster.leader_of(QUEUE) != killed
            assert [await _take(url), await _take(url)] == [b"before", b"while one is stopped"]
            await cluster.start_node(killed)
