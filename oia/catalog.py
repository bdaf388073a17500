"""The services this deployment knows, by name."""

import importlib

from shared.runtime import ServiceSpec

SERVICES = ("partners", "travel", "grants", "notifications")


def spec_of(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of: {', '.join(SERVICES)}")
    spec: ServiceSpec = importlib.import_module(f"services.{name}.main").spec
    return spec
