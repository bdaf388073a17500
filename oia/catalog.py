"""The services this deployment knows, by name."""

import importlib
from typing import Any

from shared.asyncapi import Participant, asyncapi_document
from shared.runtime import ServiceSpec

SERVICES = ("partners", "travel", "grants", "notifications")


def spec_of(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of: {', '.join(SERVICES)}")
    spec: ServiceSpec = importlib.import_module(f"services.{name}.main").spec
    return spec


def system_asyncapi(exchange: str) -> dict[str, Any]:
    """One AsyncAPI document for the whole system: every service's channels, operations and messages."""
    return asyncapi_document(
        "Diplomacity — events",
        f"What {', '.join(SERVICES)} publish and read on the `{exchange}` topic exchange.",
        [Participant.of(spec_of(name)) for name in SERVICES], exchange)
