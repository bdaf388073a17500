"""The event envelope (CloudEvents 1.0) and the registry of typed, versioned payloads.

Payload models belong to the services: a producer registers what it publishes, a consumer
registers its own model of what it reads. This module only knows how to wrap and unwrap them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from cloudevents.core.bindings import rabbitmq as ce_rabbitmq
from pydantic import BaseModel, ValidationError

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")
STRUCTURED = "application/cloudevents+json"

P = TypeVar("P", bound=type[BaseModel])


class UnknownEventType(LookupError):
    pass


class PoisonMessage(ValueError):
    """A message that can never be handled (malformed envelope or payload): dead-letter it now."""


@dataclass(frozen=True)
class Envelope:
    """One event as it travels: CloudEvents attributes plus the payload as plain JSON data."""

    type: str
    source: str
    data: dict[str, Any]
    subject: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = None
    # W3C trace context of what caused the event (the CloudEvents distributed-tracing extension):
    # its consumers continue that trace (shared/tracing.py).
    traceparent: str | None = None
    tracestate: str | None = None
    # The data already serialised (the outbox stores it so); saves re-encoding on the hot path.
    body: bytes | None = field(default=None, compare=False, repr=False)

    def to_rabbitmq(self) -> ce_rabbitmq.RabbitMQMessage:
        """Structured content mode: the whole CloudEvent as one JSON document in the body.

        Structured rather than binary mode because AMQP header tables are costly to encode and
        decode per message, and the relay and consumers do this for every event. Written out
        directly, splicing in the stored data, for the same reason; the unit tests check that
        the SDK's own `from_structured` reads it back.
        """
        attributes = {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
        }
        if self.subject:
            attributes["subject"] = self.subject
        if self.correlation_id:
            attributes["correlationid"] = self.correlation_id  # extension names are lower-case alphanumerics
        if self.traceparent:
            attributes["traceparent"] = self.traceparent
            if self.tracestate:
                attributes["tracestate"] = self.tracestate
        data = self.body if self.body is not None else json.dumps(self.data, separators=(",", ":")).encode()
        body = json.dumps(attributes, separators=(",", ":")).encode()[:-1] + b',"data":' + data + b"}"
        return ce_rabbitmq.RabbitMQMessage(headers={}, content_type=STRUCTURED, body=body)

    @classmethod
    def from_rabbitmq(cls, headers: Mapping[str, object], content_type: str | None, body: bytes) -> Envelope:
        """Read a structured-mode message (ours) or a binary-mode one (`ce-` headers), such as
        other CloudEvents producers send. Anything that is not a CloudEvent 1.0 whose data is a
        JSON object is poison."""
        if (content_type or "").startswith("application/cloudevents"):
            try:
                attrs = json.loads(body)
            except ValueError as exc:
                raise PoisonMessage(f"not a CloudEvent: body is not JSON: {exc}") from exc
            if not isinstance(attrs, dict):
                raise PoisonMessage("not a CloudEvent: body is not a JSON object")
            data = attrs.pop("data", None)
        else:
            attrs = {k.lower()[3:]: (v.decode() if isinstance(v, bytes) else str(v))
                     for k, v in headers.items() if k.lower().startswith("ce-")}
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise PoisonMessage(f"data is not JSON: {exc}") from exc
        missing = [name for name in ("specversion", "id", "source", "type") if not attrs.get(name)]
        if missing:
            raise PoisonMessage(f"not a CloudEvent: missing {', '.join(missing)}")
        if attrs["specversion"] != "1.0":
            raise PoisonMessage(f"unsupported CloudEvents specversion {attrs['specversion']!r}")
        if not isinstance(data, dict):
            raise PoisonMessage("data must be a JSON object")
        try:
            time = datetime.fromisoformat(attrs["time"]) if attrs.get("time") else datetime.now(UTC)
        except (TypeError, ValueError) as exc:
            raise PoisonMessage(f"time is not an RFC 3339 timestamp: {attrs['time']!r}") from exc
        if time.tzinfo is None:
            raise PoisonMessage("time must carry an offset")
        return cls(type=str(attrs["type"]), source=str(attrs["source"]), data=data, subject=attrs.get("subject"),
                   id=str(attrs["id"]), time=time, correlation_id=attrs.get("correlationid"),
                   traceparent=_text(attrs.get("traceparent")), tracestate=_text(attrs.get("tracestate")))


def _text(value: object) -> str | None:
    """An optional string attribute; anything else (a producer's mistake) is left out, never fatal."""
    return value if isinstance(value, str) and value else None


class EventRegistry:
    """Maps an event type (`<producer>.<aggregate>.<verb_past_tense>.v<N>`) to its payload model."""

    def __init__(self) -> None:
        self._models: dict[str, type[BaseModel]] = {}

    def event(self, event_type: str) -> Callable[[P], P]:
        if not EVENT_TYPE.match(event_type):
            raise ValueError(
                f"event type {event_type!r} must look like <producer>.<aggregate>.<verb_past_tense>.v<N>"
            )

        def register(model: P) -> P:
            if event_type in self._models:
                raise ValueError(f"event type {event_type!r} registered twice")
            self._models[event_type] = model
            model.__event_type__ = event_type  # type: ignore[attr-defined]
            return model

        return register

    @property
    def types(self) -> list[str]:
        return sorted(self._models)

    def merged(self, other: EventRegistry) -> EventRegistry:
        """Both registries' events in a new one; an event type in both is refused."""
        both = EventRegistry()
        for registry in (self, other):
            for event_type, model in registry._models.items():
                both.event(event_type)(model)
        return both

    def model_for(self, event_type: str) -> type[BaseModel]:
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def parse(self, envelope: Envelope) -> BaseModel:
        """The typed payload; a payload that does not validate is poison, not a retry."""
        try:
            return self.model_for(envelope.type).model_validate(envelope.data)
        except UnknownEventType as exc:
            raise PoisonMessage(f"no model for event type {envelope.type!r}") from exc
        except ValidationError as exc:
            # Which fields, and why, but never their values: a reason is kept with the dead letter
            # and logged, and a payload can quote a person (the errors' own text would repeat it).
            errors = "; ".join(f"{'.'.join(str(part) for part in error['loc']) or 'data'}: {error['msg']}"
                               for error in exc.errors(include_input=False, include_url=False))
            raise PoisonMessage(f"{envelope.type} payload invalid: {errors}") from None


def event_type_of(payload: BaseModel) -> str:
    event_type = getattr(type(payload), "__event_type__", None)  # set by EventRegistry.event
    if not isinstance(event_type, str):
        raise UnknownEventType(f"{type(payload).__name__} is not a registered event")
    return event_type
