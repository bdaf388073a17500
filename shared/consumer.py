"""What a service listens to: handlers registered per event type, run inside a unit of work."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

from opentelemetry.trace import Span, SpanKind
from pydantic import BaseModel
from structlog.contextvars import bound_contextvars

from shared.audit import ACTOR_KEY
from shared.envelope import Envelope, EventRegistry
from shared.inbox import claim
from shared.logging import get_logger
from shared.metrics import EVENTS_CONSUMED, HANDLER_LATENCY
from shared.tracing import context_of, span
from shared.uow import UnitOfWork

log = get_logger("shared.consumer")

E = TypeVar("E", bound=BaseModel)
# (event, its envelope, the unit of work, the service's context built at bootstrap)
Handler = Callable[[E, Envelope, UnitOfWork, Any], Awaitable[None]]


class Subscriptions:
    """A service's handler registry. `models` is the consumer's own view of the events it reads."""

    def __init__(self, models: EventRegistry) -> None:
        self.models = models
        self._handlers: dict[str, list[Handler[BaseModel]]] = {}

    def on(self, event_type: str) -> Callable[[Handler[E]], Handler[E]]:
        self.models.model_for(event_type)  # refuse a handler for an event we have no model of

        def register(handler: Handler[E]) -> Handler[E]:
            # It is given what `models` parses `event_type` into, which is the E it declares.
            self._handlers.setdefault(event_type, []).append(cast(Handler[BaseModel], handler))
            return handler

        return register

    def merged(self, other: Subscriptions) -> Subscriptions:
        """Both registries' models and handlers in a new one (a service's own, and the platform's)."""
        both = Subscriptions(self.models.merged(other.models))
        for registry in (self, other):
            for event_type, handlers in registry._handlers.items():
                both._handlers.setdefault(event_type, []).extend(handlers)
        return both

    @property
    def binding_keys(self) -> list[str]:
        return sorted(self._handlers)

    def handlers_for(self, event_type: str) -> list[Handler[BaseModel]]:
        return self._handlers.get(event_type, [])


def _event_context(envelope: Envelope) -> AbstractContextManager[None]:
    """Log lines written while an event is handled carry its ids; what its handlers change is
    recorded as the event's doing (shared/audit.py), tied to the request that caused it by the
    correlation id."""
    return bound_contextvars(event_id=envelope.id, event_type=envelope.type,
                             correlation_id=envelope.correlation_id or envelope.id,
                             **{ACTOR_KEY: f"event {envelope.type}"[:120]})


def _consumer_span(consumer: str, envelope: Envelope) -> AbstractContextManager[Span]:
    """The handling of one event, a CONSUMER span in the trace the event carries: its handlers'
    log lines carry that trace id, and the events they say (shared/uow.py) carry it on."""
    return span(f"process {envelope.type}", consumer, kind=SpanKind.CONSUMER,
                parent=context_of(envelope.traceparent, envelope.tracestate),
                attributes={"messaging.system": "rabbitmq", "messaging.message.id": envelope.id,
                            "messaging.operation.type": "process"})


class Dispatcher:
    """Turns delivered envelopes into committed effects: inbox rows + handlers, one transaction.

    The transports hand over whatever arrived together (one envelope when traffic is light);
    if the batch fails they call again with each envelope alone, so one bad event never holds
    back the others and retries and dead letters stay per event.
    """

    def __init__(self, consumer: str, subscriptions: Subscriptions, uow_factory: Callable[[], UnitOfWork],
                 context: Callable[[], object] = lambda: None, on_committed: Callable[[], None] = lambda: None):
        self.consumer = consumer
        self.context = context
        self.subscriptions = subscriptions
        self.uow_factory = uow_factory
        self.on_committed = on_committed

    async def __call__(self, envelopes: list[Envelope]) -> list[bool]:
        """For each envelope: True if handled now, False if it was a duplicate. Raises if a handler fails."""
        started = time.perf_counter()
        payloads = [self.subscriptions.models.parse(e) for e in envelopes]  # PoisonMessage if invalid
        context = self.context()
        async with self.uow_factory() as uow:
            fresh = await claim(uow.session, self.consumer, envelopes)
            outcomes = []
            for envelope, payload in zip(envelopes, payloads, strict=True):
                outcomes.append(envelope.id in fresh)
                if not outcomes[-1]:
                    continue
                fresh.discard(envelope.id)  # the same event twice in one batch runs once
                with _event_context(envelope), _consumer_span(self.consumer, envelope):
                    for handler in self.subscriptions.handlers_for(envelope.type):
                        await handler(payload, envelope, uow, context)
            await uow.commit()
        if any(outcomes):
            self.on_committed()
        elapsed = time.perf_counter() - started
        for envelope, handled in zip(envelopes, outcomes, strict=True):
            EVENTS_CONSUMED.labels(self.consumer, envelope.type, "handled" if handled else "duplicate").inc()
            if handled:
                HANDLER_LATENCY.labels(self.consumer, envelope.type).observe(elapsed)
            else:
                with _event_context(envelope), _consumer_span(self.consumer, envelope):
                    log.info("duplicate event ignored")
        return outcomes
