"""The event bus: one interface, two transports (in-memory and RabbitMQ)."""

from shared.bus.base import Bus, DeadLetter, Processor, RetryPolicy, make_bus

__all__ = ["Bus", "DeadLetter", "Processor", "RetryPolicy", "make_bus"]
