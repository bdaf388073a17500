"""Grants' composition root."""

from pathlib import Path

from fastapi import FastAPI

from services.grants.events import publishes
from services.grants.models import GrantsTable
from services.grants.settings import GrantsSettings
from services.grants.subscriptions import subscriptions
from shared.app import create_service_app
from shared.runtime import ServiceRuntime, ServiceSpec

spec = ServiceSpec(
    name="grants",
    title="Diplomacity — grants",
    description="EU funding calls, the application pipeline and deadline reminders.",
    settings_cls=GrantsSettings,
    metadata=GrantsTable.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    publishes=publishes,
    subscriptions=subscriptions,
)


def create_app(settings: GrantsSettings | None = None) -> FastAPI:
    return create_service_app(ServiceRuntime(spec, settings or GrantsSettings()))
