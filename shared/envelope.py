"""The event envelope (CloudEvents 1.0) and the registry of typed, versioned payloads.

Payload models belong to the services: a producer registers what it publishes, a consumer
registers its own model of what it reads. This module only knows how to wrap and unwrap them.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from cloudevents.core.bindings import rabbitmq as ce_rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ValidationError

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")
_JSON = JSONFormat()

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
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    correlation_id: str | None = None

    def to_rabbitmq(self) -> ce_rabbitmq.RabbitMQMessage:
        attributes: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": "application/json",
        }
        if self.subject:
            attributes["subject"] = self.subject
        if self.correlation_id:
            # CloudEvents extension names are lower-case alphanumerics.
            attributes["correlationid"] = self.correlation_id
        return ce_rabbitmq.to_binary(CloudEvent(attributes, self.data), _JSON)

    @classmethod
    def from_rabbitmq(cls, headers: dict[str, Any], content_type: str | None, body: bytes) -> "Envelope":
        str_headers = {
            k: v.decode() if isinstance(v, bytes) else str(v)
            for k, v in headers.items()
            if k.lower().startswith("ce-")
        }
        try:
            event = ce_rabbitmq.from_rabbitmq(
                ce_rabbitmq.RabbitMQMessage(str_headers, content_type, body), _JSON, CloudEvent
            )
        except Exception as exc:  # the SDK raises several unrelated types for bad input
            raise PoisonMessage(f"not a CloudEvent: {exc}") from exc
        attrs = event.get_attributes()
        data = event.get_data()
        if isinstance(data, (bytes, str)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise PoisonMessage(f"data is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise PoisonMessage("data must be a JSON object")
        return cls(
            type=attrs["type"],
            source=attrs["source"],
            data=data,
            subject=attrs.get("subject"),
            id=attrs["id"],
            time=attrs.get("time") or datetime.now(timezone.utc),
            correlation_id=attrs.get("correlationid"),
        )


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
            raise PoisonMessage(f"{envelope.type} payload invalid: {exc}") from exc


def event_type_of(payload: BaseModel) -> str:
    try:
        return type(payload).__event_type__  # type: ignore[attr-defined]
    except AttributeError:
        raise UnknownEventType(f"{type(payload).__name__} is not a registered event") from None
