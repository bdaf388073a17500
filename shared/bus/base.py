"""What every transport promises.

- `publish` returns only when the broker has every message (confirms), or raises.
- `subscribe` declares one durable queue per consuming service, bound to exactly its keys, and
  calls the processor for each message; a message is acked only after the processor returns.
- A processor that raises is retried with back-off up to `RetryPolicy.max_attempts`, then the
  message goes to the service's dead-letter queue; `PoisonMessage` goes there at once.
- A processor that raises because the database is unreachable (shared/outages.py) is not failing:
  consumption pauses, the same messages are offered again with a capped back-off until it succeeds
  or fails otherwise, and no attempt is counted (no retry hop, no dead letter). A transport whose
  broker takes back what a consumer holds too long (RabbitMQ's consumer timeout) is handed the
  messages back after `hold_seconds` of pause and stops delivering until the database answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar

from shared.envelope import Envelope, PoisonMessage
from shared.logging import get_logger
from shared.metrics import CONSUMER_PAUSED
from shared.outages import is_unreachable

log = get_logger("shared.bus")

# Handles envelopes that arrived together, in one transaction; raises if any of them fails.
Processor = Callable[[list[Envelope]], Awaitable[object]]
M = TypeVar("M")

# Between offers of the same messages while the database is away: quick first (a restart takes
# seconds), capped so that its return is noticed within that long.
PAUSE_FIRST_SECONDS = 0.2
PAUSE_MAX_SECONDS = 5.0
# How long a paused consumer holds the messages it was given before it hands them back to the queue:
# RabbitMQ closes the channel of a consumer holding a delivery past its consumer_timeout (30 min by
# default), so this stays well below it (OIA_CONSUMER_HOLD_SECONDS).
HOLD_SECONDS = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    delays_ms: tuple[int, ...] = (200, 1_000, 5_000, 30_000)

    def delay_ms(self, attempt: int) -> int:
        """Back-off before attempt `attempt + 1`, after `attempt` failures (1-based)."""
        return self.delays_ms[min(attempt, len(self.delays_ms)) - 1]


@dataclass(frozen=True)
class DeadLetter:
    event_id: str
    event_type: str
    reason: str
    attempts: int
    dead_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


Scrub = Callable[[Any], Any]  # a JSON value (or a text) in, the same with what must go removed


class Bus(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def is_ready(self) -> bool: ...
    async def publish(self, envelopes: list[Envelope]) -> None: ...
    # `service`: the `service` label of the queue's metrics (the queue's name when not a service's).
    async def subscribe(self, queue: str, binding_keys: list[str], processor: Processor, *,
                        service: str | None = None) -> None: ...
    async def queue_depth(self, queue: str) -> int: ...
    async def dead_letters(self, queue: str) -> list[DeadLetter]: ...
    async def dead_letter_count(self, queue: str) -> int: ...  # without reading them (a gauge's)
    async def replay_dead_letters(self, queue: str, event_ids: list[str] | None = None) -> int: ...
    # Each dead letter's content (its JSON, or its text) passed through `scrub`; those it changed are
    # put back changed (behind the others), so that a replay brings back nothing `scrub` removed.
    async def scrub_dead_letters(self, queue: str, scrub: Scrub) -> int: ...
    # Take no more messages from the queue, finish the batch in hand (within `grace_seconds`); what
    # was received but not handled goes back to the queue unacknowledged.
    async def stop_consuming(self, queue: str, grace_seconds: float) -> None: ...


@lru_cache(maxsize=4096)
def topic_matches(binding_key: str, routing_key: str) -> bool:
    """RabbitMQ topic semantics: `*` is exactly one word, `#` zero or more words."""
    pattern, words = binding_key.split("."), routing_key.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(words)
        if pattern[i] == "#":
            return any(match(i + 1, k) for k in range(j, len(words) + 1))
        return j < len(words) and pattern[i] in ("*", words[j]) and match(i + 1, j + 1)

    return match(0, 0)


class Batcher(Generic[M]):
    """Feeds a processor with the messages that arrived together, and settles each message.

    Batches form by themselves: the worker takes one message and whatever else is already waiting
    (up to `max_batch`), so light traffic is handled one by one at once and heavy traffic in
    batches. A failed batch is retried message by message, so failures stay per message.
    One worker per queue settles messages strictly in delivery order, which lets a transport
    acknowledge a whole batch at once; more throughput comes from more replicas.
    """

    def __init__(self, name: str, processor: Processor, *, decode: Callable[[M], Envelope],
                 settle_ok: Callable[[list[M]], Awaitable[None]],
                 settle_failed: Callable[[M, Exception], Awaitable[None]],
                 max_batch: int = 100, service: str | None = None,
                 pause_delivery: Callable[[], Awaitable[None]] | None = None,
                 give_back: Callable[[list[M]], Awaitable[None]] | None = None,
                 resume_delivery: Callable[[], Awaitable[None]] | None = None,
                 hold_seconds: float = HOLD_SECONDS) -> None:
        self.name = name
        self.service = service or name
        self.processor = processor
        self.decode = decode
        self.settle_ok = settle_ok
        self.settle_failed = settle_failed
        self.max_batch = max_batch
        # A long pause hands every held message back: the broker stops delivering (pause_delivery),
        # takes them back unsettled (give_back), and delivers again once the database answers (resume_delivery).
        self.pause_delivery = pause_delivery
        self.give_back = give_back
        self.resume_delivery = resume_delivery
        self.hold_seconds = hold_seconds
        self.waiting: asyncio.Queue[M] = asyncio.Queue()
        self.in_flight = 0
        self._in_hand: list[M] = []  # the batch's messages not yet settled
        # The messages in hand went back to the queue: none of them is settled here, their redelivery is.
        self._handed_back = False
        self._closing = False
        self._draining = False
        self._workers = [asyncio.create_task(self._work(), name=f"consumer:{name}")]

    def put(self, message: M) -> None:
        self.waiting.put_nowait(message)

    @property
    def handed_back(self) -> bool:
        """True from a hand-back until deliveries are taken again: what still arrives meanwhile goes back too."""
        return self._handed_back

    @property
    def depth(self) -> int:
        return self.waiting.qsize() + self.in_flight

    def stop_taking(self) -> None:
        """Start no other batch after the one in hand (what arrives meanwhile waits, unsettled)."""
        self._draining = True

    async def drain(self, grace_seconds: float) -> None:
        """Finish the batch in hand (for at most `grace_seconds`), start no other, and close. What
        waits here unsettled stays so: the transport gives it back to the queue."""
        self.stop_taking()
        # Without a batch in hand the worker waits for a message: nothing to finish, close at once.
        # (From taking a message to counting it in flight there is no await, so this cannot race.)
        if self.in_flight:
            await asyncio.wait(self._workers, timeout=grace_seconds)
        await self.close()

    async def close(self) -> None:
        # Flag first: the database driver can turn the cancellation into an ordinary error that
        # the loop below would treat as a failed batch and carry on.
        self._closing = True
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        while not (self._closing or self._draining):
            batch = [await self.waiting.get()]
            while len(batch) < self.max_batch and not self.waiting.empty():
                batch.append(self.waiting.get_nowait())
            self.in_flight += len(batch)
            try:
                await self._process(batch)
            except Exception:
                if self._closing:
                    return
                # Settling itself failed (broker gone): the unsettled messages are redelivered.
                log.exception("could not settle messages", queue=self.name, messages=len(batch))
            finally:
                self._in_hand = []
                self.in_flight -= len(batch)
                for _ in batch:
                    self.waiting.task_done()
            if self._handed_back:
                await self._take_again()

    async def _process(self, batch: list[M]) -> None:
        decoded: list[tuple[M, Envelope]] = []
        for message in batch:
            try:
                decoded.append((message, self.decode(message)))
            except PoisonMessage as exc:
                await self.settle_failed(message, exc)
        # What a hand-back would give back: the messages of the batch not settled yet.
        self._in_hand = [message for message, _ in decoded]
        if not decoded:
            return
        try:
            await self._offer([envelope for _, envelope in decoded])
        except Exception as exc:
            if self._closing:
                raise  # shutting down: not the handler's failure; unsettled, the messages come back
            if self._handed_back:
                self._failed_after_hand_back(exc)
                return
            if len(decoded) == 1:
                await self.settle_failed(decoded[0][0], exc)
                return
            log.info("batch failed; handling its messages one by one", queue=self.name, messages=len(decoded))
            for message, envelope in decoded:
                if self._handed_back:
                    return  # the rest went back with it: their redelivery handles them
                try:
                    await self._offer([envelope])
                except Exception as one_exc:
                    if self._handed_back:
                        self._failed_after_hand_back(one_exc)
                        return
                    await self.settle_failed(message, one_exc)
                else:
                    if self._handed_back:
                        return  # this one too went back, with the rest
                    await self.settle_ok([message])
                self._in_hand.remove(message)  # settled: not this consumer's to give back any more
            return
        if not self._handed_back:
            await self.settle_ok([message for message, _ in decoded])

    def _failed_after_hand_back(self, exc: Exception) -> None:
        """Not settled here: the messages are back in the queue, and their redelivery counts the failure."""
        log.warning("handler failed on messages handed back; their redelivery will retry them", queue=self.name,
                    exc_info=exc)

    async def _offer(self, envelopes: list[Envelope]) -> None:
        """Run the processor; while it fails only because the database is unreachable, pause and
        offer the same envelopes again. Unsettled meanwhile, the messages stay this consumer's for at
        most `hold_seconds`; then they are handed back, and the envelopes, offered on, only probe for
        the database's return (an offer that succeeds then commits effects the inbox keeps once: the
        redelivered copies are duplicates)."""
        delay, paused_at = PAUSE_FIRST_SECONDS, None
        try:
            while True:
                try:
                    await self.processor(envelopes)
                    return
                except Exception as exc:
                    if self._closing or not is_unreachable(exc):
                        raise
                    if paused_at is None:
                        paused_at = time.monotonic()
                        CONSUMER_PAUSED.labels(self.service).set(1)
                        log.warning("database unreachable; consumption paused", queue=self.name,
                                    messages=len(envelopes), error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, PAUSE_MAX_SECONDS)
                if not self._handed_back and time.monotonic() - paused_at >= self.hold_seconds:
                    await self._hand_back()
        finally:
            if paused_at is not None:
                CONSUMER_PAUSED.labels(self.service).set(0)
                log.warning("consumption resumed", queue=self.name,
                            paused_seconds=round(time.monotonic() - paused_at, 3))

    async def _hand_back(self) -> None:
        """Give every held message back to the queue, unsettled, and take no more until the database answers:
        no delivery stays with a paused consumer long enough for the broker to close its channel."""
        if self.pause_delivery is None or self.give_back is None:
            return  # a transport that takes nothing back (the memory bus): holding costs nothing
        try:
            await self.pause_delivery()
        except Exception:  # the broker is gone: with the channel, the unsettled messages went back
            log.warning("could not stop the deliveries; the broker has let them go", queue=self.name,
                        exc_info=True)
        # After the pause's round trip nothing more arrives: what waits here was delivered before it.
        held = list(self._in_hand)
        while not self.waiting.empty():
            held.append(self.waiting.get_nowait())
            self.waiting.task_done()
        self._handed_back = True
        if held:
            try:
                await self.give_back(held)
            except Exception:  # as above: a closed channel gave them back already
                log.warning("could not give the messages back; the broker has them back", queue=self.name,
                            exc_info=True)
        log.warning("consumer paused long; its messages handed back to the queue", queue=self.name,
                    messages=len(held), hold_seconds=self.hold_seconds)

    async def _take_again(self) -> None:
        """The database answers again: take deliveries again (their first ones are the messages handed back)."""
        delay = PAUSE_FIRST_SECONDS
        while not (self._closing or self._draining) and self.resume_delivery is not None:
            try:
                await self.resume_delivery()
            except Exception:  # the broker away (or refusing): without a consumer nothing is handled, so retry
                log.warning("could not take deliveries again; retrying", queue=self.name, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, PAUSE_MAX_SECONDS)
                continue
            log.warning("deliveries taken again", queue=self.name)
            break
        self._handed_back = False
