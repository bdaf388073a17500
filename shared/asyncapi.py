"""The AsyncAPI 3.0 document of a service, generated from what it declares it publishes and reads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _message(event_type: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().split("\n")[0] or event_type,
        "contentType": "application/cloudevents+json",
        "payload": model.model_json_schema(ref_template="#/components/schemas/{model}"),
    }


def asyncapi_document(service: str, title: str, sends: dict[str, type[BaseModel]],
                      receives: dict[str, type[BaseModel]], exchange: str) -> dict[str, Any]:
    """Channels are event types (the routing keys on the topic exchange); the service sends what
    it publishes and receives what it subscribes to, each with the payload schema it uses."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for action, models in (("send", sends), ("receive", receives)):
        for event_type, model in sorted(models.items()):
            channel_id = event_type.replace(".", "_")
            message = _message(event_type, model)
            channels.setdefault(channel_id, {"address": event_type, "messages": {}})
            channels[channel_id]["messages"][f"{action}_{channel_id}"] = message
            operations[f"{action}_{channel_id}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{action}_{channel_id}"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": f"{title} — events", "version": "0.1.0",
                 "description": f"What {service} publishes and reads on the `{exchange}` topic exchange. "
                                "Every message is a CloudEvents 1.0 document whose `type` is the routing key."},
        "defaultContentType": "application/cloudevents+json",
        "servers": {"rabbitmq": {"host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0-9-1"}},
        "channels": channels,
        "operations": operations,
    }
