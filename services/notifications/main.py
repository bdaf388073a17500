"""Notifications' composition root."""

from pathlib import Path

from fastapi import FastAPI

from services.notifications import demo
from services.notifications.api import router
from services.notifications.channels import Registry
from services.notifications.channels.email import Mailer
from services.notifications.channels.slack import Slack
from services.notifications.channels.teams import Teams
from services.notifications.channels.webhook import Webhook
from services.notifications.delivery import DeliveryWorker
from services.notifications.directory import Directory
from services.notifications.events import publishes
from services.notifications.models import NotificationsTable
from services.notifications.privacy import HOLDINGS, PERSONAL
from services.notifications.service import FeedBell, NotificationsContext, deliveries, feed, subjects
from services.notifications.settings import NotificationsSettings
from services.notifications.subscriptions import subscriptions
from shared.app import create_service_app
from shared.db import make_engine
from shared.retention import Rule
from shared.runtime import ServiceRuntime, ServiceSpec
from shared.scheduled import Retention
from shared.subjects import SubjectRights


def delivery_worker(runtime: ServiceRuntime) -> DeliveryWorker:
    settings = runtime.settings_as(NotificationsSettings)
    # Webhooks connect only to checked public addresses (a redirect is not followed anywhere).
    client = settings.outbound_guard().client(follow_redirects=False)
    paced = dict(timeout=settings.webhook_timeout_seconds, max_wait=settings.delivery_lease_seconds / 3)
    channels: Registry = {
        "email": Mailer(settings),
        "slack": Slack(client, rate=settings.slack_rate_per_second, **paced),
        "teams": Teams(client, rate=settings.teams_rate_per_second, **paced),
        "webhook": Webhook(client, rate=None, **paced),
    }
    # Its own connections: sending must not wait behind HTTP requests for a pooled one.
    return DeliveryWorker(settings, make_engine(settings.database_url, pool_size=2), runtime.uow, channels,
                          Directory(), release=client.aclose)


def bootstrap(runtime: ServiceRuntime) -> NotificationsContext:
    [worker] = [w for w in runtime.workers if isinstance(w, DeliveryWorker)]
    outbound = runtime.settings_as(NotificationsSettings).outbound_guard()
    return NotificationsContext(directory=worker.directory, outbound=outbound, wake=worker.wake, feed_bell=FeedBell())


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
    workers=[delivery_worker, Retention],
    demo=demo.seed,
    bootstrap=bootstrap,
    gauges=deliveries.refresh_gauges,
    personal=PERSONAL,
    holdings=HOLDINGS,
    subject=SubjectRights(subjects.export_subject, subjects.erase_subject),
    retention=[Rule("delivery log", "delivery_log_retention_days", deliveries.forget_deliveries),
               Rule("feed items", "feed_retention_days", feed.forget_feed_items)],
)


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    return create_service_app(ServiceRuntime(spec, settings or NotificationsSettings()))
