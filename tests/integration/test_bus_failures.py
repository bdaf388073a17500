"""What only a real broker can show: a consumer process dying before its ack, and a broker restart (of a
RabbitMQ node of the test's own: the machine's broker is shared with other work)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.testing import AMQP_URL, eventually
from tests.conftest import Transport
from tests.support import probe
from tests.support.private_infra import PrivateRabbit
from tests.support.probe import alpha_spec, beta_spec, effects, inbox_rows, pending_outbox, publish_things

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fresh_behaviour():
    probe.behaviour.fail_names.clear()
    probe.behaviour.seen.clear()
    probe.behaviour.attempts.clear()


async def _is(value, expected) -> bool:
    return (await value) == expected


async def test_consumer_killed_before_ack_is_redelivered_and_has_one_effect(rabbitmq):
    alpha = await rabbitmq.runtime(alpha_spec)
    beta_url = await rabbitmq.database_url("beta")
    beta = await rabbitmq.runtime(beta_spec, database_url=beta_url)
    await probe.create_schema(alpha)
    await probe.create_schema(beta)
    await beta.bus.declare(beta.queue, beta.spec.subscriptions.binding_keys)  # the queue exists; nobody consumes

    [sent] = await publish_things(alpha, ["crash-me"])
    await alpha.relay.drain()

    crashing = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.crash_consumer", beta_url, AMQP_URL, rabbitmq.exchange,
        rabbitmq.queue_prefix, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(crashing.communicate(), timeout=60)
    assert crashing.returncode == 17, f"the consumer should die at the ack: {out!r} {err[-2000:]!r}"
    assert await effects(beta, "crash-me") == 1  # it committed before dying

    outcomes: list[bool] = []

    async def consume(envelopes):
        outcomes.extend(await beta.dispatcher(envelopes))

    await beta.bus.subscribe(beta.queue, beta.spec.subscriptions.binding_keys, consume)
    await eventually(lambda: len(outcomes) == 1, message="the redelivery")
    assert outcomes == [False], "the redelivered event must be recognised as a duplicate"
    assert await effects(beta, "crash-me") == 1
    assert await inbox_rows(beta) == 1
    await eventually(lambda: _is(beta.bus.queue_depth(beta.queue), 0), message="the queue to empty")
    assert sent.id


@pytest.fixture
async def own_rabbitmq(tmp_path):
    """The real transport on a RabbitMQ node of its own, and that node (to stop and start)."""
    async with PrivateRabbit() as node:
        t = Transport("rabbitmq", tmp_path, amqp_url=node.amqp_url)
        try:
            yield t, node
        finally:
            await t.close()


async def test_events_pending_while_rabbitmq_restarts_all_arrive(own_rabbitmq):
    rabbitmq, node = own_rabbitmq
    alpha, beta = await rabbitmq.runtime(alpha_spec), await rabbitmq.runtime(beta_spec)
    await probe.create_schema(alpha)
    await probe.create_schema(beta)
    await beta.start_consuming()
    looks: list[str] = []  # each relay look, in the order they began: running, published, refused
    relay_look = alpha.relay.publish_pending

    async def look() -> int:
        looks.append("running")
        n = len(looks) - 1
        try:
            published = await relay_look()
        except Exception:
            looks[n] = "refused"
            raise
        looks[n] = "published"
        return published

    alpha.relay.publish_pending = look
    alpha.start_relay()
    await publish_things(alpha, [f"before-{i}" for i in range(20)])
    await eventually(lambda: _is(effects(beta), 20), message="the first events")

    await node.ctl("stop_app")
    try:
        await publish_things(alpha, [f"during-{i}" for i in range(50)])  # committed; the relay cannot publish
        committed = len(looks)
        # A look begun after the commit saw the 50 and was refused by the broker: they stay pending.
        await eventually(lambda: "refused" in looks[committed:], timeout=30, message="the relay refused")
        assert await pending_outbox(alpha) == 50
    finally:
        await node.ctl("start_app")
        await node.ctl("await_startup")

    await eventually(lambda: _is(effects(beta), 70), timeout=60, message="every event after the restart")
    assert await pending_outbox(alpha) == 0
    assert await inbox_rows(beta) == 70


async def test_oia_dlq_lists_and_replays_a_services_dead_letters(rabbitmq, monkeypatch):
    """The operator's view: a poison event in notifications' queue, seen and re-driven from the CLI."""
    from typer.testing import CliRunner

    from oia.catalog import spec_of
    from oia.cli import app
    from shared.envelope import Envelope
    from shared.migrations import upgrade

    spec = spec_of("notifications")
    notifications = await rabbitmq.runtime(spec)
    await upgrade("notifications", spec.migrations_dir, spec.metadata, notifications.settings.database_url)
    await notifications.start_consuming()
    from prometheus_client import REGISTRY

    def dead_lettered() -> float:
        return REGISTRY.get_sample_value("oia_events_consumed_total", {
            "service": "notifications", "type": "travel.trip.booked.v1", "outcome": "dead_lettered"}) or 0.0

    before = dead_lettered()
    poison = Envelope(type="travel.trip.booked.v1", source="/travel", data={"trip_id": "t-1"})  # fields missing
    await notifications.bus.publish([poison])

    async def dead() -> bool:
        return len(await notifications.bus.dead_letters(notifications.queue)) == 1

    await eventually(dead, message="the dead letter")
    for name, value in {"AMQP_URL": AMQP_URL, "OIA_EXCHANGE": rabbitmq.exchange,
                        "OIA_QUEUE_PREFIX": rabbitmq.queue_prefix}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    listed = await asyncio.to_thread(runner.invoke, app, ["dlq", "list", "notifications"])
    assert listed.exit_code == 0, listed.output
    assert poison.id in listed.output and "payload invalid" in listed.output
    assert "1 dead letter(s)" in listed.output

    replayed = await asyncio.to_thread(runner.invoke, app, ["dlq", "replay", "notifications", "--event-id", poison.id])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1 message(s)" in replayed.output
    # Still poison, so it comes back: the replay really re-drove it through the consumer.
    await eventually(lambda: dead_lettered() == before + 2, message="the event dead-lettered a second time")
    assert await dead()
