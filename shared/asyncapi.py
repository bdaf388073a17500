"""AsyncAPI 3.1 documents generated from what services declare they publish and read: one service's,
or the whole system's when given every service."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from shared.envelope import STRUCTURED

if TYPE_CHECKING:
    from shared.runtime import ServiceSpec

AMQP_BINDING = "0.3.0"
CLOUDEVENTS_SPEC = "https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md"

# The structured-mode CloudEvent that `Envelope.to_rabbitmq` writes; each message narrows `type` and `data`.
CLOUD_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "A CloudEvents 1.0 event in structured content mode: the attributes and the payload (`data`) "
                   "in one JSON document.",
    "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "minLength": 1, "description": "Unique per event; consumers skip an id they "
                                                               "have already handled."},
        "source": {"type": "string", "format": "uri-reference", "description": "`/<producing service>`"},
        "type": {"type": "string", "description": "The event type, which is also the routing key."},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"const": "application/json"},
        "subject": {"type": "string", "description": "What the event is about within the source, "
                                                     "such as `calls/<id>`."},
        "correlationid": {"type": "string", "description": "Extension attribute: the `X-Correlation-ID` of the "
                                                           "request that caused the event."},
        "data": {"type": "object"},
    },
}

CLOUD_EVENT_TRAIT: dict[str, Any] = {
    "contentType": STRUCTURED,
    "correlationId": {"$ref": "#/components/correlationIds/correlationid"},
    "description": "Structured content mode: the AMQP body is the whole CloudEvent and no CloudEvents attribute "
                   "travels as an application header. The AMQP properties repeat some for tools that do not "
                   "read bodies: `content_type`, `message_id` (the event's `id`), `type` and `correlation_id`. "
                   "Consumers also read binary mode (`ce-` headers, the payload alone as the body).",
    "externalDocs": {"description": "CloudEvents 1.0", "url": CLOUDEVENTS_SPEC},
}

# An example event's envelope: fixed values so the document is the same on every request.
_EXAMPLE_TIME = "2027-03-01T09:00:00Z"
_EXAMPLE_CORRELATION = "3f0c2a47-5d1e-4b7a-9c35-0d9e8b6a2f14"


@dataclass(frozen=True)
class Participant:
    """One service as the document sees it: the event types it sends and the models it reads them with."""

    name: str
    title: str
    sends: Mapping[str, type[BaseModel]]
    receives: Mapping[str, type[BaseModel]]

    @classmethod
    def of(cls, spec: ServiceSpec) -> Participant:
        """A consumer receives the types it subscribes to, in its own view of them."""
        subs = spec.subscriptions
        return cls(spec.name, spec.title,
                   sends={t: spec.publishes.model_for(t) for t in spec.publishes.types},
                   receives={t: subs.models.model_for(t) for t in subs.binding_keys})


class _Schemas:
    """`components.schemas`: pydantic's `$defs` of every payload hoisted into one namespace. A name two
    different models share is qualified by the participant whose model came second."""

    def __init__(self) -> None:
        self.named: dict[str, Any] = {"CloudEvent": CLOUD_EVENT}

    def add(self, model: type[BaseModel], qualifier: str, mode: JsonSchemaMode) -> str:
        """The component name of `model`, after adding it and the models it nests."""
        schema = model.model_json_schema(ref_template="#/$defs/{model}", mode=mode)
        found: dict[str, Any] = schema.pop("$defs", {})
        if schema.get("$ref") is None:  # a recursive model is itself one of its $defs, the top a $ref to it
            found[model.__name__] = schema
        names = {name: name for name in found}
        while True:
            rewritten = {names[name]: _rewrite(body, names) for name, body in found.items()}
            clashes = [name for name in found
                       if self.named.get(names[name], rewritten[names[name]]) != rewritten[names[name]]]
            if not clashes:
                break
            for name in clashes:
                if names[name] != name:
                    raise ValueError(f"two different schemas named {names[name]!r}")
                names[name] = f"{qualifier}_{name}"
        self.named.update(rewritten)
        top = schema.get("$ref", f"#/$defs/{model.__name__}").rsplit("/", 1)[1]
        return names[top]


def _rewrite(node: Any, names: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: (f"#/components/schemas/{names[value.rsplit('/', 1)[1]]}" if key == "$ref" else
                      _rewrite(value, names)) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite(item, names) for item in node]
    return node


def _channel_id(event_type: str) -> str:
    return event_type.replace(".", "_")  # channel and operation ids allow no dots


def _message(event_type: str, model: type[BaseModel], schema_name: str, examples: list[Any], source: str,
             summary: str) -> dict[str, Any]:
    doc = (model.__doc__ or "").strip()
    return {
        "name": event_type,
        "title": model.__name__,
        "summary": doc.split("\n")[0] or summary,
        **({"description": doc} if "\n" in doc else {}),
        "traits": [{"$ref": "#/components/messageTraits/cloudEvent"}],
        "payload": {"allOf": [
            {"$ref": "#/components/schemas/CloudEvent"},
            {"type": "object", "properties": {"type": {"const": event_type},
                                              "data": {"$ref": f"#/components/schemas/{schema_name}"}}},
        ]},
        "bindings": {"amqp": {"messageType": event_type, "bindingVersion": AMQP_BINDING}},
        **({"examples": [{"name": f"{_channel_id(event_type)}_{n}", "payload": {
            "specversion": "1.0", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event_type}#{n}")),
            "source": source, "type": event_type, "time": _EXAMPLE_TIME, "datacontenttype": "application/json",
            "correlationid": _EXAMPLE_CORRELATION, "data": data}} for n, data in enumerate(examples, 1)]}
           if examples else {}),
    }


def asyncapi_document(title: str, description: str, participants: Sequence[Participant],
                      exchange: str) -> dict[str, Any]:
    """Channels are event types (the routing keys on the topic exchange), each with one message: the
    sender's model when a participant sends it, else the first receiver's own view. Each participant
    sends what it publishes and receives what it subscribes to."""
    schemas = _Schemas()
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    # The platform's events (a person's data) are sent by every service: the first is the owner.
    senders: dict[str, Participant] = {}
    for p in participants:
        for t in p.sends:
            senders.setdefault(t, p)
    for event_type in sorted({t for p in participants for t in (*p.sends, *p.receives)}):
        channel_id = _channel_id(event_type)
        owner = senders.get(event_type) or next(p for p in participants if event_type in p.receives)
        model = owner.sends.get(event_type) or owner.receives[event_type]
        # A sender's model as it writes it (decimals as strings, say), a receiver's as it accepts it.
        schema_name = schemas.add(model, owner.name, "serialization" if event_type in senders else "validation")
        summary = event_type if event_type in senders else f"What {owner.name} reads of it; senders may add fields."
        messages[channel_id] = _message(event_type, model, schema_name, schemas.named[schema_name].get("examples", []),
                                        f"/{owner.name}", summary)
        readers = ", ".join(p.name for p in participants if event_type in p.receives)
        channels[channel_id] = {
            "address": event_type,
            "description": " ".join([*([f"Sent by {', '.join(p.name for p in participants if event_type in p.sends)}."]
                                       if event_type in senders else []),
                                     *([f"Read by {readers}."] if readers else [])]),
            "messages": {channel_id: {"$ref": f"#/components/messages/{channel_id}"}},
            "bindings": {"amqp": {"is": "routingKey", "bindingVersion": AMQP_BINDING, "exchange": {
                "name": exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}}},
        }
    for p in participants:
        for action, types in (("send", p.sends), ("receive", p.receives)):
            for event_type in sorted(types):
                channel_id = _channel_id(event_type)
                operations[f"{p.name}_{action}_{channel_id}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "summary": f"{p.name} {'publishes' if action == 'send' else 'reads'} {event_type}.",
                    "tags": [{"name": p.name}],
                    "messages": [{"$ref": f"#/channels/{channel_id}/messages/{channel_id}"}],
                    # Persistent, and dropped when no queue is bound for it; a consumer acknowledges
                    # only after its transaction commits.
                    "bindings": {"amqp": ({"deliveryMode": 2, "mandatory": False} if action == "send" else
                                          {"ack": True}) | {"bindingVersion": AMQP_BINDING}},
                }
    return {
        "asyncapi": "3.1.0",
        "info": {"title": title, "version": "0.1.0",
                 "description": f"{description} Every message is a CloudEvents 1.0 event (structured mode) whose "
                                "`type` is its routing key.",
                 "tags": [{"name": p.name, "description": p.title} for p in participants]},
        "defaultContentType": STRUCTURED,
        "servers": {"rabbitmq": {"host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
                                 "description": "The broker of the compose deployment (`AMQP_URL`)."}},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas.named,
            "messages": messages,
            "messageTraits": {"cloudEvent": CLOUD_EVENT_TRAIT},
            "correlationIds": {"correlationid": {
                "description": "The request that caused the event (`X-Correlation-ID`), carried through every "
                               "event it led to.",
                "location": "$message.payload#/correlationid"}},
        },
    }


def service_asyncapi(spec: ServiceSpec, exchange: str) -> dict[str, Any]:
    """One service's document: what it publishes, and what it reads in its own view."""
    return asyncapi_document(f"{spec.title} — events",
                             f"What {spec.name} publishes and reads on the `{exchange}` topic exchange.",
                             [Participant.of(spec)], exchange)
