"""Partners' composition root."""

from pathlib import Path

from fastapi import FastAPI

from services.partners.events import publishes
from services.partners.models import PartnersTable
from services.partners.settings import PartnersSettings
from services.partners.subscriptions import subscriptions
from shared.app import create_service_app
from shared.runtime import ServiceRuntime, ServiceSpec

spec = ServiceSpec(
    name="partners",
    title="Diplomacity — partners",
    description="Partner cities, organisations, people, anniversaries and relationship health.",
    settings_cls=PartnersSettings,
    metadata=PartnersTable.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    publishes=publishes,
    subscriptions=subscriptions,
)


def create_app(settings: PartnersSettings | None = None) -> FastAPI:
    return create_service_app(ServiceRuntime(spec, settings or PartnersSettings()))
