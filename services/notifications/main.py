"""Notifications' composition root."""

from pathlib import Path

from fastapi import FastAPI

from services.notifications import demo
from services.notifications.api import router
from services.notifications.delivery import DeliveryWorker
from services.notifications.events import publishes
from services.notifications.models import NotificationsTable
from services.notifications.settings import NotificationsSettings
from services.notifications.subscriptions import subscriptions
from shared.app import create_service_app
from shared.runtime import ServiceRuntime, ServiceSpec

spec = ServiceSpec(
    name="notifications",
    title="Diplomacity — notifications",
    description="Email, Slack, Teams and webhook alerts, and the in-app feed.",
    settings_cls=NotificationsSettings,
    metadata=NotificationsTable.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    publishes=publishes,
    subscriptions=subscriptions,
    routers=[router],
    workers=[DeliveryWorker],
    demo=demo.seed,
)


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    return create_service_app(ServiceRuntime(spec, settings or NotificationsSettings()))
