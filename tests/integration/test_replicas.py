"""What replicas promise, on PostgreSQL and RabbitMQ: two delivery workers on one database claim the
same due deliveries and each is sent once; two consumers handed the same event at the same moment
make one effect; a row another process commits is published by the relay's poll, without a wake-up."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from services.notifications.main import delivery_worker
from services.notifications.models import Delivery, DeliveryAttempt
from shared.bus.amqp import AmqpBus
from shared.envelope import Envelope
from shared.testing import AMQP_URL, eventually
from tests.integration.test_notifications_delivery import (
    ADMIN,
    SIGNING_SECRET,
    count,
    overlap_event,
    start_notifications,
)
from tests.support import probe
from tests.support.probe import alpha_spec, beta_spec, effects, inbox_rows
from tests.support.standins import SmtpStandIn, WebhookStandIn

pytestmark = pytest.mark.integration

DUE = 50


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_two_delivery_workers_claiming_the_same_due_deliveries_send_each_once(rabbitmq):
    async with WebhookStandIn() as hooks:
        with SmtpStandIn() as smtp:
            # Small claims, so the two workers take turns at the same rows many times over.
            runtime, client = await start_notifications(rabbitmq, smtp, delivery_batch=5)
            async with client:
                # The service's own worker is stopped: the deliveries wait, due, for the two below.
                await runtime.workers[0].stop()
                response = await client.post("/notifications/recipients", headers=ADMIN, json={
                    "id": "OIA", "kind": "coordinators", "name": "OIA coordinators",
                    "channels": [{"kind": "webhook", "address": hooks.url("hook/oia"),
                                  "signing_secret": SIGNING_SECRET}]})
                assert response.status_code == 201, response.text
                producer = await rabbitmq.bus()
                await producer.publish([overlap_event(f"o-{n}") for n in range(DUE)])
                await eventually(lambda: _is(count(runtime, select(func.count()).select_from(Delivery).where(
                    Delivery.status == "pending")), DUE), timeout=30, message="50 due deliveries")

                workers = [delivery_worker(runtime), delivery_worker(runtime)]
                handled = [0, 0]
                try:
                    while sum(handled) < DUE:
                        rounds = await asyncio.gather(*(w.run_once() for w in workers))
                        assert sum(rounds) > 0, "due deliveries left, but neither worker claimed any"
                        handled = [h + r for h, r in zip(handled, rounds, strict=True)]
                finally:
                    for worker in workers:
                        await worker.stop()

                assert sum(handled) == DUE and all(handled), handled  # both took part, none twice
                received = Counter(hit.headers["idempotency-key"] for hit in hooks.accepted("hook/oia"))
                assert len(received) == DUE and set(received.values()) == {1}
                assert await count(runtime, select(func.count()).select_from(DeliveryAttempt)) == DUE
                assert await count(runtime, select(func.count()).select_from(Delivery).where(
                    Delivery.status == "sent")) == DUE


async def test_two_consumer_replicas_handed_the_same_event_at_once_make_one_effect(rabbitmq):
    url = await rabbitmq.database_url("beta")
    # Two replicas of beta: one database, one queue, each its own connection (as two processes),
    # taking one message at a time, so the broker must hand the second copy to the other one.
    replicas = []
    for _ in range(2):
        bus = AmqpBus(AMQP_URL, rabbitmq.exchange, rabbitmq.policy, prefetch=1)
        await bus.connect()
        rabbitmq._buses.append(bus)  # closed with the others
        replicas.append(await rabbitmq.runtime(beta_spec, database_url=url, bus=bus))
    await probe.create_schema(replicas[0])
    # Both start their handler before either commits: each holds its copy until both have one.
    both = asyncio.Barrier(2)
    handled: list[int] = []

    def replica_processor(i: int, runtime):
        async def process(envelopes):
            handled.append(i)
            if len(handled) <= 2:  # a retry, if any, need not wait for anyone
                await asyncio.wait_for(both.wait(), 15)
            return await runtime.dispatcher(envelopes)
        return process

    for i, runtime in enumerate(replicas):
        await runtime.bus.subscribe(runtime.queue, beta_spec.subscriptions.binding_keys, replica_processor(i, runtime),
                                    service="beta")
    producer = await rabbitmq.bus()
    event = Envelope(type=probe.EVENT, source="/alpha", data=probe.thing("twice").model_dump(mode="json"))
    # The same event twice (a relay that published, then crashed before recording it): the broker
    # hands one copy to each replica (round robin).
    await producer.publish([event, event])
    await eventually(lambda: {0, 1} <= set(handled), timeout=20, message="each replica has a copy")
    await eventually(lambda: _is(inbox_rows(replicas[0]), 1), timeout=20, message="the event recorded")
    await eventually(lambda: _is(replicas[0].bus.queue_depth(replicas[0].queue), 0), timeout=20,
                     message="both copies settled")
    assert await effects(replicas[0], "twice") == 1
    assert await replicas[0].bus.dead_letter_count(replicas[0].queue) == 0  # the loser was a duplicate, not a failure


async def test_the_relays_poll_publishes_a_row_another_process_committed(rabbitmq):
    url = await rabbitmq.database_url("alpha")
    # Two replicas of alpha on one database; only the first relays (its poll is its only cue).
    relaying = await rabbitmq.runtime(alpha_spec, database_url=url, relay_poll_seconds=0.3)
    writer = await rabbitmq.runtime(alpha_spec, database_url=url)
    await probe.create_schema(relaying)
    heard = await rabbitmq.listen(probe.EVENT)
    relaying.start_relay()
    # Its first look found nothing: every lane sleeps until its poll.
    await eventually(lambda: len(relaying.relay._idle) == relaying.relay.lanes, timeout=10, message="the relay idle")

    # Committed by the other process: its wake-up goes to its own (stopped) relay, not this one.
    [sent] = await probe.publish_things(writer, ["from-elsewhere"])
    await eventually(lambda: [e.id for e in heard] == [sent.id], timeout=15, message="published by the poll")
    assert await probe.pending_outbox(relaying) == 0
