"""In-process transport for the embedded default and unit tests.

Same contract as RabbitMQ (bindings, ack after the processor, bounded retries with back-off, a
dead-letter queue per service) within one process. Messages in flight live in memory: the outbox
keeps what was not yet handed over, but a crash loses what was handed over and not yet handled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from shared.bus.base import Batcher, DeadLetter, Processor, RetryPolicy, Scrub, topic_matches
from shared.envelope import Envelope, PoisonMessage
from shared.logging import get_logger
from shared.metrics import EVENTS_CONSUMED
from shared.tracing import trace_id_of

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
    def __init__(self, name: str, binding_keys: list[str], processor: Processor, policy: RetryPolicy,
                 service: str) -> None:
        self.name = name
        self.service = service
        self.binding_keys = list(binding_keys)
        self.policy = policy
        self.dead: list[_Dead] = []
        self.retries: set[asyncio.Task[None]] = set()
        self.batcher: Batcher[_Delivery] = Batcher(
            name, processor, decode=lambda d: d.envelope, settle_ok=self._ok, settle_failed=self._failed,
            service=service)

    def matches(self, routing_key: str) -> bool:
        return any(topic_matches(key, routing_key) for key in self.binding_keys)

    async def _ok(self, deliveries: list[_Delivery]) -> None:
        return None  # nothing to acknowledge in memory

    async def _failed(self, delivery: _Delivery, exc: Exception) -> None:
        envelope = delivery.envelope
        if isinstance(exc, PoisonMessage) or delivery.attempt >= self.policy.max_attempts:
            log.error("event dead-lettered", queue=self.name, event_id=envelope.id, event_type=envelope.type,
                      attempt=delivery.attempt, exc_info=exc, **_ids(envelope))
            EVENTS_CONSUMED.labels(self.service, envelope.type, "dead_lettered").inc()
            self.dead.append(_Dead(delivery, f"{type(exc).__name__}: {exc}"[:1000], datetime.now(UTC)))
            return
        log.warning("handler failed; will retry", queue=self.name, event_id=envelope.id,
                    event_type=envelope.type, attempt=delivery.attempt, exc_info=exc, **_ids(envelope))
        EVENTS_CONSUMED.labels(self.service, envelope.type, "retried").inc()
        retry = asyncio.create_task(self._requeue(_Delivery(envelope, delivery.attempt + 1),
                                                  self.policy.delay_ms(delivery.attempt) / 1000))
        self.retries.add(retry)
        retry.add_done_callback(self.retries.discard)

    async def _requeue(self, delivery: _Delivery, delay: float) -> None:
        await asyncio.sleep(delay)
        self.batcher.put(delivery)

    async def close(self, grace_seconds: float = 0.0) -> None:
        for retry in list(self.retries):
            retry.cancel()
        await asyncio.gather(*self.retries, return_exceptions=True)
        await self.batcher.drain(grace_seconds)


def _ids(envelope: Envelope) -> dict[str, str | None]:
    """What follows an event through the logs: its correlation id and trace id."""
    return {"correlation_id": envelope.correlation_id or envelope.id, "trace_id": trace_id_of(envelope.traceparent)}


class MemoryBus:
    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
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
                    queue.batcher.put(_Delivery(envelope))

    async def subscribe(self, queue: str, binding_keys: list[str], processor: Processor, *,
                        service: str | None = None) -> None:
        if queue in self._queues:
            raise ValueError(f"queue {queue!r} already has a consumer on this bus")
        self._queues[queue] = _Queue(queue, binding_keys, processor, self.policy, service or queue)

    async def stop_consuming(self, queue: str, grace_seconds: float) -> None:
        if (q := self._queues.pop(queue, None)) is not None:
            await q.close(grace_seconds)  # in memory, what was not handled is gone with the process

    async def queue_depth(self, queue: str) -> int:
        q = self._queues.get(queue)
        return q.batcher.depth if q else 0

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        q = self._queues.get(queue)
        return [
            DeadLetter(d.delivery.envelope.id, d.delivery.envelope.type, d.reason,
                       d.delivery.attempt, d.dead_at, d.delivery.envelope.data)
            for d in (q.dead if q else [])
        ]

    async def dead_letter_count(self, queue: str) -> int:
        q = self._queues.get(queue)
        return len(q.dead) if q else 0

    async def scrub_dead_letters(self, queue: str, scrub: Scrub) -> int:
        q = self._queues.get(queue)
        changed = 0
        for dead in q.dead if q else []:
            envelope = dead.delivery.envelope
            data, reason = scrub(envelope.data), scrub(dead.reason)
            if (data, reason) != (envelope.data, dead.reason):
                dead.delivery.envelope = replace(envelope, data=data, body=None)
                dead.reason = reason
                changed += 1
        return changed

    async def replay_dead_letters(self, queue: str, event_ids: list[str] | None = None) -> int:
        q = self._queues.get(queue)
        if not q:
            return 0
        replay = [d for d in q.dead if event_ids is None or d.delivery.envelope.id in event_ids]
        q.dead = [d for d in q.dead if d not in replay]
        for d in replay:
            q.batcher.put(_Delivery(d.delivery.envelope))
        return len(replay)
