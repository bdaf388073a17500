"""RabbitMQ transport (aio-pika).

Topology, per consuming service `svc`:
- `svc`: durable quorum queue bound to the topic exchange with exactly the service's keys;
  its delivery limit dead-letters a message that keeps killing consumers before they ack;
- `svc.retry.N`: durable quorum queues whose TTL is the N-th back-off; expired messages
  dead-letter back into `svc` (through the default exchange);
- `svc.dlq`: durable quorum queue of messages that failed every attempt or were poison.
Dead-lettering between quorum queues is at-least-once, so a broker crash cannot drop a retry.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
    HeadersType,
)
from aiormq.exceptions import ChannelNotFoundEntity, DeliveryError
from pamqp.common import FieldTable, FieldValue

from shared.bus.base import HOLD_SECONDS, Batcher, DeadLetter, Processor, RetryPolicy, Scrub
from shared.envelope import Envelope, PoisonMessage
from shared.logging import get_logger
from shared.metrics import EVENTS_CONSUMED
from shared.tracing import trace_id_of

log = get_logger("shared.bus.amqp")

ATTEMPT = "x-oia-attempt"
LAST_ERROR = "x-oia-last-error"
DEAD_REASON = "x-oia-dead-reason"
DEAD_AT = "x-oia-dead-at"
# Consumers that die before acking this many times in a row: the broker dead-letters the message.
DELIVERY_LIMIT = 20
PUBLISH_TIMEOUT = 10.0
# How long looking at the dead letters waits for the broker to have put them back (they stay there anyway).
RETURN_WAIT_SECONDS = 5.0


def _quorum(**extra: FieldValue) -> FieldTable:
    return {"x-queue-type": "quorum", **extra}


def _dead_letter_to(queue: str) -> FieldTable:
    return {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


class AmqpBus:
    def __init__(self, url: str, exchange: str, policy: RetryPolicy | None = None, prefetch: int = 256,
                 hold_seconds: float = HOLD_SECONDS):
        self.url = url
        self.exchange_name = exchange
        self.policy = policy or RetryPolicy()
        self.prefetch = prefetch
        # A consumer paused by a database outage gives its messages back after this long (shared/bus/base.py).
        self.hold_seconds = hold_seconds
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._renewing = asyncio.Lock()
        self._batchers: list[Batcher[AbstractIncomingMessage]] = []
        # Each consumed queue's consumer: what stop_consuming cancels.
        self._consumers: dict[str, tuple[AbstractQueue, str, Batcher[AbstractIncomingMessage]]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        # Reconnect quickly after a broker restart; the robust connection re-declares our
        # queues, bindings and consumers by itself.
        self._connection = await aio_pika.connect_robust(self.url, reconnect_interval=1)
        await self._open_publish_channel()

    async def _open_publish_channel(self) -> None:
        assert self._connection is not None, "connect() first"
        self._publish_channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._publish_channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def _renew_publish_channel(self, failed: AbstractChannel) -> None:
        """A fresh publishing channel in place of `failed`, which was refused (nacked) or left a confirm
        unanswered. On a RabbitMQ cluster a channel whose first publish to a quorum queue came while that
        queue had no leader (its node just lost, the election under way) was measured to nack every
        later publish to it, for good (3.10): the relay would retry into it forever. A new channel
        registers with the elected leader. Several publishes failing at once renew it once."""
        async with self._renewing:
            if self._publish_channel is not failed or self._connection is None or self._connection.is_closed:
                return  # renewed already, or closing: the robust connection restores what it has
            log.warning("publishing channel refused or unanswered; opening a new one", exchange=self.exchange_name)
            try:
                await failed.close()
            except Exception:  # it is being replaced for being broken: whatever its close says
                log.info("closing the refused publishing channel failed", exc_info=True)
            await self._open_publish_channel()

    async def close(self) -> None:
        for batcher in self._batchers:
            await batcher.close()
        self._batchers.clear()
        self._consumers.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def is_ready(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._publish_channel is not None
            and not self._publish_channel.is_closed
        )

    # -- publishing --------------------------------------------------------------------------

    async def publish(self, envelopes: list[Envelope]) -> None:
        """Publish persistently; all confirms are awaited together, so a batch costs one round trip.

        Not `mandatory`: an event no queue is bound for (no service subscribes to it) is dropped by
        the broker instead of being sent back whole, only to be ignored here. A subscriber's queue
        and bindings outlive its process, so what a service subscribes to is kept while it is down."""
        exchange, channel = self._require_exchange(), self._require_channel()
        try:
            await asyncio.gather(
                *(
                    exchange.publish(_to_message(e), routing_key=e.type, mandatory=False, timeout=PUBLISH_TIMEOUT)
                    for e in envelopes
                )
            )
        except (DeliveryError, TimeoutError):
            await self._renew_publish_channel(channel)
            raise  # the caller publishes again (the outbox keeps the rows pending; inboxes drop copies)

    # -- consuming ---------------------------------------------------------------------------

    async def declare(self, queue: str, binding_keys: list[str]) -> None:
        """Create the service's queues and bindings without consuming (events wait in the queue)."""
        await self._declare(self._require_channel(), queue, binding_keys)

    async def subscribe(self, queue: str, binding_keys: list[str], processor: Processor, *,
                        service: str | None = None) -> None:
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self.prefetch)
        main = await self._declare(channel, queue, binding_keys)

        async def failed(message: AbstractIncomingMessage, exc: Exception) -> None:
            await self._settle_failed(queue, service or queue, message, exc)

        async def on_message(message: AbstractIncomingMessage) -> None:
            if batcher.handed_back:  # delivered before the cancel took effect: back with the others
                await message.nack(requeue=True)
                return
            batcher.put(message)  # acked by the batcher once its transaction committed

        async def pause_delivery() -> None:
            # Popped, not looked up: stop_consuming then has no consumer left to cancel.
            if (consumer := self._consumers.pop(queue, None)) is not None:
                await consumer[0].cancel(consumer[1], timeout=5.0)

        async def resume_delivery() -> None:
            self._consumers[queue] = (main, await main.consume(on_message, no_ack=False), batcher)

        batcher: Batcher[AbstractIncomingMessage] = Batcher(
            queue, processor, decode=_decode, settle_ok=_ack_all, settle_failed=failed,
            service=service or queue, pause_delivery=pause_delivery, give_back=_requeue_all,
            resume_delivery=resume_delivery, hold_seconds=self.hold_seconds)
        self._batchers.append(batcher)
        await resume_delivery()

    async def stop_consuming(self, queue: str, grace_seconds: float) -> None:
        """Cancel the consumer (the broker sends no more; the robust connection will not restore
        it), then let the batch in hand be handled and acked. The prefetched messages not yet handled
        go back to the queue, unacked, when the channel closes: another replica or the next start
        takes them."""
        batcher = next((b for b in self._batchers if b.name == queue), None)
        if batcher is None:
            return
        batcher.stop_taking()  # at once: the cancel's round trip is time enough to start another batch
        # None while a paused consumer has handed its messages back: nothing is delivered to cancel.
        if (consumer := self._consumers.pop(queue, None)) is not None:
            main, tag, _ = consumer
            try:
                await main.cancel(tag, timeout=min(grace_seconds, 5.0))
            except Exception:  # the broker is gone: so is the consumer, and the unacked messages are back
                log.warning("could not cancel the consumer; the broker has let it go", queue=queue, exc_info=True)
        await batcher.drain(grace_seconds)
        self._batchers.remove(batcher)

    async def _declare(self, channel: AbstractChannel, queue: str, binding_keys: list[str]) -> AbstractQueue:
        exchange = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        await channel.declare_queue(f"{queue}.dlq", durable=True, arguments=_quorum())
        for level, delay in enumerate(self.policy.delays_ms, start=1):
            await channel.declare_queue(
                f"{queue}.retry.{level}",
                durable=True,
                arguments=_quorum(**{"x-message-ttl": delay}, **_dead_letter_to(queue)),
            )
        main = await channel.declare_queue(
            queue,
            durable=True,
            arguments=_quorum(**{"x-delivery-limit": DELIVERY_LIMIT}, **_dead_letter_to(f"{queue}.dlq")),
        )
        for key in binding_keys:
            await main.bind(exchange, routing_key=key)
        return main

    async def _settle_failed(self, queue: str, service: str, message: AbstractIncomingMessage,
                             exc: Exception) -> None:
        headers = message.headers or {}
        attempt = _count(headers.get(ATTEMPT, 1))
        event_type = message.type or "unknown"
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        if isinstance(exc, PoisonMessage) or attempt >= self.policy.max_attempts:
            log.error("event dead-lettered", queue=queue, message_id=message.message_id,
                      event_type=event_type, attempt=attempt, exc_info=exc, **_ids(message))
            await self._forward(message, f"{queue}.dlq", {DEAD_REASON: reason, ATTEMPT: attempt},
                                service, event_type, "dead_lettered")
        else:
            log.warning("handler failed; will retry", queue=queue, message_id=message.message_id,
                        event_type=event_type, attempt=attempt, exc_info=exc, **_ids(message))
            level = min(attempt, len(self.policy.delays_ms))
            await self._forward(message, f"{queue}.retry.{level}", {ATTEMPT: attempt + 1, LAST_ERROR: reason},
                                service, event_type, "retried")

    async def _forward(self, message: AbstractIncomingMessage, target: str, extra_headers: HeadersType,
                       service: str, event_type: str, outcome: str) -> None:
        """Copy the message to a retry or dead-letter queue, confirmed, and only then ack the original."""
        headers = {**(message.headers or {}), **extra_headers}
        if DEAD_REASON in extra_headers:
            headers[DEAD_AT] = datetime.now(UTC).isoformat()
        copy = aio_pika.Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            correlation_id=message.correlation_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        channel = self._require_channel()
        try:
            await channel.default_exchange.publish(copy, routing_key=target, timeout=PUBLISH_TIMEOUT)
        except Exception as exc:
            # Not acked: the broker redelivers it (the quorum delivery limit bounds a loop).
            log.exception("could not forward message; requeueing", target=target, message_id=message.message_id)
            if isinstance(exc, (DeliveryError, TimeoutError)):
                await self._renew_publish_channel(channel)
            await message.nack(requeue=True)
            return
        EVENTS_CONSUMED.labels(service, event_type, outcome).inc()
        await message.ack()

    # -- inspection --------------------------------------------------------------------------

    async def queue_depth(self, queue: str) -> int:
        return await self._ready_messages(queue)

    async def dead_letter_count(self, queue: str) -> int:
        return await self._ready_messages(f"{queue}.dlq")

    async def _ready_messages(self, queue: str) -> int:
        """What the broker holds ready in a queue (0 when there is no such queue), read without consuming."""
        assert self._connection is not None
        channel = await self._connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
            return declared.declaration_result.message_count or 0
        except ChannelNotFoundEntity:
            return 0
        finally:
            if not channel.is_closed:
                await channel.close()

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        """Look at the dead-letter queue without removing anything (messages are requeued)."""
        assert self._connection is not None
        channel = await self._connection.channel()
        try:
            dlq = await channel.declare_queue(f"{queue}.dlq", durable=True, arguments=_quorum())
            seen: list[DeadLetter] = []
            while (message := await dlq.get(no_ack=False, fail=False)) is not None:
                seen.append(_dead_letter(message))
        finally:
            await channel.close()  # closing returns every held message to the queue, in order
        # The broker puts them back after the close has been answered (a quorum queue through its log):
        # wait until they are ready again, so that a replay right after this sees them.
        deadline = asyncio.get_running_loop().time() + RETURN_WAIT_SECONDS
        while await self._ready_messages(f"{queue}.dlq") < len(seen) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return seen

    async def replay_dead_letters(self, queue: str, event_ids: list[str] | None = None) -> int:
        """Move dead letters back to the service's queue with a fresh attempt count."""
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=True)
        replayed = 0
        try:
            dlq = await channel.declare_queue(f"{queue}.dlq", durable=True, arguments=_quorum())
            # Only the letters there now: one replayed that fails again comes back behind them, and
            # must wait for the next replay rather than be re-driven round and round by this one.
            for _ in range(dlq.declaration_result.message_count or 0):
                if (message := await dlq.get(no_ack=False, fail=False)) is None:
                    break
                if event_ids is not None and message.message_id not in event_ids:
                    continue  # left unacked: back in the queue when the channel closes
                headers = {k: v for k, v in (message.headers or {}).items()
                           if k not in (ATTEMPT, LAST_ERROR, DEAD_REASON, DEAD_AT)}
                await channel.default_exchange.publish(
                    aio_pika.Message(body=message.body, headers=headers, content_type=message.content_type,
                                     message_id=message.message_id, type=message.type,
                                     correlation_id=message.correlation_id,
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue, timeout=PUBLISH_TIMEOUT,
                )
                await message.ack()
                replayed += 1
        finally:
            await channel.close()
        return replayed

    async def scrub_dead_letters(self, queue: str, scrub: Scrub) -> int:
        """Each dead letter's body (its CloudEvent as JSON, or its text) and headers through `scrub`;
        a changed one is published back into the dead-letter queue changed, and the original acked."""
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=True)
        changed = 0
        try:
            try:
                dlq = await channel.declare_queue(f"{queue}.dlq", passive=True)
            except ChannelNotFoundEntity:
                return 0  # a service that consumes nothing has no dead letters
            for _ in range(dlq.declaration_result.message_count or 0):
                if (message := await dlq.get(no_ack=False, fail=False)) is None:
                    break
                body, headers = _scrubbed_body(message.body, scrub), scrub(dict(message.headers or {}))
                if body == message.body and headers == dict(message.headers or {}):
                    continue  # left unacked: back in the queue, as it was, when the channel closes
                await channel.default_exchange.publish(
                    aio_pika.Message(body=body, headers=headers, content_type=message.content_type,
                                     message_id=message.message_id, type=message.type,
                                     correlation_id=message.correlation_id,
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=f"{queue}.dlq", timeout=PUBLISH_TIMEOUT)
                await message.ack()
                changed += 1
        finally:
            if not channel.is_closed:
                await channel.close()
        return changed

    def _require_exchange(self) -> AbstractExchange:
        if self._exchange is None:
            raise ConnectionError("AMQP bus is not connected")
        return self._exchange

    def _require_channel(self) -> AbstractChannel:
        if self._publish_channel is None:
            raise ConnectionError("AMQP bus is not connected")
        return self._publish_channel


async def _requeue_all(messages: list[AbstractIncomingMessage]) -> None:
    """Back to the queue, unsettled, in one frame: the consumer holds nothing else on its channel."""
    await max(messages, key=lambda m: m.delivery_tag or 0).nack(multiple=True, requeue=True)


async def _ack_all(messages: list[AbstractIncomingMessage]) -> None:
    """One frame for the batch: every earlier delivery on this channel is settled already,
    because the queue's single worker settles in delivery order."""
    await max(messages, key=lambda m: m.delivery_tag or 0).ack(multiple=True)  # consumed: always tagged


def _decode(message: AbstractIncomingMessage) -> Envelope:
    return Envelope.from_rabbitmq(dict(message.headers or {}), message.content_type, message.body)


def _scrubbed_body(body: bytes, scrub: Scrub) -> bytes:
    """A message body through `scrub`: as JSON when it is JSON, else as text, else as it is."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return body
    try:
        value = json.loads(text)
    except ValueError:
        return str(scrub(text)).encode()
    clean = scrub(value)
    return body if clean == value else json.dumps(clean, separators=(",", ":"), ensure_ascii=False).encode()


def _to_message(envelope: Envelope) -> aio_pika.Message:
    ce = envelope.to_rabbitmq()
    return aio_pika.Message(
        body=ce.body,
        headers=dict(ce.headers),
        content_type=ce.content_type,
        message_id=envelope.id,  # the dead-letter tools find messages by it
        type=envelope.type,  # readable without parsing the body (retries, dead letters, the management UI)
        correlation_id=envelope.correlation_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def _ids(message: AbstractIncomingMessage) -> dict[str, str | None]:
    """What follows an event through the logs, for a failure's line: its id, correlation id and
    trace id (read from the CloudEvent; a message that is no CloudEvent has its AMQP ids only)."""
    try:
        envelope = _decode(message)
    except PoisonMessage:
        return {"event_id": message.message_id, "correlation_id": message.correlation_id or message.message_id,
                "trace_id": None}
    return {"event_id": envelope.id, "correlation_id": envelope.correlation_id or envelope.id,
            "trace_id": trace_id_of(envelope.traceparent)}


def _dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    dead_at = headers.get(DEAD_AT)
    try:
        envelope = Envelope.from_rabbitmq(dict(headers), message.content_type, message.body)
        data = envelope.data
    except PoisonMessage:
        data = {"raw": message.body[:2000].decode("utf-8", "replace")}
    reason = headers.get(DEAD_REASON) or "delivery limit reached (consumers died before acking)"
    return DeadLetter(
        event_id=message.message_id or "",
        event_type=message.type or str(headers.get("ce-type", "unknown")),
        reason=str(reason),
        attempts=_count(headers.get(ATTEMPT, headers.get("x-delivery-count", 1))),
        dead_at=datetime.fromisoformat(str(dead_at)) if dead_at else datetime.now(UTC),
        data=data,
    )


def _count(value: FieldValue) -> int:
    """A count in a header: an attempt (ours) or the broker's x-delivery-count."""
    if isinstance(value, (int, float, str, bytes, bytearray, Decimal)):
        return int(value)
    raise TypeError(f"not a count: {value!r}")
