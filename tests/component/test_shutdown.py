"""Stopping must end the relay and the consumers even when the driver disguises the cancellation."""

from __future__ import annotations

import asyncio

from shared.bus.base import Batcher
from shared.envelope import Envelope
from shared.runtime import ServiceRuntime
from tests.support import probe


class StuckBus:
    """A broker that never confirms, and whose client turns a cancellation into an ordinary error."""

    def __init__(self) -> None:
        self.publishing = asyncio.Event()

    async def publish(self, envelopes) -> None:
        self.publishing.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("connection lost") from None

    async def is_ready(self) -> bool:
        return True


async def test_the_relay_stops_while_a_publish_hangs(tmp_path):
    bus = StuckBus()
    runtime = ServiceRuntime(probe.alpha_spec, probe.probe_settings(f"sqlite+aiosqlite:///{tmp_path}/a.db"), bus=bus)
    await probe.create_schema(runtime)
    await probe.publish_things(runtime, ["x"])
    runtime.start_relay()
    await asyncio.wait_for(bus.publishing.wait(), 5)

    await asyncio.wait_for(runtime.relay.stop(grace_seconds=0.2), 5)

    assert await probe.pending_outbox(runtime) == 1  # rolled back: it will be published after a restart
    await runtime.stop()


async def test_a_consumer_closes_while_its_handler_hangs():
    started = asyncio.Event()
    settled_failed: list = []

    async def handler(envelopes) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("connection lost") from None

    async def failed(message, exc) -> None:
        settled_failed.append(exc)

    async def ok(messages) -> None:
        return None

    batcher = Batcher("q", handler, decode=lambda m: m, settle_ok=ok, settle_failed=failed)
    batcher.put(Envelope(type=probe.EVENT, source="/alpha", data={}))
    await asyncio.wait_for(started.wait(), 5)

    await asyncio.wait_for(batcher.close(), 5)
    assert settled_failed == []  # shutting down is not a failed attempt


async def test_draining_a_consumer_finishes_the_batch_in_hand_and_starts_no_other():
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[list[str]] = []
    settled: list[list[str]] = []
    failed: list = []

    async def handler(envelopes) -> None:
        started.set()
        await release.wait()
        handled.append([e.data["n"] for e in envelopes])

    async def ok(messages) -> None:
        settled.append([m.data["n"] for m in messages])

    async def failure(message, exc) -> None:
        failed.append(exc)

    batcher = Batcher("q", handler, decode=lambda m: m, settle_ok=ok, settle_failed=failure)
    batcher.put(Envelope(type=probe.EVENT, source="/alpha", data={"n": "first"}))
    await asyncio.wait_for(started.wait(), 5)
    for n in ("second", "third"):  # arrived while the first is in hand
        batcher.put(Envelope(type=probe.EVENT, source="/alpha", data={"n": n}))

    draining = asyncio.create_task(batcher.drain(grace_seconds=5))
    await asyncio.sleep(0)
    assert not draining.done()  # waits for the batch in hand
    release.set()
    await asyncio.wait_for(draining, 5)

    assert handled == [["first"]] and settled == [["first"]] and failed == []
    assert batcher.waiting.qsize() == 2  # left unsettled: the transport gives them back to the queue


async def test_draining_an_idle_consumer_does_not_wait_for_its_grace():
    async def handler(envelopes) -> None:
        raise AssertionError("nothing to handle")

    async def ok(messages) -> None:
        return None

    async def failure(message, exc) -> None:
        return None

    batcher = Batcher("q", handler, decode=lambda m: m, settle_ok=ok, settle_failed=failure)
    await asyncio.sleep(0)  # its worker waits for a message
    await asyncio.wait_for(batcher.drain(grace_seconds=3600), 1)
