"""What every transport promises.

- `publish` returns only when the broker has every message (confirms), or raises.
- `subscribe` declares one durable queue per consuming service, bound to exactly its keys, and
  calls the processor for each message; a message is acked only after the processor returns.
- A processor that raises is retried with back-off up to `RetryPolicy.max_attempts`, then the
  message goes to the service's dead-letter queue; `PoisonMessage` goes there at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol

from shared.envelope import Envelope

if TYPE_CHECKING:
    from shared.settings import ServiceSettings

Processor = Callable[[Envelope], Awaitable[Any]]


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
    data: dict = field(default_factory=dict)


class Bus(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def is_ready(self) -> bool: ...
    async def publish(self, envelopes: list[Envelope]) -> None: ...
    async def subscribe(self, queue: str, binding_keys: list[str], processor: Processor) -> None: ...
    async def queue_depth(self, queue: str) -> int: ...
    async def dead_letters(self, queue: str) -> list[DeadLetter]: ...
    async def replay_dead_letters(self, queue: str, event_ids: list[str] | None = None) -> int: ...


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


def make_bus(settings: "ServiceSettings") -> Bus:
    policy = RetryPolicy(settings.max_attempts, tuple(settings.retry_delays_ms))
    if settings.bus == "memory":
        from shared.bus.memory import MemoryBus

        return MemoryBus(policy)
    from shared.bus.amqp import AmqpBus

    return AmqpBus(settings.amqp_url, settings.exchange, policy, prefetch=settings.prefetch)
