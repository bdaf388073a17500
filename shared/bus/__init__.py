"""The event bus: one interface (base.py), two transports (memory.py, amqp.py), and the factory that
picks one. The factory lives here, above both, so no transport module and the interface import each other
in a circle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.bus.base import Bus, DeadLetter, Processor, RetryPolicy

if TYPE_CHECKING:
    from shared.settings import ServiceSettings

__all__ = ["Bus", "DeadLetter", "Processor", "RetryPolicy", "make_bus"]


def make_bus(settings: ServiceSettings) -> Bus:
    policy = RetryPolicy(settings.max_attempts, tuple(settings.retry_delays_ms))
    if settings.bus == "memory":
        from shared.bus.memory import MemoryBus  # aio-pika is not loaded where it is not used

        return MemoryBus(policy)
    from shared.bus.amqp import AmqpBus

    return AmqpBus(settings.amqp_url, settings.exchange, policy, prefetch=settings.prefetch,
                   hold_seconds=settings.consumer_hold_seconds)
