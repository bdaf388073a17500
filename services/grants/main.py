"""Grants' composition root."""

from pathlib import Path

from fastapi import FastAPI

from services.grants import demo, portal, service
from services.grants.api import router
from services.grants.events import publishes
from services.grants.models import GrantsTable
from services.grants.scheduled import ReminderScheduler
from services.grants.settings import GrantsSettings
from services.grants.subscriptions import subscriptions
from shared.app import create_service_app
from shared.places import ensure_index
from shared.runtime import ServiceRuntime, ServiceSpec

spec = ServiceSpec(
    name="grants",
    title="Diplomacity — grants",
    description="EU funding calls, the application pipeline, consortium eligibility and deadline reminders.",
    settings_cls=GrantsSettings,
    metadata=GrantsTable.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    publishes=publishes,
    subscriptions=subscriptions,
    routers=[router],
    prepare=lambda settings: ensure_index(settings.gazetteer_path),
    workers=[ReminderScheduler],
    streamed_bodies={"/calls/import": portal.MAX_BYTES},
    demo=demo.seed,
    # The gazetteer and the city applying: a service that cannot place its city refuses to start.
    bootstrap=lambda runtime: service.context_for(runtime.settings),
)


def create_app(settings: GrantsSettings | None = None) -> FastAPI:
    return create_service_app(ServiceRuntime(spec, settings or GrantsSettings()))
