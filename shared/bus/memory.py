"""In-process transport for the embedded default and unit tests.

Same contract as RabbitMQ (bindings, ack after the processor, bounded retries with back-off, a
dead-letter queue per service) within one process. Messages in flight live in memory: the outbox
keeps what was not yet handed over, but a crash loses what was handed over and not yet handled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone

from shared.bus.base import DeadLetter, Processor, RetryPolicy, topic_matches
from shared.envelope import Envelope, PoisonMessage
from shared.logging import get_logger
from shared.metrics import EVENTS_CONSUMED

log = get_logger("shared.bus.memory")


@dataclass
class _Delivery:
    envelope: Envelope
    attempt: int = 1


@dataclass
class _Dead:
    delivery: _Delivery
    reason: str
    dead_at: datetime


class _Queue:
    def __init__(self, name: str, binding_keys: list[str], processor: Processor,
                 policy: RetryPolicy, concurrency: int):
        self.name = name
        self.policy = policy
        self.binding_keys = list(binding_keys)
        self.processor = processor
        self.pending: asyncio.Queue[_Delivery] = asyncio.Queue()
        self.dead: list[_Dead] = []
        self.in_flight = 0
        self.workers = [asyncio.create_task(self._work(), name=f"bus:{name}:{i}") for i in range(concurrency)]
        self.retries: set[asyncio.Task] = set()

    def matches(self, routing_key: str) -> bool:
        return any(topic_matches(key, routing_key) for key in self.binding_keys)

    async def _work(self) -> None:
        while True:
            delivery = await self.pending.get()
            self.in_flight += 1
            try:
                await self._deliver(delivery)
            finally:
                self.in_flight -= 1
                self.pending.task_done()

    async def _deliver(self, delivery: _Delivery) -> None:
        envelope = delivery.envelope
        try:
            await self.processor(envelope)
        except PoisonMessage as exc:
            self._kill(delivery, str(exc))
        except Exception as exc:
            if delivery.attempt >= self.policy.max_attempts:
                log.error("handler failed; dead-lettered", queue=self.name, event_id=envelope.id,
                          event_type=envelope.type, attempt=delivery.attempt, exc_info=exc)
                self._kill(delivery, f"{type(exc).__name__}: {exc}")
            else:
                log.warning("handler failed; will retry", queue=self.name, event_id=envelope.id,
                            event_type=envelope.type, attempt=delivery.attempt, exc_info=exc)
                EVENTS_CONSUMED.labels(self.name, envelope.type, "retried").inc()
                delay = self.policy.delay_ms(delivery.attempt) / 1000
                retry = asyncio.create_task(self._requeue(_Delivery(envelope, delivery.attempt + 1), delay))
                self.retries.add(retry)
                retry.add_done_callback(self.retries.discard)

    async def _requeue(self, delivery: _Delivery, delay: float) -> None:
        await asyncio.sleep(delay)
        self.pending.put_nowait(delivery)

    def _kill(self, delivery: _Delivery, reason: str) -> None:
        EVENTS_CONSUMED.labels(self.name, delivery.envelope.type, "dead_lettered").inc()
        self.dead.append(_Dead(delivery, reason, datetime.now(timezone.utc)))

    async def close(self) -> None:
        tasks = [*self.retries, *self.workers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class MemoryBus:
    def __init__(self, policy: RetryPolicy | None = None, concurrency: int = 8) -> None:
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self._queues: dict[str, _Queue] = {}
        self._connected = False

    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        self._connected = False
        queues, self._queues = list(self._queues.values()), {}
        for queue in queues:
            await queue.close()

    async def is_ready(self) -> bool:
        return self._connected

    async def publish(self, envelopes: list[Envelope]) -> None:
        if not self._connected:
            raise ConnectionError("memory bus is not connected")
        for envelope in envelopes:
            for queue in self._queues.values():
                if queue.matches(envelope.type):
                    queue.pending.put_nowait(_Delivery(envelope))

    async def subscribe(self, queue: str, binding_keys: list[str], processor: Processor) -> None:
        if queue in self._queues:
            raise ValueError(f"queue {queue!r} already has a consumer on this bus")
        self._queues[queue] = _Queue(queue, binding_keys, processor, self.policy, self.concurrency)

    async def queue_depth(self, queue: str) -> int:
        q = self._queues.get(queue)
        return q.pending.qsize() + q.in_flight if q else 0

    async def idle(self) -> None:
        """Wait until every queue is drained (retries scheduled later are not waited for)."""
        for q in list(self._queues.values()):
            await q.pending.join()

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        q = self._queues.get(queue)
        return [
            DeadLetter(d.delivery.envelope.id, d.delivery.envelope.type, d.reason,
                       d.delivery.attempt, d.dead_at, d.delivery.envelope.data)
            for d in (q.dead if q else [])
        ]

    async def replay_dead_letters(self, queue: str, event_ids: list[str] | None = None) -> int:
        q = self._queues.get(queue)
        if not q:
            return 0
        replay = [d for d in q.dead if event_ids is None or d.delivery.envelope.id in event_ids]
        q.dead = [d for d in q.dead if d not in replay]
        for d in replay:
            q.pending.put_nowait(_Delivery(d.delivery.envelope))
        return len(replay)
